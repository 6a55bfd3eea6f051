//! A source's state as the API and the metrics show it, kept by the task that pulls it.

use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Where a source is in its life.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Dialling the camera (or waiting for the node that pulls it).
    #[default]
    Connecting,
    /// Media arrives and is published.
    Live,
    /// The last attempt failed; the next one comes after a backoff.
    Retrying,
    /// Not pulled (`enable: false`).
    Disabled,
}

impl State {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Live => "live",
            State::Retrying => "retrying",
            State::Disabled => "disabled",
        }
    }

    /// Every state, for the metrics.
    pub const ALL: [State; 4] = [State::Connecting, State::Live, State::Retrying, State::Disabled];

    /// From the database's word.
    pub fn parse(s: &str) -> State {
        State::ALL.into_iter().find(|x| x.as_str() == s).unwrap_or_default()
    }
}

/// The changing part of a source's status.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Phase {
    /// Its state.
    pub state: State,
    /// Why the last attempt failed, in words (no password in it).
    pub last_error: Option<String>,
    /// Failed attempts since it was last live.
    pub retries: u64,
    /// When the current connection went live (Unix seconds).
    pub connected_at_unix: Option<i64>,
    /// What is pulled but not recorded (an audio codec rewind does not record).
    pub note: Option<String>,
    /// The node that pulls it.
    pub node: Option<String>,
}

/// A source's status: the phase, and counters for the metrics.
#[derive(Debug, Default)]
pub struct Status {
    phase: Mutex<Phase>,
    /// Whether this node pulls the source (else the database has its status).
    pub here: AtomicBool,
    /// Connections that went live after the first.
    pub reconnects: AtomicU64,
    /// RTP packets the camera sent that never arrived (sequence-number gaps).
    pub packets_lost: AtomicU64,
    /// Media bytes received.
    pub bytes: AtomicU64,
}

impl Status {
    /// The phase now.
    pub fn phase(&self) -> Phase {
        self.phase.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the phase.
    pub fn update(&self, f: impl FnOnce(&mut Phase)) -> Phase {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut p);
        p.clone()
    }
}

/// Appends the sources' metrics: one series per source and counter, the state as a
/// 0/1 gauge per state. Ids are the operator's names; URLs (and passwords) never appear.
pub fn render_metrics<'a>(text: &mut String, sources: impl Iterator<Item = (&'a str, &'a Status)> + Clone) {
    use std::fmt::Write;
    text.push_str("# HELP rewind_source_state 1 for the state each RTSP source is in.\n");
    text.push_str("# TYPE rewind_source_state gauge\n");
    for (id, s) in sources.clone() {
        let now = s.phase().state;
        for st in State::ALL {
            let _ = writeln!(
                text,
                "rewind_source_state{{source_id=\"{id}\",state=\"{}\"}} {}",
                st.as_str(),
                (st == now) as u8
            );
        }
    }
    type Counter = fn(&Status) -> &AtomicU64;
    let counters: [(&str, &str, Counter); 3] = [
        ("rewind_source_reconnects_total", "Times each RTSP source went live again after a loss.", |s| {
            &s.reconnects
        }),
        ("rewind_source_rtp_packets_lost_total", "RTP packets each RTSP source lost on the way.", |s| {
            &s.packets_lost
        }),
        ("rewind_source_bytes_total", "Media bytes received from each RTSP source.", |s| &s.bytes),
    ];
    for (name, help, field) in counters {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (id, s) in sources.clone() {
            let _ = writeln!(text, "{name}{{source_id=\"{id}\"}} {}", field(s).load(Relaxed));
        }
    }
}
