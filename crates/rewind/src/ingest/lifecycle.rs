//! One publish lifecycle for every way a stream arrives (RTMP pushes today; RTSP pulls
//! next): whether the stream may be published now (shutdown, push keys, a publisher
//! here or on another node), the live session in the registry, its lease, what it
//! starts (the timeline, the rule's recorders, tasks whose window is open), and its end.
//! Protocol sessions turn a `Refusal` into their own answer (an RTMP status, a source's
//! state) and feed frames to the returned stream's hub.

use crate::callbacks;
use crate::hub::Hub;
use crate::ingest::push_auth;
use crate::recording::launch::{StartAt, start_recorders, start_timeline};
use crate::registry::LiveStream;
use crate::server::Services;
use crate::stream_id::StreamId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio_util::sync::CancellationToken;

/// A publish that may start.
#[derive(Clone, Debug)]
pub struct Start {
    /// The stream.
    pub id: StreamId,
    /// The push URL's query (without `?`), kept with its files.
    pub query: String,
    /// Where the media comes from.
    pub peer: SocketAddr,
    /// Whether the domain's push keys apply (a push; not a pull the operator declared).
    pub check_push_keys: bool,
}

/// Why a publish may not start.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The metric label (`rewind_publish_refused_total{reason}`).
    pub reason: &'static str,
    /// Whether the stream's name is the problem (RTMP `BadName`) rather than the request.
    pub bad_name: bool,
    /// What is wrong, in a sentence.
    pub description: String,
}

/// Begins a publish: the stream is registered here, leased in the cluster and its
/// recorders started. The caller feeds the hub and calls `end` when the media stops.
pub async fn begin(svc: &Arc<Services>, s: Start) -> Result<Arc<LiveStream>, Refusal> {
    let shown = s.id.to_string();
    if svc.shutdown.is_cancelled() {
        return Err(Refusal {
            reason: "shutting_down",
            bad_name: false,
            description: "server is shutting down".into(),
        });
    }
    if s.check_push_keys
        && let Some((settings, _)) = svc.domains.get(&s.id.domain)
        && let Some(auth) = &settings.push_auth
        && let Err(r) = push_auth::check(auth, &s.id.stream, &s.query, svc.clock.now_unix())
    {
        return Err(Refusal { reason: r.reason(), bad_name: false, description: r.describe() });
    }
    match svc.forbids.active(&s.id, svc.clock.now_unix()).await {
        Ok(Some(f)) => {
            let until = crate::wire_time::rfc3339_ms(rewind_media::Time90k(f.resume_at_unix * 90_000));
            let why = if f.reason.is_empty() { String::new() } else { format!(": {}", f.reason) };
            return Err(Refusal {
                reason: "forbidden",
                bad_name: false,
                description: format!("stream {shown} is forbidden until {until}{why}"),
            });
        }
        Ok(None) => {}
        // As with the lease: the push goes on rather than not at all.
        Err(e) => {
            tracing::warn!(stream = %shown, error = %e, "could not read the stream's forbid; publishing")
        }
    }
    let now = svc.clock.now();
    let live = Arc::new(LiveStream {
        id: s.id.clone(),
        session_id: hex::encode(rand::random::<[u8; 12]>()),
        publisher_addr: s.peer,
        started_at: now,
        stream_param: s.query,
        hub: Hub::new(&svc.config.hub),
        media: Default::default(),
        bytes_in: Default::default(),
        frames_in: Default::default(),
        bitrate_kbps: Default::default(),
        drop: svc.shutdown.child_token(),
        lease: Default::default(),
    });
    if let Err(first) = svc.registry.register(live.clone()) {
        // The live session's id is for the operator's log, not for the refused peer.
        tracing::info!(stream = %shown, live_session = %first.session_id, peer = %s.peer, "second publisher of a live stream");
        return Err(Refusal {
            reason: "duplicate",
            bad_name: true,
            description: format!("stream {shown} is already being published"),
        });
    }
    // Another node may have the stream: its lease decides, as the registry does here.
    let now_ms = now.0 / 90;
    match crate::leases::acquire(&svc.db, &shown, &svc.node.name, now_ms).await {
        Ok(Some(epoch)) => {
            let fence = crate::leases::Fence { node: svc.node.name.clone(), epoch };
            let held = crate::leases::Held::new(svc.db.clone(), svc.leases.clone(), shown.clone(), fence);
            let _ = live.lease.set(held);
        }
        Ok(None) => {
            svc.registry.unregister(&live);
            let on = crate::leases::holder(&svc.db, &shown, now_ms).await.ok().flatten();
            let node = on.map_or_else(|| "another node".to_string(), |(n, _)| format!("node {n}"));
            tracing::info!(stream = %shown, peer = %s.peer, %node, "publisher of a stream live on another node");
            return Err(Refusal {
                reason: "duplicate",
                bad_name: true,
                description: format!("stream {shown} is already being published (on {node})"),
            });
        }
        Err(e) => {
            // The push goes on without a lease rather than not at all.
            tracing::warn!(stream = %shown, error = %e, "could not take the stream's lease; publishing without");
        }
    }
    svc.metrics.publishes_total.fetch_add(1, Relaxed);
    svc.metrics.publishes_active.fetch_add(1, Relaxed);
    tracing::info!(peer = %s.peer, stream = %shown, session = %live.session_id, "publish started");
    start_recording(svc, &live);
    if let Err(e) = svc.registry.remember(&live, svc.clock.now_unix()).await {
        tracing::warn!(stream = %shown, error = %e, "could not record the stream in the database");
    }
    let p = crate::publish_history::Publish {
        session_id: live.session_id.clone(),
        id: live.id.clone(),
        node: svc.node.name.clone(),
        peer: live.publisher_addr.to_string(),
        stream_param: live.stream_param.clone(),
        started_at_unix: svc.clock.now_unix(),
        ended_at_unix: None,
        last_seen_unix: 0,
        stop_reason: None,
    };
    if let Err(e) = svc.publishes.started(&p).await {
        tracing::warn!(stream = %shown, error = %e, "could not record the publish in its history");
    }
    stream_event(svc, &live, None).await;
    Ok(live)
}

