//! # cutty-examples
//!
//! The reference server (`cutty serve`) and the admin CLI, one binary called `cutty`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`cli`] | the command line: `serve` and the operator commands |
//! | [`config`] | the contract's environment variables and the `CUTTY_CONFIG` TOML file |
//! | [`metrics`] | the Prometheus counters of `/metrics` |
//! | [`server`] | `cutty serve`: logging, CORS, timeouts, `/metrics`, graceful shutdown |
//! | [`wiring`] | stores and settings from the configuration; the facade they make |
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod metrics;
pub mod server;
pub mod wiring;
