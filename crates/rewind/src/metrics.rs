//! Prometheus metrics: plain atomics per server, rendered as text on `/metrics`.
//! No global registry, so several servers in one test process never mix counts.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// A counter split by a fixed set of label values.
#[derive(Debug)]
pub struct LabeledCounter<const N: usize> {
    label: &'static str,
    values: [&'static str; N],
    counts: [AtomicU64; N],
}

impl<const N: usize> LabeledCounter<N> {
    const fn new(label: &'static str, values: [&'static str; N]) -> Self {
        LabeledCounter { label, values, counts: [const { AtomicU64::new(0) }; N] }
    }
    /// Adds one under `value` (unknown values count under the last label).
    pub fn inc(&self, value: &str) {
        let i = self.values.iter().position(|v| *v == value).unwrap_or(N - 1);
        self.counts[i].fetch_add(1, Relaxed);
    }
    /// The count under `value`.
    pub fn get(&self, value: &str) -> u64 {
        self.values.iter().position(|v| *v == value).map_or(0, |i| self.counts[i].load(Relaxed))
    }
}

/// Reasons a publish is refused.
pub const REFUSAL_REASONS: [&str; 8] = [
    "auth_missing",
    "auth_invalid",
    "auth_expired",
    "duplicate",
    "bad_name",
    "shutting_down",
    "forbidden",
    "other",
];
/// Kinds of protocol error that close a connection.
pub const PROTOCOL_ERROR_KINDS: [&str; 8] =
    ["handshake", "chunk", "amf", "command", "codec", "timestamp", "timeout", "other"];

/// Every metric of one server.
#[derive(Debug)]
pub struct Metrics {
    /// RTMP connections accepted.
    pub rtmp_connections_total: AtomicU64,
    /// RTMP connections open now.
    pub rtmp_connections_active: AtomicI64,
    /// Publishes accepted.
    pub publishes_total: AtomicU64,
    /// Streams being published now.
    pub publishes_active: AtomicI64,
    /// Bytes of media messages received.
    pub ingest_bytes_total: AtomicU64,
    /// Frames received, by track.
    pub ingest_frames_total: LabeledCounter<2>,
    /// Publishes refused, by reason.
    pub publish_refused_total: LabeledCounter<8>,
    /// Connections closed for a protocol error, by kind.
    pub protocol_errors_total: LabeledCounter<8>,
    /// Frames hub readers lost by falling too far behind.
    pub hub_reader_lagged_frames_total: AtomicU64,
    /// Recorders running now.
    pub recorders_active: AtomicI64,
    /// Recording files finished and in the library.
    pub recording_files_total: AtomicU64,
    /// Recordings that failed (I/O or database errors).
    pub recording_failures_total: AtomicU64,
    /// Tries to put a finished file in the library that failed and were retried.
    pub library_insert_retries_total: AtomicU64,
    /// Timeline chunks sealed and indexed.
    pub timeline_chunks_total: AtomicU64,
    /// Library records and timeline chunks an audit dropped: their bytes were gone.
    pub storage_audit_rows_dropped_total: AtomicU64,
    /// Objects an audit removed: no record or chunk named them.
    pub storage_audit_objects_removed_total: AtomicU64,
    /// API requests passed to the node that has the stream live (`api::forward`).
    pub forwarded_requests_total: AtomicU64,
    /// Timeline chunks deleted by retention.
    pub timeline_chunks_deleted_total: AtomicU64,
    /// Timeline chunks deleted because the disk was short of space.
    pub timeline_chunks_deleted_for_space_total: AtomicU64,
    /// Library files deleted because their storage time passed.
    pub media_deleted_expired_total: AtomicU64,
    /// Library files deleted to get back under the disk budget.
    pub media_deleted_budget_total: AtomicU64,
    /// Bytes of the media library (as of the last sweep).
    pub media_bytes: AtomicU64,
    /// Callback events the receiver took.
    pub callbacks_delivered_total: AtomicU64,
    /// Callback tries that failed (each is retried until its last).
    pub callbacks_failed_tries_total: AtomicU64,
    /// Callback events given up after their last try.
    pub callbacks_given_up_total: AtomicU64,
    /// Callback events waiting for delivery (as of the sender's last look).
    pub callbacks_pending: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            rtmp_connections_total: AtomicU64::new(0),
            rtmp_connections_active: AtomicI64::new(0),
            publishes_total: AtomicU64::new(0),
            publishes_active: AtomicI64::new(0),
            ingest_bytes_total: AtomicU64::new(0),
            ingest_frames_total: LabeledCounter::new("track", ["video", "audio"]),
            publish_refused_total: LabeledCounter::new("reason", REFUSAL_REASONS),
            protocol_errors_total: LabeledCounter::new("kind", PROTOCOL_ERROR_KINDS),
            hub_reader_lagged_frames_total: AtomicU64::new(0),
            recorders_active: AtomicI64::new(0),
            recording_files_total: AtomicU64::new(0),
            recording_failures_total: AtomicU64::new(0),
            library_insert_retries_total: AtomicU64::new(0),
            timeline_chunks_total: AtomicU64::new(0),
            forwarded_requests_total: AtomicU64::new(0),
            storage_audit_rows_dropped_total: AtomicU64::new(0),
            storage_audit_objects_removed_total: AtomicU64::new(0),
            timeline_chunks_deleted_total: AtomicU64::new(0),
            timeline_chunks_deleted_for_space_total: AtomicU64::new(0),
            media_deleted_expired_total: AtomicU64::new(0),
            media_deleted_budget_total: AtomicU64::new(0),
            media_bytes: AtomicU64::new(0),
            callbacks_delivered_total: AtomicU64::new(0),
            callbacks_failed_tries_total: AtomicU64::new(0),
            callbacks_given_up_total: AtomicU64::new(0),
            callbacks_pending: AtomicI64::new(0),
        }
    }
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
}

