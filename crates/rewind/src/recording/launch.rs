//! Starting recorders on a live stream: one per format a template enables (for a
//! publish's rule, a task or an event clip) and the timeline recorder. What a publish
//! starts is decided by `ingest::lifecycle`.

use crate::recording::recorder::{self, Plan};
use crate::recording::template::{Format, Template};
use crate::registry::LiveStream;
use crate::server::Services;
use crate::timeline::{self, recorder::TimelinePlan};
use rewind_media::Duration90k;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Where new recorders start.
#[derive(Clone, Debug)]
pub enum StartAt {
    /// At the current GOP (what the hub holds).
    Gop,
    /// At the last key frame at or before this wall-clock time in the hub's pre-roll.
    PreRoll(rewind_media::Time90k),
    /// With these past frames (from the timeline), then the current GOP.
    Backlog(Vec<rewind_media::Frame>),
}

/// Starts one recorder per format `template` enables, for `source` ("rule", "task",
/// "event"), from `start`, until the push ends or `stop` is cancelled. Returns the
/// recorders.
pub fn start_recorders(
    svc: &Arc<Services>,
    live: &Arc<LiveStream>,
    template: &Template,
    source: &str,
    task_id: Option<&str>,
    start: StartAt,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut started = Vec::new();
    for format in template.enabled_formats() {
        let param = template.param(format).clone();
        let test = svc.config.recording.test_record_interval_secs;
        let plan = Plan {
            domain: live.id.domain.clone(),
            app: live.id.app.clone(),
            stream: live.id.stream.clone(),
            session_id: live.session_id.clone(),
            // Task recordings carry no push query (as the cloud service does).
            stream_param: task_id.is_none().then(|| live.stream_param.clone()),
            source: source.into(),
            template_id: template.template_id,
            task_id: task_id.map(String::from),
            format,
            interval_secs: if test > 0 { test } else { param.record_interval },
            flow_continue_secs: if source == "rule" && format == Format::Hls {
                template.hls_special.flow_continue_duration
            } else {
                0
            },
            param,
        };
        // Files need no low latency: waking a recorder twice a second (or when its queue
        // is half full), not per socket read, is most of its CPU saved. The queued frames
        // are shared with the GOP cache, so this costs little memory.
        let coalesce = std::time::Duration::from_millis(500);
        let reader = match &start {
            StartAt::Gop => live.hub.subscribe_coalesced(coalesce),
            StartAt::PreRoll(t) => live.hub.subscribe_from(*t, coalesce),
            StartAt::Backlog(frames) => live.hub.subscribe_with_backlog(frames.clone(), coalesce),
        };
        started.push(svc.tasks.spawn(recorder::run(svc.clone(), live.clone(), reader, plan, stop.clone())));
    }
    started
}

/// Starts the timeline recorder when the template or the config asks for one.
pub fn start_timeline(svc: &Arc<Services>, live: &Arc<LiveStream>, template: Option<&Template>) {
    let cfg = &svc.config.timeline;
    let (segment_length, retention_secs) = match template.map(|t| &t.timeline) {
        Some(t) if t.enable => (t.segment_length, t.retention),
        _ if cfg.record_all => (cfg.segment_length, cfg.retention),
        _ => return,
    };
    let secs = if cfg.test_segment_length_secs > 0 { cfg.test_segment_length_secs } else { segment_length };
    let plan = TimelinePlan { segment_length: Duration90k::from_secs(secs as i64), retention_secs };
    // A fragment is a GOP (~2 s): waking twice a second adds at most half a second to
    // the live edge and saves most wake-ups.
    let reader = live.hub.subscribe_coalesced(std::time::Duration::from_millis(500));
    svc.tasks.spawn(timeline::recorder::run(svc.clone(), live.clone(), reader, plan));
}
