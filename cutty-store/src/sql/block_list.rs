//! `BlockListStore` on SQL. Each change and the bump of the one-row version counter run in
//! one transaction, so a server that sees a new version also sees the change.

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::ip_block::BlockEntry;

pub(crate) const UPSERT: &str = "INSERT INTO blocked_ips (network, reason, created_at, expires_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (network) DO UPDATE SET reason = excluded.reason, \
     created_at = excluded.created_at, expires_at = excluded.expires_at";
pub(crate) const DELETE: &str = "DELETE FROM blocked_ips WHERE network = $1";
pub(crate) const PURGE: &str =
    "DELETE FROM blocked_ips WHERE expires_at IS NOT NULL AND expires_at <= $1";
pub(crate) const LIST: &str = "SELECT network, reason, created_at, expires_at FROM blocked_ips";
pub(crate) const BUMP: &str = "UPDATE blocked_ips_version SET version = version + 1 WHERE id = 1";
pub(crate) const VERSION: &str = "SELECT version FROM blocked_ips_version WHERE id = 1";

pub(crate) type Row = (String, String, i64, Option<i64>);

pub(crate) fn entries(rows: Vec<Row>) -> Result<Vec<BlockEntry>, StoreError> {
    rows.into_iter()
        .map(|(network, reason, created_at, expires_at)| {
            let net: ipnet::IpNet = network.parse().map_err(|_| {
                StoreError::new(
                    StoreErrorKind::SchemaMismatch,
                    "blocked_ips.network is not a CIDR",
                )
            })?;
            Ok(BlockEntry::new(net, reason, created_at, expires_at))
        })
        .collect()
}

/// Implements `BlockListStore` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_block_list_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::ip_block::BlockListStore for $store {
            async fn add(
                &self,
                entry: &cutty_core::ip_block::BlockEntry,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = async {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(crate::sql::block_list::UPSERT)
                        .bind(entry.network.to_string())
                        .bind(&entry.reason)
                        .bind(entry.created_at)
                        .bind(entry.expires_at)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(crate::sql::block_list::BUMP)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                };
                crate::sql::bounded("blocked_ips.add", self.options.operation_timeout, fut).await
            }

            async fn remove(
                &self,
                network: &ipnet::IpNet,
            ) -> Result<bool, cutty_core::error::StoreError> {
                let fut = async {
                    let mut tx = self.pool.begin().await?;
                    let done = sqlx::query(crate::sql::block_list::DELETE)
                        .bind(network.to_string())
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        sqlx::query(crate::sql::block_list::BUMP)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(done.rows_affected() > 0)
                };
                crate::sql::bounded("blocked_ips.remove", self.options.operation_timeout, fut).await
            }

            async fn list(
                &self,
            ) -> Result<Vec<cutty_core::ip_block::BlockEntry>, cutty_core::error::StoreError> {
                let fut =
                    sqlx::query_as::<_, crate::sql::block_list::Row>(crate::sql::block_list::LIST)
                        .fetch_all(&self.pool);
                crate::sql::block_list::entries(
                    crate::sql::bounded("blocked_ips.list", self.options.operation_timeout, fut)
                        .await?,
                )
            }

            async fn version(&self) -> Result<u64, cutty_core::error::StoreError> {
                let fut = sqlx::query_scalar::<_, i64>(crate::sql::block_list::VERSION)
                    .fetch_one(&self.pool);
                let v =
                    crate::sql::bounded("blocked_ips.version", self.options.operation_timeout, fut)
                        .await?;
                Ok(v as u64)
            }

            async fn purge_expired(
                &self,
                now_ms: i64,
            ) -> Result<u64, cutty_core::error::StoreError> {
                let fut = async {
                    let mut tx = self.pool.begin().await?;
                    let done = sqlx::query(crate::sql::block_list::PURGE)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() > 0 {
                        sqlx::query(crate::sql::block_list::BUMP)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(done.rows_affected())
                };
                crate::sql::bounded(
                    "blocked_ips.purge_expired",
                    self.options.operation_timeout,
                    fut,
                )
                .await
            }
        }
    };
}
pub(crate) use impl_block_list_store;
