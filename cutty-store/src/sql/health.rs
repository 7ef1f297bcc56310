//! `cutty_core::app::HealthCheck` for the SQL stores: one `SELECT 1`, bounded by the
//! operation timeout.

/// Implements `HealthCheck` for a SQL store type with fields `pool` and `options`.
macro_rules! impl_health_check {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::app::HealthCheck for $store {
            async fn ping(&self) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query("SELECT 1").execute(&self.pool);
                crate::sql::bounded("health.ping", self.options.operation_timeout, fut)
                    .await
                    .map(drop)
            }
        }
    };
}
pub(crate) use impl_health_check;