/// Queues the stream begin (`end` = None) or end event of `live`.
async fn stream_event(svc: &Services, live: &LiveStream, end: Option<(i64, &str)>) {
    let of = callbacks::event::PublishOf {
        id: &live.id,
        session_id: &live.session_id,
        peer: live.publisher_addr,
        stream_param: &live.stream_param,
        node: &svc.node.name,
    };
    let body = callbacks::event::stream_event(&of, svc.config.callbacks.appid, svc.clock.now_unix(), end);
    callbacks::outbox::send(svc, &live.id.domain, body).await;
}

/// What a publish starts: the winning rule's template is read *now* (R-R4: later edits
/// never touch this publish) — the timeline and one recorder per enabled format, each
/// subscribed before the first frame so nothing is missed — and tasks whose window is
/// open.
fn start_recording(svc: &Arc<Services>, live: &Arc<LiveStream>) {
    svc.record_tasks.publish();
    let matched = svc.catalog.match_stream(&live.id);
    start_timeline(svc, live, matched.as_ref().map(|(_, t)| &**t));
    let Some((_, template)) = matched else { return };
    if template.enabled_formats().is_empty() {
        tracing::info!(stream = %live.id, template_id = template.template_id, "not recording: the rule's template enables no format");
        return;
    }
    start_recorders(svc, live, &template, "rule", None, StartAt::Gop, CancellationToken::new());
}

/// Ends a publish: readers are told, the stream leaves the registry (its lease goes
/// when its last recorder lets go of it), and the database remembers it.
pub async fn end(svc: &Services, live: &Arc<LiveStream>, seconds: u64) {
    live.hub.close();
    svc.registry.unregister(live);
    svc.metrics.publishes_active.fetch_sub(1, Relaxed);
    tracing::info!(
        peer = %live.publisher_addr,
        stream = %live.id,
        session = %live.session_id,
        seconds,
        bytes = live.bytes_in(),
        "publish ended"
    );
    if let Err(e) = svc.registry.remember(live, svc.clock.now_unix()).await {
        tracing::warn!(stream = %live.id, error = %e, "could not record the stream in the database");
    }
    let reason = if svc.shutdown.is_cancelled() {
        "the server shut down"
    } else if live.drop.is_cancelled() {
        "the server dropped the publisher"
    } else {
        "the publisher stopped"
    };
    if let Err(e) = svc.publishes.ended(&live.session_id, svc.clock.now_unix(), reason).await {
        tracing::warn!(stream = %live.id, error = %e, "could not record the publish's end in its history");
    }
    let push_ms = (svc.clock.now().0 - live.started_at.0).max(0) / 90;
    stream_event(svc, live, Some((push_ms, reason))).await;
}
