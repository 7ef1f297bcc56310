//! `EventSink` + `EventStore` on SQL. Pages are read newest first with a keyset cursor on
//! `(timestamp, id)` — `id` is the uuid's 16 bytes, which both databases compare byte-wise,
//! exactly like [`EventCursor`](cutty_core::event::EventCursor)'s order. The filters are
//! appended as `$n` conditions (the only dynamic SQL in the crate; the text is built from
//! fixed fragments, every value is bound).

use std::fmt::Write as _;

use cutty_core::error::{StoreError, StoreErrorKind};
use cutty_core::event::{EventQuery, SecurityEvent};

pub(crate) const INSERT: &str = "INSERT INTO security_events \
     (id, timestamp, event_type, user_id, ip_address, success, details) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const COUNTS: &str = "SELECT event_type, success, COUNT(*) FROM security_events \
     WHERE timestamp >= $1 GROUP BY event_type, success";
pub(crate) const DELETE_OLDER: &str = "DELETE FROM security_events WHERE timestamp < $1";

/// A value to bind to the next `$n`.
#[derive(Debug)]
pub(crate) enum Bind {
    I64(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// The page query for `q`: the SQL text and its binds, in `$n` order. Asks for one row
/// more than the page so the caller knows whether another page follows.
pub(crate) fn page_query(q: &EventQuery) -> (String, Vec<Bind>) {
    let mut sql = String::from(
        "SELECT id, timestamp, event_type, user_id, ip_address, success, details \
         FROM security_events WHERE 1 = 1",
    );
    let mut binds = Vec::new();
    let mut cond = |sql: &mut String, fragment: &str, b: Bind| {
        binds.push(b);
        let n = binds.len();
        // `fragment` contains one `{}` where the placeholder goes.
        let _ = write!(sql, " AND {}", fragment.replace("{}", &format!("${n}")));
    };
    if let Some(t) = q.event_type {
        cond(
            &mut sql,
            "event_type = {}",
            Bind::Text(t.as_str().to_owned()),
        );
    }
    if let Some(u) = q.user_id {
        cond(&mut sql, "user_id = {}", Bind::I64(u));
    }
    if let Some(ip) = q.ip_address {
        cond(
            &mut sql,
            "ip_address = {}",
            Bind::Text(ip.to_canonical().to_string()),
        );
    }
    if let Some(s) = q.success {
        cond(&mut sql, "success = {}", Bind::Bool(s));
    }
    if let Some(s) = q.since {
        cond(&mut sql, "timestamp >= {}", Bind::I64(s));
    }
    if let Some(u) = q.until {
        cond(&mut sql, "timestamp <= {}", Bind::I64(u));
    }
    if let Some(c) = q.cursor {
        binds.push(Bind::I64(c.timestamp));
        binds.push(Bind::Bytes(c.id.as_bytes().to_vec()));
        let (t, i) = (binds.len() - 1, binds.len());
        let _ = write!(
            sql,
            " AND (timestamp < ${t} OR (timestamp = ${t} AND id < ${i}))"
        );
    }
    let _ = write!(
        sql,
        " ORDER BY timestamp DESC, id DESC LIMIT {}",
        q.limit_usize() + 1
    );
    (sql, binds)
}

fn bad(what: &'static str) -> StoreError {
    StoreError::new(StoreErrorKind::SchemaMismatch, what)
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: Vec<u8>,
    timestamp: i64,
    event_type: String,
    user_id: Option<i64>,
    ip_address: Option<String>,
    success: bool,
    details: String,
}

impl TryFrom<EventRow> for SecurityEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid::Uuid::from_slice(&r.id)
                .map_err(|_| bad("security_events.id is not 16 bytes"))?,
            timestamp: r.timestamp,
            event_type: r
                .event_type
                .parse()
                .map_err(|_| bad("security_events.event_type unknown"))?,
            user_id: r.user_id,
            ip_address: r
                .ip_address
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| bad("security_events.ip_address is not an IP"))?,
            success: r.success,
            details: serde_json::from_str(&r.details)
                .map_err(|_| bad("security_events.details is not JSON"))?,
        })
    }
}

