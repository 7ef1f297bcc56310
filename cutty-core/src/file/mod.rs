//! Files and CSV lists: validated uploads, per-user storage, and streaming list processing.
//!
//! * [`FileName`] — the client's file name, validated (no paths, no control or
//!   bidirectional-override characters, 1–255 characters, any script); `REQ_001` otherwise.
//! * [`FileFormat`] — the accepted formats: `text/csv`, `text/plain`, `application/json`,
//!   `application/pdf`, `image/png`, `image/jpeg`. The declared `Content-Type` (or, when none
//!   is declared, the file name's extension) must agree with the content — UTF-8 text for
//!   the text formats, a parseable document for JSON, the signature for PDF, PNG and JPEG;
//!   a mismatch or an unknown type is `415 FILE_005`. See [`FileFormat::resolve`].
//! * [`FileMeta`] — the stored metadata; serialises as the contract's
//!   `{id, filename, content_type, size, sha256, created_at}`.
//! * [`FileStore`] (metadata, scoped to an owner: another user's file does not exist for you)
//!   and [`BlobStore`] (bytes under the file's uuid) — the two storage traits, with in-memory
//!   implementations ([`MemoryFileStore`], [`MemoryBlobStore`]) and a [`conformance`] suite
//!   behind the `testing` feature.
//! * [`process_csv`] / [`process_csv_into`] — de-duplicate, select columns and split a CSV in
//!   one streaming pass; the rules are in [`list`].
//! * [`FileService`] — what the hosts call: permission checks (`files:read`, `files:write`,
//!   `list:process`; `API_005` when an API key lacks one), ownership, the upload limit
//!   (`413 FILE_004`, enforced chunk by chunk through [`Upload`]), storage, and list
//!   processing.
//!
//! # Decisions where the contract is silent
//! * **Formats**: the six above; aliases and "no information" types are in
//!   [`FileFormat::parse_declared`]. Empty files are accepted as CSV or plain text only.
//! * **Permission before existence**: an API key without the route's permission gets
//!   `403 API_005` whether or not the file exists, so it learns nothing about ids.
//! * **Ids**: a path id that is not a uuid is `404 FILE_002` (no such file); a `file_id` in
//!   the list request's body that is not a uuid is `400 REQ_001` (an invalid field).
//! * **Lists** are processed from `text/csv` or `text/plain` files only (`415 FILE_005`
//!   otherwise); unknown request fields are refused (`REQ_001`), so a misspelt option is
//!   never silently ignored; `dedupe` compares rows after column selection; outputs are
//!   new `text/csv` files owned by the caller, named `{stem}-processed.csv` or
//!   `{stem}-part-{i}.csv`, all with the same `created_at`; see [`list`] for the rest.
//! * **Storage failures**: writing an upload's bytes fails with `500 FILE_001`; a metadata
//!   store failure keeps its `DB_00x` code.
//!
//! # Upload flow
//! ```
//! # use std::sync::Arc;
//! # use cutty_core::clock::FakeClock;
//! use cutty_core::file::{FileActor, FileConfig, FileService, MemoryBlobStore, MemoryFileStore};
//!
//! # futures::executor::block_on(async {
//! let files = FileService::new(
//!     Arc::new(MemoryFileStore::new()),
//!     Arc::new(MemoryBlobStore::new()),
//!     Arc::new(FakeClock::at_unix_ms(1_700_000_000_000)),
//!     FileConfig::default(),
//! );
//! let me = FileActor::user(7);
//!
//! // The adapter checks name and type first, then feeds the body as it arrives.
//! let mut upload = files.start_upload(&me, Some("people.csv"), Some("text/csv"))?;
//! upload.push(b"email,name\n")?;
//! upload.push(b"ada@example.org,Ada\n")?;
//! let meta = files.finish_upload(upload).await?;
//! assert_eq!((meta.content_type.mime(), meta.size), ("text/csv", 31));
//!
//! // Another user cannot see it: 404 FILE_002, as for a file that does not exist.
//! let err = files.download(&FileActor::user(8), &meta.id.to_string()).await.unwrap_err();
//! assert_eq!(err.code().as_str(), "FILE_002");
//!
//! // Declared PNG, sent text: 415 FILE_005.
//! let err = files.upload(&me, Some("x.png"), Some("image/png"), b"hello").await.unwrap_err();
//! assert_eq!(err.code().as_str(), "FILE_005");
//! # Ok::<(), cutty_core::Error>(())
//! # }).unwrap();
//! ```

mod format;
pub mod list;
mod memory;
mod meta;
mod name;
mod service;
mod store;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;

pub use format::FileFormat;
pub use list::{
    InMemoryOutputs, ListError, ListLimits, ListOptions, ListOutput, ListStats, OutputFiles,
    process_csv, process_csv_into,
};
pub use memory::{MemoryBlobStore, MemoryFileStore};
pub use meta::{Download, FileList, FileMeta, Sha256Digest};
pub use name::{FileName, MAX_FILENAME_CHARS};
pub use service::{
    DEFAULT_MAX_UPLOAD_BYTES, FileActor, FileConfig, FileService, ProcessListRequest,
    ProcessedList, Upload,
};
pub use store::{BlobStore, FileStore};

#[cfg(test)]
mod tests;
