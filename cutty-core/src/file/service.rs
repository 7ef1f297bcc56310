//! [`FileService`]: uploads, listings, downloads, deletion and list processing, with the
//! authorisation every host shares.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;

use uuid::Uuid;

use super::format::FileFormat;
use super::list::{ListLimits, ListOptions, process_csv};
use super::meta::{Download, FileList, FileMeta, Sha256Digest};
use super::name::{FileName, derived_name};
use super::store::{BlobStore, FileStore};
use crate::api_key::{Permission, PermissionSet};
use crate::clock::Clock;
use crate::error::{Error, ErrorCode};

/// The default upload limit: 10 MiB (`CUTTY_MAX_UPLOAD_BYTES`).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

/// File settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileConfig {
    /// Largest accepted upload in bytes; more is `413 FILE_004`. Default
    /// [`DEFAULT_MAX_UPLOAD_BYTES`] (the contract's 10 MiB).
    pub max_upload_bytes: u64,
    /// Bounds on list processing (see [`ListLimits`]).
    pub list: ListLimits,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            list: ListLimits::default(),
        }
    }
}

/// Who is acting on files: a user, with the permissions the request carries.
///
/// A user authenticated by JWT holds every permission on its own files
/// ([`FileActor::user`]); an API key holds only the permissions it was created with
/// ([`FileActor::api_key`]). Either way only the user's own files are reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileActor {
    user_id: i64,
    permissions: PermissionSet,
}

impl FileActor {
    /// A user authenticated by JWT: every file permission on its own files.
    pub const fn user(user_id: i64) -> Self {
        Self {
            user_id,
            permissions: PermissionSet::ALL,
        }
    }

    /// A request made with an API key of `owner_id` holding `permissions` (already limited
    /// to what the owner holds).
    pub const fn api_key(owner_id: i64, permissions: PermissionSet) -> Self {
        Self {
            user_id: owner_id,
            permissions,
        }
    }

    /// The user whose files are reachable.
    pub const fn user_id(&self) -> i64 {
        self.user_id
    }

    /// The permissions held.
    pub const fn permissions(&self) -> PermissionSet {
        self.permissions
    }

    /// `API_005` unless `p` is held.
    pub fn require(&self, p: Permission) -> Result<(), Error> {
        self.permissions.require(p)
    }
}

impl From<&crate::app::Caller> for FileActor {
    /// A JWT caller holds every file permission; an API key the permissions it was
    /// created with, limited to its owner's. Either acts on the user's own files.
    fn from(caller: &crate::app::Caller) -> Self {
        match caller {
            crate::app::Caller::User(u) => Self::user(u.user().id),
            crate::app::Caller::ApiKey(k) => {
                Self::api_key(k.owner().id, k.principal().permissions())
            }
        }
    }
}

/// An upload in progress: the adapter [`push`](Self::push)es the body as it arrives, then
/// hands it to [`FileService::finish_upload`]. The size limit is enforced on every chunk, and
/// a binary format whose signature the first bytes contradict is refused at once, so
/// neither needs the whole body.
pub struct Upload {
    owner: i64,
    filename: FileName,
    declared: Option<FileFormat>,
    claimed: Option<FileFormat>,
    limit: u64,
    bytes: Vec<u8>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("owner", &self.owner)
            .field("filename", &self.filename)
            .field("declared", &self.declared)
            .field("limit", &self.limit)
            .field("received", &self.bytes.len())
            .finish()
    }
}

/// How many leading bytes the early signature check looks at (the longest signature).
const HEAD: usize = 8;

impl Upload {
    /// Takes the next chunk of the body. `413 FILE_004` once the total exceeds the limit
    /// (nothing of that chunk is kept); `415 FILE_005` when the first bytes contradict the
    /// claimed binary format.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let total = (self.bytes.len() as u64).saturating_add(chunk.len() as u64);
        if total > self.limit {
            return Err(Error::Code(ErrorCode::FileTooLarge));
        }
        let checked_before = self.bytes.len() >= HEAD;
        self.bytes.extend_from_slice(chunk);
        if !checked_before && let Some(claimed) = self.claimed {
            let head = self.bytes.get(..HEAD).unwrap_or(&self.bytes);
            if claimed.rules_out(head) {
                return Err(Error::Code(ErrorCode::InvalidFileFormat));
            }
        }
        Ok(())
    }

    /// Checks a length announced before the body (`Content-Length`): `413 FILE_004` if it
    /// exceeds the limit, so the body need not be read; else reserves room for it.
    pub fn expect_len(&mut self, announced: u64) -> Result<(), Error> {
        if announced > self.limit {
            return Err(Error::Code(ErrorCode::FileTooLarge));
        }
        let more = usize::try_from(announced)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.bytes.len());
        self.bytes.reserve(more);
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether nothing has been received yet.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The upload limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The validated file name.
    pub fn filename(&self) -> &FileName {
        &self.filename
    }
}

