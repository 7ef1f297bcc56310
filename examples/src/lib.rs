//! # cutty-examples
//!
//! The reference server (`cutty serve`) and the admin CLI, one binary called `cutty`. Filled
//! by the cutty-axum/reference-server issue.
//!
//! **Status: skeleton.** This crate is laid down by the workspace issue so the dependency
//! graph is fixed; its contents arrive with the issue named above. Nothing here is usable yet.
#![forbid(unsafe_code)]
