//! # cutty-actix
//!
//! Thin actix-web adapter with the same surface as cutty-axum. Filled by a later issue.
//!
//! **Status: skeleton.** This crate is laid down by the workspace issue so the dependency
//! graph is fixed; its contents arrive with the issue named above. Nothing here is usable yet.
#![forbid(unsafe_code)]
