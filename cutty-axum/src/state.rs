//! [`CuttyState`]: the router's state, one shared [`Cutty`] facade.

use std::sync::Arc;

use axum::extract::FromRef;
use cutty_core::app::Cutty;

/// The state of [`router`](crate::router) and of the extractors that need the facade.
/// Cheap to clone.
///
/// To use the extractors in your own router with a bigger state, implement
/// `FromRef<YourState> for CuttyState`.
#[derive(Debug, Clone)]
pub struct CuttyState {
    cutty: Arc<Cutty>,
}

impl CuttyState {
    /// The state around a facade (`Cutty` or `Arc<Cutty>`).
    pub fn new(cutty: impl Into<Arc<Cutty>>) -> Self {
        Self {
            cutty: cutty.into(),
        }
    }

    /// The facade.
    pub fn cutty(&self) -> &Cutty {
        &self.cutty
    }

    /// The shared facade.
    pub fn cutty_arc(&self) -> &Arc<Cutty> {
        &self.cutty
    }
}

impl FromRef<CuttyState> for Arc<Cutty> {
    fn from_ref(state: &CuttyState) -> Self {
        Arc::clone(&state.cutty)
    }
}
