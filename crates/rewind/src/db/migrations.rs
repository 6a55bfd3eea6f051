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
    (
        3,
        "
    -- The media library: one row per finished recording file.
    CREATE TABLE media (
        file_id TEXT PRIMARY KEY,
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        format TEXT NOT NULL,           -- flv, hls, mp4, aac
        source TEXT NOT NULL,           -- rule, task, event
        template_id BIGINT NOT NULL,
        task_id TEXT,
        session_ids TEXT NOT NULL,      -- JSON array of publish session ids
        start_90k BIGINT NOT NULL,      -- UTC of the first frame, 90 kHz ticks since the epoch
        end_90k BIGINT NOT NULL,        -- UTC of the end of the last frame
        duration_ms BIGINT NOT NULL,    -- media duration
        file_size BIGINT NOT NULL,      -- bytes (HLS: playlist + segments)
        media_info TEXT NOT NULL,       -- JSON {video, audio}
        file_name TEXT NOT NULL,        -- final name, unique in its folder
        rel_path TEXT NOT NULL,         -- path under data_dir/media
        stream_param TEXT,
        expires_at_unix BIGINT,         -- NULL: kept forever
        created_at_unix BIGINT NOT NULL
    );
    CREATE INDEX media_by_stream ON media (domain, app, stream, start_90k);
    CREATE INDEX media_by_start ON media (start_90k);
    CREATE INDEX media_by_expiry ON media (expires_at_unix);
    -- Recording files being written. A row here at start-up is a recording that a crash
    -- interrupted: it is repaired, finished and moved to media.
    CREATE TABLE recording_file (
        file_id TEXT PRIMARY KEY,
        format TEXT NOT NULL,
        tmp_path TEXT NOT NULL,         -- under data_dir/media
        plan TEXT NOT NULL,             -- JSON of what the media row needs
        start_90k BIGINT NOT NULL,      -- UTC of the first frame
        started_at_unix BIGINT NOT NULL
    );
    ",
    ),
    (
        4,
        "
    -- The timeline (SPEC 8). Init segments: one per codec configuration of a stream.
    CREATE TABLE timeline_init (
        init_id INTEGER PRIMARY KEY AUTOINCREMENT,
        stream_id TEXT NOT NULL,        -- domain/app/stream
        codecs TEXT NOT NULL,           -- RFC 6381 codecs, comma-separated, video first
        data BLOB NOT NULL,             -- ftyp + moov of every track (HLS)
        video_data BLOB,                -- the video track alone (DASH), if any
        audio_data BLOB                 -- the audio track alone (DASH), if any
    );
    -- Chunks: one file of consecutive fragments of one run. A row is written when the
    -- chunk opens (sealed = 0) so a crash finds it; sealing fills in its fragments.
    CREATE TABLE timeline_chunk (
        stream_id TEXT NOT NULL,
        start_90k BIGINT NOT NULL,      -- UTC of the first fragment, 90 kHz ticks since the epoch
        end_90k BIGINT NOT NULL,        -- UTC end of the last fragment (= start while open)
        run_start_90k BIGINT NOT NULL,  -- the run it belongs to
        run_seq BIGINT NOT NULL,        -- and that run's number
        init_id BIGINT NOT NULL,
        first_seq BIGINT NOT NULL,      -- media sequence number of its first fragment
        bytes BIGINT NOT NULL,
        sealed INTEGER NOT NULL,
        fragments BLOB NOT NULL,        -- packed fragment table (timeline::chunk_table)
        PRIMARY KEY (stream_id, start_90k)
    );
    CREATE INDEX timeline_chunk_open ON timeline_chunk (sealed);
    -- Runs: continuous media between gaps; what availableMedia reads.
    CREATE TABLE timeline_run (
        stream_id TEXT NOT NULL,
        start_90k BIGINT NOT NULL,      -- UTC; the run's identity (chunks name it)
        kept_from_90k BIGINT NOT NULL,  -- UTC of its first media still kept (retention)
        end_90k BIGINT NOT NULL,        -- UTC, exclusive
        run_seq BIGINT NOT NULL,        -- 0, 1, 2… per stream: HLS discontinuity sequence
        PRIMARY KEY (stream_id, start_90k)
    );
    -- How long each stream's timeline is kept (as its last recording said).
    CREATE TABLE timeline_stream (
        stream_id TEXT PRIMARY KEY,
        retention_secs BIGINT NOT NULL  -- 0: forever
    );
    -- Streaming locators: unguessable ids that map to a stream (and maybe a window).
    CREATE TABLE locator (
        locator_id TEXT PRIMARY KEY,
        stream_id TEXT NOT NULL,
        start_90k BIGINT,               -- UTC; NULL: no lower bound
        end_90k BIGINT,                 -- UTC; NULL: no upper bound
        expires_at_unix BIGINT,         -- NULL: never
        created_at_unix BIGINT NOT NULL
    );
    ",
    ),
    (
        5,
        "
    -- Record tasks (SPEC 5): the truth about what API calls asked to record.
    CREATE TABLE record_task (
        task_id TEXT PRIMARY KEY,
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        start_unix BIGINT NOT NULL,     -- window start, Unix seconds
        end_unix BIGINT NOT NULL,       -- window end (exclusive), Unix seconds
        template_id BIGINT NOT NULL,
        stream_type BIGINT NOT NULL,
        extension TEXT,
        state TEXT NOT NULL,            -- scheduled, recording, waiting, stopped, finished, expired
        recorded INTEGER NOT NULL,      -- 1 once it started a recording
        stopped_at_unix BIGINT,
        created_at_unix BIGINT NOT NULL,
        source TEXT NOT NULL,           -- task (API) or event (event clip with pre-roll)
        max_end_unix BIGINT NOT NULL    -- an event clip is never extended past this
    );
    CREATE INDEX record_task_by_stream ON record_task (domain, app, stream, start_unix);
    CREATE INDEX record_task_by_state ON record_task (state);
    ",
    ),
    (
        6,
        "
    -- Media search at scale: every filter has an index that also yields the sort order
    -- (start, then file id as the keyset tie-break), so pages never sort in memory.
    DROP INDEX media_by_start;
    CREATE INDEX media_by_start ON media (start_90k, file_id);
    DROP INDEX media_by_stream;
    CREATE INDEX media_by_stream ON media (domain, app, stream, start_90k, file_id);
    CREATE INDEX media_by_stream_name ON media (stream, start_90k, file_id);
    CREATE INDEX media_by_task ON media (task_id, start_90k, file_id);
    CREATE INDEX media_by_format ON media (format, start_90k, file_id);
    CREATE INDEX media_by_source ON media (source, start_90k, file_id);
    -- The longest file: a time-window search then reads only starts within that much
    -- before the window (an end time alone cannot use an index).
    CREATE TABLE media_stats (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        longest_90k BIGINT NOT NULL
    );
    INSERT INTO media_stats (id, longest_90k) SELECT 1, COALESCE(MAX(end_90k - start_90k), 0) FROM media;
    ",
    ),
    (
        7,
        "
    -- Callback events waiting for delivery, and those given up (state 'failed').
    -- Delivered events are deleted. The row is written in the same transaction as what
    -- it reports (a media row), so no finished file goes unreported.
    CREATE TABLE callback_outbox (
        event_id TEXT PRIMARY KEY,      -- stable across retries: receivers de-duplicate on it
        domain TEXT NOT NULL,
        event_type BIGINT NOT NULL,     -- 100 record, 332 status
        url TEXT NOT NULL,
        sign_key TEXT NOT NULL,
        body TEXT NOT NULL,             -- JSON without t and sign (added per try)
        state TEXT NOT NULL,            -- pending | failed
        attempts BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        last_error TEXT,
        created_at_unix BIGINT NOT NULL,
        failed_at_unix BIGINT
    );
    CREATE INDEX callback_outbox_due ON callback_outbox (state, next_attempt_ms);
    -- Auto-splice: an HLS recording whose push dropped waits (parked) for a re-push.
    ALTER TABLE recording_file ADD COLUMN parked_until_unix BIGINT;
    ALTER TABLE recording_file ADD COLUMN splice TEXT;   -- JSON: sessions and discontinuities
    ",
    ),
    (
        8,
        "
    -- Timeline media lost inside a run: chunks dropped from a full upload spool
    -- (storage::uploads). availableMedia shows runs minus these.
    CREATE TABLE timeline_hole (
        stream_id TEXT NOT NULL,
        start_90k BIGINT NOT NULL,
        end_90k BIGINT NOT NULL,
        PRIMARY KEY (stream_id, start_90k)
    );
    ",
    ),
    (
        9,
        "
    -- The servers on this database (nodes::): each beats every 5 s with its streams.
    CREATE TABLE node (
        name TEXT PRIMARY KEY,
        advertise_url TEXT NOT NULL,
        started_at_unix BIGINT NOT NULL,
        last_seen_unix BIGINT NOT NULL,
        streams TEXT NOT NULL           -- JSON array of stream ids live there
    );
    -- Which node has a live stream (leases::): taken at publish, renewed by heartbeats.
    CREATE TABLE stream_lease (
        stream_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        epoch BIGINT NOT NULL,          -- one more at each new holder
        expires_at_ms BIGINT NOT NULL   -- Unix milliseconds
    );
    -- Cluster-wide jobs (sweepers) that run on one node at a time (leases::take_job).
    CREATE TABLE job_lease (
        job TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    ",
    ),
    (
        10,
        "
    -- Which node writes a recording or an open chunk: a node's start-up repairs only its
    -- own ('' : written before nodes existed, repaired by whichever node starts).
    ALTER TABLE recording_file ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE timeline_chunk ADD COLUMN node TEXT NOT NULL DEFAULT '';
    -- One more at every change of templates, rules, domains or tasks made through the
    -- API (config_sync::): the other nodes reload when it moves.
    CREATE TABLE config_version (
        id INTEGER PRIMARY KEY,
        version BIGINT NOT NULL
    );
    INSERT INTO config_version (id, version) VALUES (1, 0);
    -- The node that recorded a library file: until it is uploaded, that node serves it.
    ALTER TABLE media ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ",
    ),
    (
        11,
        "
    -- RTSP cameras declared through the API (sources::store). The URL keeps the
    -- password: rewind needs it to dial; the API never shows it.
    CREATE TABLE rtsp_source (
        source_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        transport TEXT NOT NULL,
        enable INTEGER NOT NULL,
        rtp_timeout_secs INTEGER NOT NULL,
        created_at_unix INTEGER NOT NULL
    );
    -- Every source's status (from the file or the API), written by the node pulling it,
    -- so that every node's API shows it.
    CREATE TABLE rtsp_source_status (
        source_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        state TEXT NOT NULL,
        last_error TEXT,
        note TEXT,
        retries INTEGER NOT NULL,
        connected_at_unix INTEGER
    );
    ",
    ),
    (
        12,
        "
    -- The oldest chunks across every stream: what the space guard deletes first.
    CREATE INDEX timeline_chunk_start ON timeline_chunk (start_90k);
    ",
    ),
    (
        13,
        "
    -- Streams whose publish is refused until resume_at_unix (stream_forbids).
    CREATE TABLE stream_forbid (
        id TEXT PRIMARY KEY,            -- domain/app/stream
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        reason TEXT NOT NULL,
        resume_at_unix BIGINT NOT NULL,
        created_at_unix BIGINT NOT NULL
    );
    -- One row per publish (publish_history). last_seen_unix moves with the node's
    -- heartbeat, so a publish its node's crash cut still says about when it ended.
    CREATE TABLE publish_history (
        session_id TEXT PRIMARY KEY,
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        stream TEXT NOT NULL,
        node TEXT NOT NULL,
        peer TEXT NOT NULL,
        stream_param TEXT NOT NULL,
        started_at_unix BIGINT NOT NULL,
        last_seen_unix BIGINT NOT NULL,
        ended_at_unix BIGINT,           -- NULL: live, or cut by a crash
        stop_reason TEXT
    );
    CREATE INDEX publish_history_by_domain ON publish_history (domain, started_at_unix);
    CREATE INDEX publish_history_open ON publish_history (node, ended_at_unix);
    -- Callback templates: a URL per event kind and one signing key (callbacks::routes).
    CREATE TABLE callback_template (
        template_id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        stream_begin_url TEXT NOT NULL, -- '' : no event of this kind
        stream_end_url TEXT NOT NULL,
        record_url TEXT NOT NULL,
        record_status_url TEXT NOT NULL,
        callback_key TEXT NOT NULL,
        created_at_unix BIGINT NOT NULL,
        updated_at_unix BIGINT NOT NULL
    );
    -- Which callback template a domain's app uses; '' in app means any app.
    CREATE TABLE callback_rule (
        domain TEXT NOT NULL,
        app TEXT NOT NULL,
        template_id BIGINT NOT NULL,
        created_at_unix BIGINT NOT NULL,
        updated_at_unix BIGINT NOT NULL,
        PRIMARY KEY (domain, app)
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

/// The SQL engine a migration is run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A statement as `engine` takes it. The migrations are written for SQLite, whose
/// integers are all 64-bit; PostgreSQL gets the same schema in its words: every integer
/// a `BIGINT`, bytes `BYTEA`, an identity column for `AUTOINCREMENT`.
pub fn dialect(stmt: &str, engine: Engine) -> String {
    match engine {
        Engine::Sqlite => stmt.to_string(),
        Engine::Postgres => stmt
            .replace(
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            )
            .replace("INTEGER", "BIGINT")
            .replace("BLOB", "BYTEA"),
    }
}

/// Applies every migration not yet applied, each in its own transaction. On
/// PostgreSQL a transaction-level advisory lock makes servers that start together take
/// turns, each seeing what the one before applied.
pub async fn run(pool: &AnyPool, engine: Engine) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    if engine == Engine::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(1919252069)").execute(&mut *tx).await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        if engine == Engine::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(1919252069)").execute(&mut *tx).await?;
        }
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_version WHERE version = $1")
            .bind(*version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_some() {
            continue;
        }
        for stmt in statements(sql) {
            // Our own constant migration text, never user input.
            sqlx::query(sqlx::AssertSqlSafe(dialect(&stmt, engine))).execute(&mut *tx).await?;
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
