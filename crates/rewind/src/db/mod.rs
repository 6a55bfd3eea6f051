//! The database behind a narrow interface: a `sqlx::AnyPool` (SQLite by default;
//! PostgreSQL by URL) and numbered migrations written in SQL both engines accept.
//!
//! Times are stored as integers (Unix seconds or 90 kHz ticks, the unit in the column
//! name), so no engine-specific date types leak in.

mod migrations;

pub use migrations::{Engine, dialect};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// The database handle every service shares.
#[derive(Clone, Debug)]
pub struct Db {
    /// The pool; queries use `$1` placeholders, which both engines accept.
    pool: AnyPool,
}

impl Db {
    /// The pool, for the store modules only: each table's SQL lives in the one module that
    /// owns it (listed in ARCHITECTURE.md; `tests/architecture.rs` keeps it so).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        anyhow::ensure!(
            sqlite || url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "database_url must be sqlite://… or postgres://…"
        );
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; a small pool avoids lock contention between our own
            // connections, and WAL lets readers proceed during a write.
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let engine = if sqlite { Engine::Sqlite } else { Engine::Postgres };
        migrations::run(&pool, engine).await?;
        Ok(Db { pool })
    }

    /// A transaction, for writes of several stores that must commit together (a finished
    /// file: its library row, the end of its journal row, its callback event).
    pub async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.pool.begin().await
    }

    /// Closes every connection (on shutdown).
    pub async fn close(&self) {
        self.pool.close().await
    }
}
