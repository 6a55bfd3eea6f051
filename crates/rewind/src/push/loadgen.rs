//! The load generator: N concurrent publishers of one FLV file at real-time speed.
//!
//! The file is read and parsed once; every publisher shares its tags (`Bytes`) and
//! wakes every 50 ms to send what has come due, so hundreds of streams cost far less
//! CPU than as many ffmpeg processes.

use crate::push::client::Publisher;
use rewind_media::flv::{self, TAG_SCRIPT};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// What to push.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// `rtmp://host:port/app/name`; with `count > 1` streams are `name0`, `name1`, …
    pub url: String,
    /// Concurrent streams.
    pub count: usize,
    /// The FLV file to push (looped).
    pub file: PathBuf,
    /// How long each stream pushes.
    pub duration: Duration,
    /// Streams start spread over this span, not all at once.
    pub ramp: Duration,
}

/// What happened.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Streams that published.
    pub connected: usize,
    /// Streams that failed to publish or were cut off.
    pub failed: usize,
    /// Payload bytes sent, all streams.
    pub bytes: u64,
}

/// Pushes `spec.count` streams for `spec.duration`.
pub async fn run(spec: LoadSpec) -> anyhow::Result<LoadReport> {
    let data = bytes::Bytes::from(tokio::fs::read(&spec.file).await?);
    let tags = Arc::new(flv::read_file(&data)?);
    let media: Vec<_> = tags.iter().filter(|t| t.kind != TAG_SCRIPT).collect();
    anyhow::ensure!(!media.is_empty(), "{} has no audio or video tags", spec.file.display());
    let first = media.iter().map(|t| t.timestamp_ms).min().unwrap_or(0);
    let last = media.iter().map(|t| t.timestamp_ms).max().unwrap_or(0);
    let span = (last - first) as u64 + 40; // one frame of slack between loops
    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..spec.count {
        let url = if spec.count > 1 { insert_index(&spec.url, i) } else { spec.url.clone() };
        let (tags, connected, failed, bytes) =
            (tags.clone(), connected.clone(), failed.clone(), bytes.clone());
        let delay = spec.ramp.mul_f64(i as f64 / spec.count.max(1) as f64);
        let duration = spec.duration;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut p = match Publisher::connect(&url).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%url, error = %e, "publish failed");
                    failed.fetch_add(1, Relaxed);
                    return;
                }
            };
            connected.fetch_add(1, Relaxed);
            let start = Instant::now();
            let end = start + duration;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let (mut loop_no, mut idx) = (0u64, 0usize);
            'push: loop {
                let now = tick.tick().await;
                if now >= end {
                    break;
                }
                let elapsed_ms = (now - start).as_millis() as u64;
                loop {
                    let t = &tags[idx];
                    let at = loop_no * span + (t.timestamp_ms.saturating_sub(first)) as u64;
                    if at > elapsed_ms {
                        break;
                    }
                    // Script data goes out once; its timestamp is meaningless on loops.
                    if t.kind != TAG_SCRIPT || loop_no == 0 {
                        p.queue(t.kind, (first as u64 + at) as u32, &t.body);
                        bytes.fetch_add(t.body.len() as u64, Relaxed);
                    }
                    idx += 1;
                    if idx == tags.len() {
                        idx = 0;
                        loop_no += 1;
                    }
                }
                if p.flush().await.is_err() {
                    failed.fetch_add(1, Relaxed);
                    break 'push;
                }
            }
            let _ = p.close().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(LoadReport {
        connected: connected.load(Relaxed),
        failed: failed.load(Relaxed),
        bytes: bytes.load(Relaxed),
    })
}

/// `rtmp://h/app/name?q` → `rtmp://h/app/name{i}?q`.
fn insert_index(url: &str, i: usize) -> String {
    match url.split_once('?') {
        Some((base, q)) => format!("{base}{i}?{q}"),
        None => format!("{url}{i}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_goes_before_the_query() {
        assert_eq!(super::insert_index("rtmp://h/a/s?x=1", 3), "rtmp://h/a/s3?x=1");
        assert_eq!(super::insert_index("rtmp://h/a/s", 0), "rtmp://h/a/s0");
    }
}
