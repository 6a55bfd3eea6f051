//! Numbered schema migrations. Append only: a released migration is never edited.

use sqlx::AnyPool;

/// (version, SQL). Every column says its unit when it holds a time.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "
    -- Domain settings set through the API (the config file's domains live in memory).
    CREATE TABLE domain (
        name TEXT PRIMARY KEY,
        push_primary_key TEXT,          -- NULL: no push authentication
        push_backup_key TEXT,
        callback_url TEXT,              -- NULL: no callbacks
        callback_key TEXT,
        updated_at_unix BIGINT NOT NULL
    );
    -- Every stream ever published, for `GET /v1/streams?all=true` and 404 vs idle.
    CREATE TABLE stream (
        id TEXT PRIMARY KEY,            -- domain/app/stream
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        first_seen_unix BIGINT NOT NULL,
        last_seen_unix BIGINT NOT NULL,
        last_session_id TEXT NOT NULL,
        last_info TEXT NOT NULL         -- JSON of the last session's media description
    );
    ",
    ),
    (
        2,
        "
    -- Record templates set through the API; body is the template's JSON.
    CREATE TABLE record_template (
        template_id BIGINT PRIMARY KEY,
        body TEXT NOT NULL,
        created_at_unix BIGINT NOT NULL,
        updated_at_unix BIGINT NOT NULL
    );
    -- Record rules set through the API; '' in app/stream means any.
    CREATE TABLE record_rule (
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        template_id BIGINT NOT NULL,
        created_at_unix BIGINT NOT NULL,
        updated_at_unix BIGINT NOT NULL,
        PRIMARY KEY (domain, app, stream)
    );
    ",
    ),
];

/// The statements of a migration: `--` comments removed (they may hold `;`), split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let code: String =
        sql.lines().map(|l| l.split_once("--").map_or(l, |(c, _)| c)).collect::<Vec<_>>().join("\n");
    code.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Applies every migration not yet applied, each in its own transaction.
pub async fn run(pool: &AnyPool) -> anyhow::Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
        .execute(pool)
        .await?;
    let current: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_version").fetch_one(pool).await?;
    let current = current.unwrap_or(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = pool.begin().await?;
        for stmt in statements(sql) {
            // Our own constant migration text, never user input.
            sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(*version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
