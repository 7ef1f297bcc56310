//! Shared helpers for Cutty's criterion benchmarks. The benchmarks themselves live in
//! `benches/benches/*.rs`; see `BENCHMARKS.md` at the repository root for the numbers and the
//! commands that reproduce them.
#![forbid(unsafe_code)]
