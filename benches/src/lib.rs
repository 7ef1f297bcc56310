//! Shared helpers for Cutty's benchmarks. The criterion benchmarks live in
//! `benches/benches/*.rs`, the HTTP benchmark server in [`http_server`]; see `BENCHMARKS.md`
//! at the repository root for the numbers and the commands that reproduce them.
#![forbid(unsafe_code)]

pub mod http_server;
