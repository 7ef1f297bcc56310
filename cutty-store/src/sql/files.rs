//! `FileStore` on SQL: one row per file, every statement scoped to the owner. Same statement
//! text on SQLite and PostgreSQL.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::file::{FileFormat, FileMeta, Sha256Digest};

const COLUMNS: &str = "id, user_id, filename, content_type, size, sha256, created_at";

pub(crate) const INSERT: &str = "INSERT INTO files \
     (id, user_id, filename, content_type, size, sha256, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) fn q_get() -> String {
    format!("SELECT {COLUMNS} FROM files WHERE id = $1 AND user_id = $2")
}
pub(crate) fn q_list() -> String {
    format!("SELECT {COLUMNS} FROM files WHERE user_id = $1 ORDER BY created_at, id")
}
pub(crate) const DELETE: &str = "DELETE FROM files WHERE id = $1 AND user_id = $2";

fn bad(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::SchemaMismatch, what)
}

/// The size as stored (`BIGINT`); a size beyond `i64::MAX` cannot be stored.
pub(crate) fn size_column(meta: &FileMeta) -> Result<i64, StoreError> {
    i64::try_from(meta.size)
        .map_err(|_| StoreError::new(StoreErrorKind::Constraint, "files.size out of range"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct FileRow {
    id: String,
    user_id: i64,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
    created_at: i64,
}

impl TryFrom<FileRow> for FileMeta {
    type Error = StoreError;
    fn try_from(r: FileRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id.parse().map_err(|_| bad("files.id is not a uuid"))?,
            user_id: r.user_id,
            filename: r.filename,
            content_type: FileFormat::from_mime(&r.content_type)
                .ok_or_else(|| bad("files.content_type is not an accepted format"))?,
            size: u64::try_from(r.size).map_err(|_| bad("files.size is negative"))?,
            sha256: Sha256Digest::from_hex(&r.sha256)
                .ok_or_else(|| bad("files.sha256 is not 64 hex digits"))?,
            created_at: r.created_at,
        })
    }
}

/// Implements `FileStore` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_file_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::file::FileStore for $store {
            async fn insert(
                &self,
                meta: &cutty_core::file::FileMeta,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::files::INSERT)
                    .bind(meta.id.to_string())
                    .bind(meta.user_id)
                    .bind(&meta.filename)
                    .bind(meta.content_type.mime())
                    .bind(crate::sql::files::size_column(meta)?)
                    .bind(meta.sha256.to_hex())
                    .bind(meta.created_at)
                    .execute(&self.pool);
                crate::sql::bounded("files.insert", self.options.operation_timeout, fut).await?;
                Ok(())
            }

            async fn get(
                &self,
                owner: i64,
                id: uuid::Uuid,
            ) -> Result<Option<cutty_core::file::FileMeta>, cutty_core::error::StoreError> {
                let q = crate::sql::files::q_get();
                let fut = sqlx::query_as::<_, crate::sql::files::FileRow>(&q)
                    .bind(id.to_string())
                    .bind(owner)
                    .fetch_optional(&self.pool);
                crate::sql::bounded("files.get", self.options.operation_timeout, fut)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn list(
                &self,
                owner: i64,
            ) -> Result<Vec<cutty_core::file::FileMeta>, cutty_core::error::StoreError> {
                let q = crate::sql::files::q_list();
                let fut = sqlx::query_as::<_, crate::sql::files::FileRow>(&q)
                    .bind(owner)
                    .fetch_all(&self.pool);
                crate::sql::bounded("files.list", self.options.operation_timeout, fut)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn delete(
                &self,
                owner: i64,
                id: uuid::Uuid,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::files::DELETE)
                    .bind(id.to_string())
                    .bind(owner)
                    .execute(&self.pool);
                let done = crate::sql::bounded("files.delete", self.options.operation_timeout, fut)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_file_store;
