//! What being one node of several costs the database (issue 17): a heartbeat (the
//! node's row with N live streams, renewing its N leases — one query per 400 —, reading
//! every lease) and the
//! configuration poll, timed for N = 10, 100 and 1,000 streams.
//!
//!   URL=$(bench/pg.sh) && BENCH_DATABASE_URL=$URL cargo run --release --example cluster_costs

use rewind::db::Db;
use rewind::nodes::{self, StreamSummary};
use rewind::{config_sync, leases};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile_dir();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/rewind.db?mode=rwc", dir.display()));
    let db = Db::open(&url).await?;
    nodes::announce(&db, "bench", "http://127.0.0.1:1", 0).await?;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    for n in [10usize, 100, 1000] {
        let prefix = format!("bench{n}");
        let mut streams = Vec::with_capacity(n);
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("{prefix}.example/live/cam{i}");
            leases::acquire(&db, &id, "bench", now_ms).await?;
            held.push(id.clone());
            streams.push(StreamSummary { id, bitrate_kbps: 2000, ..Default::default() });
        }
        let mut beats = Vec::new();
        for i in 0..50 {
            let t = Instant::now();
            nodes::beat(&db, "bench", now_ms / 1000 + i, &streams).await?;
            leases::renew(&db, "bench", &held, now_ms + i * 5000).await?;
            leases::held(&db, now_ms + i * 5000).await?;
            beats.push(t.elapsed());
        }
        println!("{n:>5} streams: heartbeat (beat + renew + read leases) median {:.2} ms", median(beats));
    }
    let mut polls = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        config_sync::version(&db).await?;
        polls.push(t.elapsed());
    }
    println!("configuration poll median {:.3} ms (2 per second per node)", median(polls));
    let mut takes = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        leases::acquire(&db, &format!("take/live/s{i}"), "bench", now_ms).await?;
        takes.push(t.elapsed());
    }
    println!("lease taken at publish median {:.3} ms", median(takes));
    Ok(())
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rewind-cluster-costs-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