fn labeled<const N: usize>(out: &mut String, name: &str, help: &str, c: &LabeledCounter<N>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (v, n) in c.values.iter().zip(&c.counts) {
        let _ = writeln!(out, "{name}{{{}=\"{v}\"}} {}", c.label, n.load(Relaxed));
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(2048);
        scalar(
            &mut o,
            "rewind_rtmp_connections_total",
            "counter",
            "RTMP connections accepted.",
            self.rtmp_connections_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_rtmp_connections_active",
            "gauge",
            "RTMP connections open.",
            self.rtmp_connections_active.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_publishes_total",
            "counter",
            "Publishes accepted.",
            self.publishes_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_publishes_active",
            "gauge",
            "Streams being published.",
            self.publishes_active.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_ingest_bytes_total",
            "counter",
            "Bytes of audio/video messages received.",
            self.ingest_bytes_total.load(Relaxed),
        );
        labeled(&mut o, "rewind_ingest_frames_total", "Frames received.", &self.ingest_frames_total);
        labeled(&mut o, "rewind_publish_refused_total", "Publishes refused.", &self.publish_refused_total);
        labeled(
            &mut o,
            "rewind_protocol_errors_total",
            "Connections closed for a protocol error.",
            &self.protocol_errors_total,
        );
        scalar(
            &mut o,
            "rewind_hub_reader_lagged_frames_total",
            "counter",
            "Frames lost by hub readers that fell behind.",
            self.hub_reader_lagged_frames_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_recorders_active",
            "gauge",
            "Recorders running.",
            self.recorders_active.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_recording_files_total",
            "counter",
            "Recording files finished.",
            self.recording_files_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_recording_failures_total",
            "counter",
            "Recordings that failed.",
            self.recording_failures_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_library_insert_retries_total",
            "counter",
            "Failed tries to put a finished file in the library (retried; then adopted at the next start).",
            self.library_insert_retries_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_timeline_chunks_total",
            "counter",
            "Timeline chunks sealed and indexed.",
            self.timeline_chunks_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_storage_audit_rows_dropped_total",
            "counter",
            "Library records and timeline chunks an audit dropped because their bytes were gone.",
            self.storage_audit_rows_dropped_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_storage_audit_objects_removed_total",
            "counter",
            "Objects in the bucket an audit removed because no record or chunk named them.",
            self.storage_audit_objects_removed_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_forwarded_requests_total",
            "counter",
            "API requests about a stream live on another node, passed to that node.",
            self.forwarded_requests_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_timeline_chunks_deleted_total",
            "counter",
            "Timeline chunks deleted by retention.",
            self.timeline_chunks_deleted_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_timeline_chunks_deleted_for_space_total",
            "counter",
            "Timeline chunks deleted because the disk was short of space ([timeline] min_free_percent).",
            self.timeline_chunks_deleted_for_space_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_media_deleted_expired_total",
            "counter",
            "Library files deleted because their storage time passed.",
            self.media_deleted_expired_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_media_deleted_over_budget_total",
            "counter",
            "Library files deleted, oldest first, to get back under the disk budget.",
            self.media_deleted_budget_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_media_bytes",
            "gauge",
            "Bytes of the media library as of the last retention sweep.",
            self.media_bytes.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_callbacks_delivered_total",
            "counter",
            "Callback events the receiver answered with 2xx.",
            self.callbacks_delivered_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_callbacks_failed_tries_total",
            "counter",
            "Callback tries that failed (non-2xx, timeout, refused); retried until the last.",
            self.callbacks_failed_tries_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_callbacks_given_up_total",
            "counter",
            "Callback events given up after their last try (see /v1/callbacks/failed).",
            self.callbacks_given_up_total.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_callbacks_pending",
            "gauge",
            "Callback events waiting for delivery.",
            self.callbacks_pending.load(Relaxed),
        );
        scalar(
            &mut o,
            "rewind_preroll_bytes",
            "gauge",
            "Bytes held in memory for event clips' pre-roll, all streams.",
            crate::hub::preroll_bytes(),
        );
        o
    }
}