/// `POST /api/lists/process`: `{file_id, dedupe?, columns?, split_rows?}`. Unknown fields
/// are refused (a misspelt option must not be silently ignored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessListRequest {
    /// The CSV file to process (a uuid of one of the caller's files).
    pub file_id: String,
    /// Drop duplicate rows (whole rows, after column selection).
    #[serde(default)]
    pub dedupe: Option<bool>,
    /// Keep only these columns, by header name, in this order.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// At most this many rows per output file (≥ 1).
    #[serde(default)]
    pub split_rows: Option<u64>,
}

impl ProcessListRequest {
    /// The source id and the options, validated: `REQ_001` naming `file_id`, `split_rows`
    /// or `columns`.
    pub fn validate(&self) -> Result<(Uuid, ListOptions), Error> {
        let id = Uuid::parse_str(&self.file_id)
            .map_err(|_| Error::invalid_field("file_id", "must be a file id"))?;
        let split_rows = match self.split_rows {
            None => None,
            Some(n) => Some(
                NonZeroU64::new(n)
                    .ok_or_else(|| Error::invalid_field("split_rows", "must be at least 1"))?,
            ),
        };
        let options = ListOptions {
            dedupe: self.dedupe.unwrap_or(false),
            columns: self.columns.clone(),
            split_rows,
        };
        options.validate()?;
        Ok((id, options))
    }
}

/// The answer to `POST /api/lists/process`:
/// `{"files":[metadata…],"rows_in":n,"rows_out":n,"malformed_rows":n}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessedList {
    /// The new CSV files, in order.
    pub files: Vec<FileMeta>,
    /// Rows read (after the header).
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Rows skipped for a wrong number of fields or invalid UTF-8.
    pub malformed_rows: u64,
    /// Rows skipped as duplicates (not part of the contract's JSON).
    #[serde(skip)]
    pub duplicate_rows: u64,
}

/// File operations on behalf of a [`FileActor`]. Every method checks the permission the
/// contract names, then reaches only the actor's own files: another user's file is
/// `404 FILE_002`, exactly like a file that does not exist.
///
/// Storage order keeps metadata authoritative: an upload writes the blob, then the metadata
/// (undoing the blob if that fails); a deletion removes the metadata, then the blob. A
/// failure between the two steps can leave an unreferenced blob behind, never a listed
/// file without bytes.
///
/// List processing runs on the calling task; its cost is bounded by the upload limit (a
/// 10 MiB CSV takes tens of milliseconds).
#[derive(Clone)]
pub struct FileService {
    files: Arc<dyn FileStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    config: FileConfig,
}

