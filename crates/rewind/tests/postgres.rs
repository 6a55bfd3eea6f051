//! rewind on PostgreSQL: the same migrations give the same schema as on SQLite, servers
//! that start together migrate once, and a server whose `database_url` is PostgreSQL
//! records, lists, plays its timeline, survives a kill -9 and a restart of the database
//! mid-recording. Each test runs its own PostgreSQL cluster (common::postgres).

mod common;
use common::postgres::Postgres;
use common::*;
use sqlx::Row;
use std::collections::BTreeSet;
use std::time::Duration;

/// Tables and their columns with a type family, and index names, as a set of lines.
async fn schema(db: &rewind::db::Db, postgres: bool) -> BTreeSet<String> {
    let family = |t: &str| {
        match t.to_ascii_lowercase().as_str() {
            "integer" | "bigint" => "int",
            "text" => "text",
            "blob" | "bytea" => "bytes",
            other => panic!("unexpected column type {other}"),
        }
        .to_string()
    };
    let mut out = BTreeSet::new();
    let (columns, indexes) = if postgres {
        (
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'",
        )
    } else {
        (
            "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        )
    };
    for r in sqlx::query(columns).fetch_all(db.pool()).await.unwrap() {
        let (t, c, ty): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        out.insert(format!("{t}.{c} {}", family(&ty)));
    }
    for r in sqlx::query(indexes).fetch_all(db.pool()).await.unwrap() {
        out.insert(format!("index {}", r.get::<String, _>(0)));
    }
    out
}

#[tokio::test]
async fn the_migrations_give_the_same_schema_on_both_engines() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let lite =
        rewind::db::Db::open(&format!("sqlite://{}/r.db?mode=rwc", dir.path().display())).await.unwrap();
    let post = rewind::db::Db::open(&pg.url).await.unwrap();
    let (a, b) = (schema(&lite, false).await, schema(&post, true).await);
    assert!(a.len() > 60, "{a:?}");
    assert_eq!(a, b, "SQLite and PostgreSQL schemas differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_that_start_together_migrate_once() {
    let pg = Postgres::start();
    let opens = (0..4).map(|_| {
        let url = pg.url.clone();
        tokio::spawn(async move { rewind::db::Db::open(&url).await })
    });
    let mut dbs = Vec::new();
    for o in opens {
        dbs.push(o.await.unwrap().expect("every server starts"));
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_version ORDER BY version")
        .fetch_all(dbs[0].pool())
        .await
        .unwrap();
    let unique: BTreeSet<i64> = versions.iter().copied().collect();
    assert_eq!(versions.len(), unique.len(), "each migration applied once: {versions:?}");
    assert_eq!(versions.first(), Some(&1));
}

fn config(pg: &Postgres) -> String {
    format!(
        "database_url = \"{}\"\n[timeline]\nrecord_all = true\ntest_segment_length_secs = 3\n\
         [[record_templates]]\ntemplate_id = 1\nname = \"all\"\nflv = {{ enable = true }}\nhls = {{ enable = true }}\n\
         mp4 = {{ enable = true }}\naac = {{ enable = true }}\n[[record_rules]]\ndomain = \"*\"\ntemplate_id = 1\n",
        pg.url
    )
}

#[tokio::test]
async fn a_server_on_postgresql_records_lists_plays_and_recovers() {
    let pg = Postgres::start();
    let cfg = config(&pg);
    let mut srv = TestServer::start(&cfg);
    // Settings through the API land in PostgreSQL.
    let (s, v) = srv
        .send(
            "POST",
            "/v1/record-templates",
            Some(serde_json::json!({"name": "api", "flv": {"enable": true}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let push = ffmpeg_push(&fixture("av", 4), &srv.push_url("live/pg"));
    assert!(wait_child(push, Duration::from_secs(30)).0);
    let media = wait_media(&srv, "stream=pg", 4, Duration::from_secs(20)).await;
    for m in &media {
        assert_eq!(decode_errors(&media_path(&srv, m)), "", "{}", m["format"]);
    }
    let (s, v) = available_now(&srv, "default/live/pg").await;
    assert_eq!(s, 200, "{v}");
    let r = &v["timeRanges"][0];
    let (s, text) = srv
        .get(&format!(
            "/v1/streams/default/live/pg/manifest.m3u8?startTime={}&endTime={}",
            r["start"].as_str().unwrap(),
            r["end"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200, "{text}");

    // kill -9 mid-push: the interrupted files are finished from PostgreSQL's rows.
    let push = ffmpeg_push(&fixture("av", 20), &srv.push_url("live/pgcrash"));
    srv.wait_stream("default/live/pgcrash", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true)
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    srv.kill_9();
    let _ = wait_child(push, Duration::from_secs(30));
    let srv = srv.restart(&cfg);
    let media = wait_media(&srv, "stream=pgcrash", 4, Duration::from_secs(20)).await;
    for m in &media {
        assert_eq!(decode_errors(&media_path(&srv, m)), "", "{}", m["format"]);
    }
    let (_, v) = srv.get("/v1/record-templates").await;
    assert!(v.to_string().contains("\"api\""), "the API's template survived: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_recording_loses_nothing() {
    let pg = Postgres::start();
    let srv = TestServer::start(&config(&pg));
    let push = ffmpeg_push(&fixture("av", 12), &srv.push_url("live/pgdown"));
    srv.wait_stream("default/live/pgdown", Duration::from_secs(10), |s, v| s == 200 && v["live"] == true)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.restart();
    assert!(wait_child(push, Duration::from_secs(40)).0, "the push was not disturbed");
    let media = wait_media(&srv, "stream=pgdown", 4, Duration::from_secs(60)).await;
    for m in &media {
        assert_eq!(decode_errors(&media_path(&srv, m)), "", "{}", m["format"]);
        let d = m["duration"].as_f64().unwrap();
        assert!(d > 11.0, "{} kept {d} s of 12", m["format"]);
    }
}
