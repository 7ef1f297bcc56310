#![doc = include_str!("../README.md")]
//!
//! ## Modules
//! | module | what it holds |
//! |---|---|
//! | [`error`] | [`ApiError`] and the contract's JSON error |
//! | [`request_id`] | [`RequestIdLayer`], [`RequestId`], [`CatchPanicLayer`] |
//! | [`extract`] | JSON, query and path extractors with contract rejections |
//! | [`gate`] | [`GateLayer`]: client IP, block list, authentication, rate limits |
//! | [`auth`] | extractors for the authenticated caller |
//! | [`files`] | the file and list routes ([`files::file_routes`]) |
//! | [`work`] | [`TokioPasswordWork`] |
//! | [`openapi`](mod@openapi) | [`openapi()`](fn@openapi) and the operation table |
//! | [`docs`] | the `/docs` HTML renderer |
//! | [`state`] | [`CuttyState`] |
#![forbid(unsafe_code)]

pub mod auth;
pub mod docs;
pub mod error;
pub mod extract;
pub mod files;
pub mod gate;
pub mod openapi;
pub mod request_id;
mod routes;
pub mod state;
pub mod work;

pub use error::ApiError;
pub use gate::{BlockListRefreshTask, ClientIp, GateLayer, GateOutcome, spawn_block_list_refresh};
pub use openapi::openapi;
pub use request_id::{CatchPanicLayer, RequestId, RequestIdLayer};
pub use routes::{router, routes};
pub use state::CuttyState;
pub use work::{DEFAULT_NICENESS, HashingPriority, TokioPasswordWork};
