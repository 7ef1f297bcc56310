//! `http-bench-system MODE`: [`cutty_benches::http_server`] with the system allocator.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    cutty_benches::http_server::serve(&mode).await
}
