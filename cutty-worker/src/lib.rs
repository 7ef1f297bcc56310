//! # cutty-worker
//!
//! Cloudflare Workers host (workers-rs) on D1, KV and Durable Objects. Filled by a later issue.
//!
//! **Status: skeleton.** This crate is laid down by the workspace issue so the dependency
//! graph is fixed; its contents arrive with the issue named above. Nothing here is usable yet.
#![forbid(unsafe_code)]
