//! Where password hashing runs.

use zeroize::Zeroizing;

use crate::error::Error;
use crate::password::{PasswordHasher, Verification};

/// Runs PBKDF2 and co. somewhere that is not the async executor. Adapters give a bounded
/// pool (`spawn_blocking` behind a semaphore); the CLI and tests run inline.
///
/// Contract for implementations:
/// * `verify` maps a stored hash the hasher refuses ([`PasswordError`](crate::password::PasswordError))
///   to [`Error::InvalidCredentials`]; any other `Err` means the work could not be done
///   (pool shut down) and is answered as such. (The facade checks stored hashes before
///   calling `verify`, so that mapping is a second line of defence.)
/// * `dummy_verify` must spend the time [`PasswordHasher::dummy_verify`] spends.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait PasswordWork: Send + Sync {
    /// [`PasswordHasher::hash`] of `password`.
    async fn hash(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
    ) -> Result<String, Error>;

    /// [`PasswordHasher::verify`] of `password` against `encoded`.
    async fn verify(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
        encoded: String,
    ) -> Result<Verification, Error>;

    /// [`PasswordHasher::dummy_verify`]: the cost of a verification, for unknown users.
    async fn dummy_verify(&self, hasher: &PasswordHasher, password: Zeroizing<String>);
}

/// Runs the work on the caller's thread (CLI, tests, single-threaded hosts).
#[derive(Debug, Clone, Copy, Default)]
pub struct InlinePasswordWork;

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl PasswordWork for InlinePasswordWork {
    async fn hash(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
    ) -> Result<String, Error> {
        Ok(hasher.hash(&password))
    }

    async fn verify(
        &self,
        hasher: &PasswordHasher,
        password: Zeroizing<String>,
        encoded: String,
    ) -> Result<Verification, Error> {
        hasher
            .verify(&password, &encoded)
            .map_err(|_| Error::InvalidCredentials)
    }

    async fn dummy_verify(&self, hasher: &PasswordHasher, password: Zeroizing<String>) {
        let _ = hasher.dummy_verify(&password);
    }
}
