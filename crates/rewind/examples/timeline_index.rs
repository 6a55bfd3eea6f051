//! Benchmark of the timeline index (issue 4): builds one stream's index for `DAYS` days
//! of 2 s fragments in 30 s chunks (a 2 s gap every day at 04:01:08, as the seed's
//! example 2), then times what playback asks of it through the library:
//! a 24 h manifest, availableMedia by day over 31 days and by year over the whole range.
//!
//!   cargo run --release --example timeline_index -- DATA_DIR [DAYS]
//!
//! DATA_DIR can then be served by `rewind serve --data-dir DATA_DIR` (bench/timeline.sh
//! times the same over HTTP).

use rewind::db::Db;
use rewind::timeline::available;
use rewind::timeline::chunk_table::{self, FragmentRef};
use rewind::timeline::index;
use rewind::timeline::playlist;
use rewind::timeline::select::segments_of;
use rewind::timeline::window::Bounds;
use rewind_media::{Duration90k, Time90k};
use std::time::Instant;

const STREAM: &str = "bench.example/live/cam";
const FRAG: Duration90k = Duration90k::from_secs(2);
const FRAGS_PER_CHUNK: i64 = 15;
const FRAG_BYTES: u32 = 500_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("bench/out/timeline-index", |s| s.as_str()));
    let days: i64 = args.get(2).map_or(Ok(365), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let db_path = dir.join("rewind.db");
    // BENCH_DATABASE_URL=postgres://… runs the same on PostgreSQL (bench/pg.sh starts one).
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", db_path.display()));
    let db = Db::open(&url).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM timeline_chunk").fetch_one(db.pool()).await?;
    let fresh = rows == 0;
    // 2019-01-01T00:00:00Z
    let t0 = Time90k::from_unix_micros(1_546_300_800_000_000);
    let day = Duration90k::from_secs(86_400);
    if fresh {
        let built = Instant::now();
        let init_id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO timeline_init (stream_id, codecs, data) VALUES ($1, 'avc1.64001f,mp4a.40.2', $2) RETURNING init_id",
        )
        .bind(STREAM)
        .bind(vec![0u8; 700])
        .fetch_one(db.pool())
        .await?;
        let mut seq = 0i64;
        for d in 0..days {
            // Each day is one run from 04:01:10 to 04:01:08 the next day (a 2 s gap).
            let run_start = t0 + Duration90k(day.0 * d) + Duration90k::from_secs(4 * 3600 + 60 + 10);
            let run_end = run_start + day - FRAG;
            let mut tx = db.pool().begin().await?;
            let mut start = run_start;
            while start < run_end {
                let n = ((run_end - start).0 / FRAG.0).min(FRAGS_PER_CHUNK);
                let frags: Vec<FragmentRef> = (0..n)
                    .map(|i| FragmentRef {
                        start: start + Duration90k(FRAG.0 * i),
                        duration: FRAG,
                        offset: i as u64 * FRAG_BYTES as u64,
                        size: FRAG_BYTES,
                        independent: true,
                        video_len: FRAG_BYTES - 16_000,
                    })
                    .collect();
                let end = start + Duration90k(FRAG.0 * n);
                sqlx::query(
                    "INSERT INTO timeline_chunk (stream_id, start_90k, end_90k, run_start_90k, run_seq, init_id, first_seq, bytes, sealed, fragments) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
                )
                .bind(STREAM)
                .bind(start.0)
                .bind(end.0)
                .bind(run_start.0)
                .bind(d)
                .bind(init_id)
                .bind(seq)
                .bind(n * FRAG_BYTES as i64)
                .bind(chunk_table::pack(start, &frags))
                .execute(&mut *tx)
                .await?;
                seq += n;
                start = end;
            }
            sqlx::query("INSERT INTO timeline_run (stream_id, start_90k, kept_from_90k, end_90k, run_seq) VALUES ($1, $2, $2, $3, $4)")
                .bind(STREAM)
                .bind(run_start.0)
                .bind(run_end.0)
                .bind(d)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        sqlx::query("VACUUM").execute(db.pool()).await?;
        println!("built {days} days ({seq} fragments) in {:.1} s", built.elapsed().as_secs_f64());
    }
    let fragments: i64 = sqlx::query_scalar("SELECT SUM(LENGTH(fragments)) / 21 FROM timeline_chunk")
        .fetch_one(db.pool())
        .await?;
    let db_bytes = match &url {
        u if u.starts_with("postgres") => {
            sqlx::query_scalar::<_, i64>("SELECT pg_total_relation_size('timeline_chunk')")
                .fetch_one(db.pool())
                .await? as u64
        }
        _ => std::fs::metadata(&db_path)?.len(),
    };
    let hours = fragments as f64 * 2.0 / 3600.0;
    println!(
        "index: {fragments} fragments, {:.1} MB, {:.1} KB per recorded hour",
        db_bytes as f64 / 1e6,
        db_bytes as f64 / 1e3 / hours
    );

    let mid = t0 + Duration90k(day.0 * (days / 2));
    let (mut manifest_ms, mut query_ms, mut render_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut segments = 0;
    let mut bytes = 0;
    for _ in 0..15 {
        let t = Instant::now();
        let b = Bounds { from: mid, to: mid + day, live: false };
        let chunks = index::chunks_in(&db, STREAM, b.from, b.to).await?;
        query_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let r = Instant::now();
        let segs = segments_of(&chunks, &b);
        let text = playlist::hls(&segs, false);
        render_ms.push(r.elapsed().as_secs_f64() * 1e3);
        manifest_ms.push(t.elapsed().as_secs_f64() * 1e3);
        segments = segs.len();
        bytes = text.len();
        std::hint::black_box(text);
    }
    println!(
        "24 h HLS manifest ({segments} segments, {:.1} MB): median {:.1} ms (index read {:.1} ms, segments + text {:.1} ms)",
        bytes as f64 / 1e6,
        median(manifest_ms),
        median(query_ms),
        median(render_ms)
    );

    for (precision, from, to, label) in [
        ("day", "2019-07-01", "2019-07-31", "availableMedia day over 31 days"),
        ("year", "2019", "2019", "availableMedia year over the whole year"),
        ("month", "2019-01", "2019-12", "availableMedia month over 12 months"),
    ] {
        let mut ms = Vec::new();
        let mut answer = Vec::new();
        for _ in 0..25 {
            let t = Instant::now();
            let q = available::parse_query(Some(precision), Some(from), Some(to))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let lo = q.start.unwrap_or(Time90k(i64::MIN / 2));
            let hi = q.end.unwrap_or(Time90k(i64::MAX / 2));
            let runs: Vec<(Time90k, Time90k)> = index::runs_in(&db, STREAM, lo, hi)
                .await?
                .into_iter()
                .map(|r| (r.kept_from, r.end))
                .collect();
            answer = available::answer(&q, &runs);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{label}: median {:.2} ms ({} ranges)", median(ms), answer.len());
    }
    Ok(())
}
