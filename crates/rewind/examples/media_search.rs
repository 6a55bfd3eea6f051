//! Benchmark of the media library's search (issue 6): one million records over 1,000
//! streams, then the searches the API makes, timed, with SQLite's query plan for each.
//!
//!   cargo run --release --example media_search -- DATA_DIR [RECORDS]

use rewind::db::Db;
use rewind::library::media::{self, Search};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("bench/out/media-search", |s| s.as_str()));
    let n: i64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("rewind.db");
    // BENCH_DATABASE_URL=postgres://… runs the same on PostgreSQL (bench/pg.sh starts one).
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", path.display()));
    let db = Db::open(&url).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media").fetch_one(db.pool()).await?;
    let fresh = rows == 0;
    if fresh {
        let t = Instant::now();
        let mut i = 0i64;
        while i < n {
            let mut tx = db.pool().begin().await?;
            for _ in 0..5000.min(n - i) {
                let start = 1_546_300_800_000i64 * 90 + i * 90 * 30_000; // a file every 30 s
                let fmt = ["flv", "hls", "mp4", "aac"][(i % 4) as usize];
                let source = if i % 10 == 0 { "task" } else { "rule" };
                let task = (i % 10 == 0).then(|| format!("task{}", i / 1000));
                sqlx::query(
                    "INSERT INTO media (file_id, domain, app, stream, format, source, template_id, task_id, session_ids, start_90k, end_90k, duration_ms, file_size, media_info, file_name, rel_path, stream_param, expires_at_unix, created_at_unix) VALUES ($1, $2, 'live', $3, $4, $5, 1, $6, '[]', $7, $8, 30000, 1000000, '{}', $9, $9, NULL, NULL, 0)",
                )
                .bind(format!("{i:016x}"))
                .bind(format!("d{}.example", i % 10))
                .bind(format!("cam{}", (i / 10) % 100))
                .bind(fmt)
                .bind(source)
                .bind(task)
                .bind(start)
                .bind(start + 30_000 * 90)
                .bind(format!("f{i}.{fmt}"))
                .execute(&mut *tx)
                .await?;
                i += 1;
            }
            tx.commit().await?;
        }
        // PostgreSQL counts from its indexes alone only for pages its visibility map
        // marks all-visible: autovacuum does that for a table in use; a benchmark that
        // times queries right after a bulk insert would time heap visits instead (first
        // page of 1 M: 56 ms straight after the insert, 31 ms vacuumed).
        let stats = if url.starts_with("postgres") { "VACUUM ANALYZE media" } else { "ANALYZE" };
        sqlx::query(stats).execute(db.pool()).await?;
        println!("built {n} records in {:.1} s", t.elapsed().as_secs_f64());
    }
    let cases: Vec<(&str, Search)> = vec![
        ("first page, newest first", Search { sort: Some("-start_time".into()), ..Default::default() }),
        (
            "one stream",
            Search {
                domain: Some("d3.example".into()),
                app: Some("live".into()),
                stream: Some("cam42".into()),
                ..Default::default()
            },
        ),
        ("one task", Search { task_id: Some("task500".into()), ..Default::default() }),
        (
            "format + a day",
            Search {
                format: Some("mp4".into()),
                start_time: Some("2019-03-01T00:00:00Z".into()),
                end_time: Some("2019-03-02T00:00:00Z".into()),
                ..Default::default()
            },
        ),
        (
            "source task, page 2",
            Search { source: Some("task".into()), page_size: Some(100), ..Default::default() },
        ),
    ];
    for (label, q) in cases {
        let mut ms = Vec::new();
        let mut total = 0;
        for _ in 0..7 {
            let t = Instant::now();
            let page = media::search(&db, &q).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            total = page.total;
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        println!("{label}: median {:.2} ms (total {total})", ms[ms.len() / 2]);
        // (The plan is SQLite's words; PostgreSQL's EXPLAIN is not asked for.)
        if url.starts_with("sqlite") {
            for line in media::explain(&db, &q).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!("    plan: {line}");
            }
        }
    }
    Ok(())
}
