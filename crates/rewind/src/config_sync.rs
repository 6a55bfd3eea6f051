//! Configuration made through the API on one node, applied by every node (issue 17):
//! each change of templates, rules, domains, record tasks or sources moves one counter in the
//! database (`bump`), and every node polls it (`run`, every `POLL`) and reads what
//! changed again when it moved. A poll is one primary-key read, whatever the cluster's
//! size, and works the same on SQLite and PostgreSQL. The only SQL on `config_version`.

use crate::db::Db;
use crate::error::Result;
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

/// How often a node looks at the counter: a change made on another node applies here
/// within this (plus one reload).
pub const POLL: Duration = Duration::from_millis(500);

/// Says that the API changed the configuration (after the change is committed).
pub async fn bump(db: &Db) -> Result<()> {
    sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1").execute(db.pool()).await?;
    Ok(())
}

/// The counter now.
pub async fn version(db: &Db) -> Result<i64> {
    let row = sqlx::query("SELECT version FROM config_version WHERE id = 1").fetch_one(db.pool()).await?;
    Ok(row.try_get(0)?)
}

/// `bump` for a handler that already answered the change: a failure is logged (the
/// other nodes then see it at the next change), never turned into an API error.
pub async fn changed(db: &Db) {
    if let Err(e) = bump(db).await {
        tracing::warn!(error = %e, "could not tell the other nodes about a configuration change");
    }
}

/// Polls the counter until shutdown; when it moved, reloads the catalog, the domains
/// and the record tasks.
pub async fn run(svc: Arc<crate::server::Services>) {
    let mut seen = version(&svc.db).await.ok();
    loop {
        tokio::select! {
            _ = svc.shutdown.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        let now = match version(&svc.db).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the configuration version; polled again");
                continue;
            }
        };
        if seen == Some(now) {
            continue;
        }
        let reloaded = async {
            svc.catalog.reload().await?;
            svc.domains.reload().await?;
            svc.callback_targets.reload().await?;
            svc.record_tasks.reload().await?;
            svc.sources.reconcile(&svc).await?;
            anyhow::Ok(())
        }
        .await;
        match reloaded {
            Ok(()) => {
                tracing::debug!(version = now, "configuration reloaded");
                seen = Some(now);
            }
            Err(e) => tracing::warn!(error = %e, "could not reload the configuration; tried again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_counter_moves_once_per_change() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let v0 = version(&db).await.unwrap();
        bump(&db).await.unwrap();
        changed(&db).await;
        assert_eq!(version(&db).await.unwrap(), v0 + 2);
    }
}