impl fmt::Debug for FileService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FileService {
    /// A service over a metadata store, a blob store and a clock (for `created_at`).
    pub fn new(
        files: Arc<dyn FileStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        config: FileConfig,
    ) -> Self {
        Self {
            files,
            blobs,
            clock,
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FileConfig {
        &self.config
    }

    /// Starts an upload (`files:write`): checks the permission (`API_005`), the file name
    /// (`REQ_001` on `filename`; `None` means none was given) and the declared
    /// `Content-Type` (`415 FILE_005`), before any of the body is read.
    pub fn start_upload(
        &self,
        actor: &FileActor,
        filename: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<Upload, Error> {
        actor.require(Permission::FilesWrite)?;
        let filename = FileName::new(
            filename.ok_or_else(|| Error::invalid_field("filename", "is required"))?,
        )?;
        let declared = FileFormat::parse_declared(content_type)?;
        let claimed = declared.or_else(|| {
            filename
                .extension()
                .and_then(|e| FileFormat::from_extension(&e))
        });
        Ok(Upload {
            owner: actor.user_id,
            filename,
            declared,
            claimed,
            limit: self.config.max_upload_bytes,
            bytes: Vec::new(),
        })
    }

    /// Completes an upload: decides the format from the declared type, the extension and
    /// the content (`415 FILE_005` on a mismatch), stores the bytes (`500 FILE_001` if that
    /// fails) and the metadata, and returns the metadata (`201`).
    pub async fn finish_upload(&self, upload: Upload) -> Result<FileMeta, Error> {
        let extension = upload.filename.extension();
        let format = FileFormat::resolve(upload.declared, extension.as_deref(), &upload.bytes)?;
        let meta = FileMeta {
            id: Uuid::new_v4(),
            user_id: upload.owner,
            filename: upload.filename.into_string(),
            content_type: format,
            size: upload.bytes.len() as u64,
            sha256: Sha256Digest::of(&upload.bytes),
            created_at: self.clock.now_unix_ms(),
        };
        self.store(&meta, &upload.bytes).await?;
        Ok(meta)
    }

    /// Uploads a whole body at once: [`start_upload`](Self::start_upload), one
    /// [`Upload::push`], [`finish_upload`](Self::finish_upload).
    pub async fn upload(
        &self,
        actor: &FileActor,
        filename: Option<&str>,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<FileMeta, Error> {
        let mut upload = self.start_upload(actor, filename, content_type)?;
        upload.push(bytes)?;
        self.finish_upload(upload).await
    }

    /// The actor's files, oldest first (`files:read`).
    pub async fn list(&self, actor: &FileActor) -> Result<FileList, Error> {
        actor.require(Permission::FilesRead)?;
        Ok(FileList {
            files: self.files.list(actor.user_id).await?,
        })
    }

    /// One file's metadata (`files:read`); `404 FILE_002` for an unknown or malformed id or
    /// another user's file.
    pub async fn metadata(&self, actor: &FileActor, id: &str) -> Result<FileMeta, Error> {
        actor.require(Permission::FilesRead)?;
        self.own_file(actor, parse_id(id)?).await
    }

    /// One file's metadata and bytes (`files:read`); `404 FILE_002` as for
    /// [`metadata`](Self::metadata), and also when the file is deleted meanwhile.
    pub async fn download(&self, actor: &FileActor, id: &str) -> Result<Download, Error> {
        let meta = self.metadata(actor, id).await?;
        let bytes = self
            .blobs
            .get(meta.id)
            .await?
            .ok_or(Error::Code(ErrorCode::FileNotFound))?;
        Ok(Download { meta, bytes })
    }

    /// Deletes one of the actor's files (`files:write`); `404 FILE_002` as for
    /// [`metadata`](Self::metadata). The file is gone once the metadata is; a failure to
    /// remove the bytes afterwards leaves only an unreachable blob and is not reported.
    pub async fn delete(&self, actor: &FileActor, id: &str) -> Result<(), Error> {
        actor.require(Permission::FilesWrite)?;
        let id = parse_id(id)?;
        if !self.files.delete(actor.user_id, id).await? {
            return Err(Error::Code(ErrorCode::FileNotFound));
        }
        let _unreachable_if_failed = self.blobs.delete(id).await;
        Ok(())
    }

    /// Processes one of the actor's CSV files into new CSV files (`list:process`).
    ///
    /// `REQ_001` for invalid options or columns, `404 FILE_002` for an unknown file or
    /// another user's, `415 FILE_005` when the file is not `text/csv` or `text/plain`. The
    /// outputs are named `{stem}-processed.csv`, or `{stem}-part-{i}.csv` (`i` from 1,
    /// zero-padded) when split, and are stored like uploads; if storing one fails, those
    /// already stored are removed again.
    pub async fn process_list(
        &self,
        actor: &FileActor,
        request: &ProcessListRequest,
    ) -> Result<ProcessedList, Error> {
        actor.require(Permission::ListProcess)?;
        let (id, options) = request.validate()?;
        let source = self.own_file(actor, id).await?;
        if !matches!(source.content_type, FileFormat::Csv | FileFormat::PlainText) {
            return Err(Error::Code(ErrorCode::InvalidFileFormat));
        }
        let bytes = self
            .blobs
            .get(id)
            .await?
            .ok_or(Error::Code(ErrorCode::FileNotFound))?;
        let output = process_csv(bytes.as_slice(), &options, &self.config.list)?;
        drop(bytes);

        // A stored name was valid when stored; should it not be now, derive from a stand-in.
        let source_name =
            FileName::new(&source.filename).unwrap_or_else(|_| derived_name_fallback());
        let count = output.files.len();
        let width = count.to_string().len();
        let created_at = self.clock.now_unix_ms();
        let mut stored = Vec::with_capacity(count);
        for (i, content) in output.files.iter().enumerate() {
            let suffix = if count == 1 {
                "-processed.csv".to_owned()
            } else {
                format!("-part-{:0width$}.csv", i + 1)
            };
            let meta = FileMeta {
                id: Uuid::new_v4(),
                user_id: actor.user_id,
                filename: derived_name(&source_name, &suffix).into_string(),
                content_type: FileFormat::Csv,
                size: content.len() as u64,
                sha256: Sha256Digest::of(content),
                created_at,
            };
            if let Err(e) = self.store(&meta, content).await {
                for done in &stored {
                    self.undo(done).await;
                }
                return Err(e);
            }
            stored.push(meta);
        }
        Ok(ProcessedList {
            files: stored,
            rows_in: output.stats.rows_in,
            rows_out: output.stats.rows_out,
            malformed_rows: output.stats.malformed_rows,
            duplicate_rows: output.stats.duplicate_rows,
        })
    }

    async fn own_file(&self, actor: &FileActor, id: Uuid) -> Result<FileMeta, Error> {
        self.files
            .get(actor.user_id, id)
            .await?
            .ok_or(Error::Code(ErrorCode::FileNotFound))
    }

    async fn store(&self, meta: &FileMeta, bytes: &[u8]) -> Result<(), Error> {
        self.blobs
            .put(meta.id, bytes)
            .await
            .map_err(Error::FileStorage)?;
        if let Err(e) = self.files.insert(meta).await {
            let _unreachable_if_failed = self.blobs.delete(meta.id).await;
            return Err(e.into());
        }
        Ok(())
    }

    async fn undo(&self, meta: &FileMeta) {
        if let Ok(true) = self.files.delete(meta.user_id, meta.id).await {
            let _unreachable_if_failed = self.blobs.delete(meta.id).await;
        }
    }
}

fn derived_name_fallback() -> FileName {
    FileName::new("list.csv").unwrap_or_else(|_| unreachable!("a valid literal name"))
}

/// A path id: a uuid, else `404 FILE_002` (no file has that id).
fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| Error::Code(ErrorCode::FileNotFound))
}
