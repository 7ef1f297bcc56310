//! # cutty-axum
//!
//! Thin axum/tower adapter: authentication and rate-limit layers, extractors, the contract's routes and error responses. Filled by the cutty-axum issue.
//!
//! **Status: skeleton.** This crate is laid down by the workspace issue so the dependency
//! graph is fixed; its contents arrive with the issue named above. Nothing here is usable yet.
#![forbid(unsafe_code)]