pub(crate) fn events(rows: Vec<EventRow>) -> Result<Vec<SecurityEvent>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(crate) fn counts(
    rows: Vec<(String, bool, i64)>,
) -> Result<Vec<cutty_core::event::EventCount>, StoreError> {
    let mut out: Vec<cutty_core::event::EventCount> = Vec::new();
    for (t, success, n) in rows {
        let event_type = t
            .parse()
            .map_err(|_| bad("security_events.event_type unknown"))?;
        let n = u64::try_from(n).unwrap_or(0);
        let i = match out.iter().position(|c| c.event_type == event_type) {
            Some(i) => i,
            None => {
                out.push(cutty_core::event::EventCount {
                    event_type,
                    counts: Default::default(),
                });
                out.len() - 1
            }
        };
        if let Some(c) = out.get_mut(i) {
            if success {
                c.counts.success += n;
            } else {
                c.counts.failure += n;
            }
        }
    }
    Ok(out)
}

/// Implements `EventSink` and `EventStore` for a SQL store type with fields `pool` and
/// `options`.
macro_rules! impl_event_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl cutty_core::event::EventSink for $store {
            async fn record(
                &self,
                e: &cutty_core::event::SecurityEvent,
            ) -> Result<(), cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::events::INSERT)
                    .bind(e.id.as_bytes().to_vec())
                    .bind(e.timestamp)
                    .bind(e.event_type.as_str())
                    .bind(e.user_id)
                    .bind(e.ip_address.map(|ip| ip.to_canonical().to_string()))
                    .bind(e.success)
                    .bind(e.details.to_string())
                    .execute(&self.pool);
                crate::sql::bounded(
                    "security_events.record",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl cutty_core::event::EventStore for $store {
            async fn query(
                &self,
                q: &cutty_core::event::EventQuery,
            ) -> Result<cutty_core::event::EventPage, cutty_core::error::StoreError> {
                use crate::sql::events::Bind;
                let (sql, binds) = crate::sql::events::page_query(q);
                let mut query = sqlx::query_as::<_, crate::sql::events::EventRow>(&sql);
                for b in binds {
                    query = match b {
                        Bind::I64(v) => query.bind(v),
                        Bind::Text(v) => query.bind(v),
                        Bind::Bool(v) => query.bind(v),
                        Bind::Bytes(v) => query.bind(v),
                    };
                }
                let rows = crate::sql::bounded(
                    "security_events.query",
                    self.options.operation_timeout,
                    query.fetch_all(&self.pool),
                )
                .await?;
                Ok(cutty_core::event::EventPage::from_candidates(
                    crate::sql::events::events(rows)?,
                    q.limit_usize(),
                ))
            }

            async fn counts_since(
                &self,
                since_ms: i64,
            ) -> Result<Vec<cutty_core::event::EventCount>, cutty_core::error::StoreError> {
                let fut = sqlx::query_as::<_, (String, bool, i64)>(crate::sql::events::COUNTS)
                    .bind(since_ms)
                    .fetch_all(&self.pool);
                crate::sql::events::counts(
                    crate::sql::bounded(
                        "security_events.counts_since",
                        self.options.operation_timeout,
                        fut,
                    )
                    .await?,
                )
            }

            async fn delete_older_than(
                &self,
                cutoff_ms: i64,
            ) -> Result<u64, cutty_core::error::StoreError> {
                let fut = sqlx::query(crate::sql::events::DELETE_OLDER)
                    .bind(cutoff_ms)
                    .execute(&self.pool);
                let done = crate::sql::bounded(
                    "security_events.delete_older_than",
                    self.options.operation_timeout,
                    fut,
                )
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_event_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_gets_its_own_placeholder_in_bind_order() {
        let q = EventQuery::from_pairs([
            ("event_type", "login"),
            ("user_id", "7"),
            ("ip_address", "::ffff:192.0.2.1"),
            ("success", "false"),
            ("since", "1"),
            ("until", "2"),
            ("limit", "3"),
            ("cursor", "AAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAA"),
        ])
        .expect("valid query");
        let (sql, binds) = page_query(&q);
        assert_eq!(binds.len(), 8);
        for n in 1..=8 {
            assert!(sql.contains(&format!("${n}")), "{sql}");
        }
        assert!(!sql.contains("$9"), "{sql}");
        assert!(
            sql.ends_with("ORDER BY timestamp DESC, id DESC LIMIT 4"),
            "{sql}"
        );
        assert!(matches!(&binds[2], Bind::Text(ip) if ip == "192.0.2.1"));
        let (bare, none) = page_query(&EventQuery::default());
        assert!(none.is_empty());
        assert!(!bare.contains('$'), "{bare}");
    }
}
