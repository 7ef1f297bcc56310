//! `http-bench MODE`: [`cutty_benches::http_server`] with mimalloc as the global allocator.
#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    cutty_benches::http_server::serve(&mode).await
}
