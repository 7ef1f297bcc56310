//! # cutty-store
//!
//! Real backends for the cutty-core store traits, each behind a feature: `memory`, `sqlite` (the embedded default), `postgres` and `redis`, with one conformance suite run against all of them. Filled by the cutty-store issue.
//!
//! **Status: skeleton.** This crate is laid down by the workspace issue so the dependency
//! graph is fixed; its contents arrive with the issue named above. Nothing here is usable yet.
#![forbid(unsafe_code)]
