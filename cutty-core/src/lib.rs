//! # cutty-core
//!
//! The storage-agnostic heart of Cutty: Django-compatible password hashing, JWT issuance and
//! verification with refresh rotation and revocation, API keys, sliding-window rate limits,
//! brute-force lockout, client-IP resolution, security events, the contract's error codes,
//! and the traits every store implements.
//!
//! No I/O, no async runtime and no global state live here. Time comes from an injected
//! [`clock::Clock`]; storage comes through the async traits in each module.
//!
//! ## Modules
//! | module | what it holds |
//! |---|---|
//! | [`error`] | [`ErrorCode`] (the contract's table) and [`Error`] |
//! | [`clock`] | [`clock::Clock`], [`clock::SystemClock`], [`clock::FakeClock`] |
//! | [`password`] | Django-compatible hashing, verification and `must_update` |
//! | [`token`] | access/refresh JWTs, rotation, revocation and their store trait |
//! | [`api_key`] | `cutty_…` keys: generation, checksum, keyed hashing, permissions |
//! | [`auth_header`] | the `Authorization: Bearer …` header: a JWT or an API key |
//! | [`user`] | the user record and its store trait |
//! | [`rate_limit`] | sliding-window limits and the counter-store trait |
//! | [`lockout`] | brute-force lockout and progressive delay |
//! | [`ip_block`] | the admin block list of IPs and CIDR ranges |
//! | [`client_ip`] | trusted-proxy-aware client-IP resolution |
//! | [`event`] | security events, their sink and query traits |
//! | [`file`](mod@file) | uploads (names, formats, limits), file and blob store traits, CSV list processing |
//! | [`app`] | the facade: every contract operation over the modules above ([`app::Cutty`]) |
//!
//! ## Async convention
//! Store traits are `async` through [`async_trait`]. On native targets their futures are
//! `Send` (tokio hosts move them between threads); on `wasm32` (Cloudflare Workers, whose
//! runtime is single-threaded and whose JS handles are not `Send`) they are not. Every trait
//! is declared as:
//!
//! ```ignore
//! #[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
//! #[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
//! pub trait SomeStore { /* … */ }
//! ```
//!
//! Atomic operations (consume a refresh token, check-and-count a limit) are required
//! methods, never defaults that silently do something weaker.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod api_key;
pub mod app;
pub mod auth_header;
pub mod client_ip;
pub mod clock;
pub mod error;
pub mod event;
pub mod file;
pub mod ip_block;
pub mod lockout;
pub mod password;
mod prehashed;
pub mod rate_limit;
pub mod token;
pub mod user;

pub use error::{Error, ErrorCode, Result};

/// The future an `#[async_trait]` store method returns, spelled out, so that the forwarding
/// impls (`Arc<S>`, `&S`) on the request path can hand the inner store's boxed future on
/// as it is instead of boxing a future that only awaits it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type BoxedStoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
/// The future an `#[async_trait(?Send)]` store method returns (wasm32: no `Send`).
#[cfg(target_arch = "wasm32")]
pub(crate) type BoxedStoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;
