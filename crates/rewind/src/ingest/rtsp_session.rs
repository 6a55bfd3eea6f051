//! One pull of an RTSP camera (retina's client): DESCRIBE, SETUP of its H.264/H.265
//! video and its AAC audio, PLAY, then every frame through `Tracks` onto the stream's
//! hub — a publish through the same lifecycle as an RTMP push — until the camera
//! closes, fails, goes silent, or the source is stopped. Reconnecting is the caller's
//! (`sources::puller`): each pull is one publish session.

use crate::ingest::lifecycle;
use crate::ingest::pull_reactor::Reactor;
use crate::ingest::tracks::{Produced, Tracks};
use crate::server::Services;
use crate::sources::spec::Source;
use crate::sources::status::Status;
use bytes::Bytes;
use retina::client::{self, Credentials, PlayOptions, SessionGroup, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, ParametersRef};
use rewind_media::aac::AacConfig;
use rewind_media::avc::AvcConfig;
use rewind_media::decode_times::DecodeTimes;
use rewind_media::hevc::HevcConfig;
use rewind_media::interleave::{DEFAULT_BOUND, Interleave};
use rewind_media::time::TICKS_PER_SECOND;
use rewind_media::{CodecConfig, Duration90k, Frame, Time90k, Track};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long DESCRIBE, SETUP and PLAY may each take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// With `auto`: how long UDP may stay silent after PLAY before TCP is tried.
pub const UDP_PROBE: Duration = Duration::from_secs(4);

/// How RTP travels in this pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Interleaved on the RTSP connection.
    Tcp,
    /// Datagrams; `probe` is how long to wait for the first one.
    Udp {
        /// A camera silent this long after PLAY counts as refusing UDP.
        probe: Option<Duration>,
    },
}

/// Why a pull ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The source was stopped (disabled, changed, deleted, server shutdown).
    Stopped,
    /// The camera failed, in words for `last_error` (no password in them).
    Failed(String),
    /// Over UDP, nothing arrived within the probe: try TCP.
    UdpSilent,
}

/// One pull's inputs.
pub struct Pull<'a> {
    /// The server.
    pub svc: &'a Arc<Services>,
    /// The source.
    pub source: &'a Source,
    /// The transport for this attempt.
    pub wire: Wire,
    /// Counters the metrics show.
    pub status: &'a Status,
    /// Cancelled to stop the pull.
    pub stop: CancellationToken,
    /// Tears down the camera's sessions of earlier pulls before new ones start.
    pub group: Arc<SessionGroup>,
}

/// Pulls until the camera stops or `stop`; `on_live(note)` is called once the publish
/// began (the note says what is not recorded); the bool says whether it went live.
pub async fn pull(p: Pull<'_>, on_live: impl FnOnce(Option<String>)) -> (Ended, bool) {
    let mut live = None;
    let mut interleave = Interleave::new(true, true, DEFAULT_BOUND);
    let r = tokio::select! {
        _ = p.stop.cancelled() => Ok(Ended::Stopped),
        r = run(&p, &mut live, &mut interleave, on_live) => r,
    };
    let went_live = live.is_some();
    if let Some((live, started)) = live {
        // What waited for the other track is recorded too.
        let mut rest = Vec::new();
        interleave.drain(&mut rest);
        for frame in rest {
            live.hub.publish(frame);
        }
        live.hub.flush();
        lifecycle::end(p.svc, &live, started.elapsed().as_secs()).await;
    }
    (r.unwrap_or_else(Ended::Failed), went_live)
}

type Live = Option<(Arc<crate::registry::LiveStream>, Instant)>;

async fn run(
    p: &Pull<'_>,
    live_out: &mut Live,
    interleave: &mut Interleave<Frame>,
    on_live: impl FnOnce(Option<String>),
) -> Result<Ended, String> {
    let url = &p.source.url;
    let creds = url
        .user
        .clone()
        .map(|username| Credentials { username, password: url.password.clone().unwrap_or_default() });
    let opts = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("rewind/{}", env!("CARGO_PKG_VERSION")))
        .session_group(p.group.clone());
    // What the camera sends is taken once per tick of the process-wide clock (as RTMP
    // publishers are read, `socket_batch`) and the hub flushed once per batch: retina's
    // sockets are registered with the ticked reactor, so N cameras cost a wake-up per
    // tick instead of one per RTP packet each.
    let batch = Duration::from_millis(p.svc.config.rtmp.read_batch_ms);
    let reactor = Reactor::for_batch(batch, matches!(p.wire, Wire::Udp { .. }));
    // Eager until the publish begins: the handshake's round trips are not batched.
    let mut eager = Some(reactor.eager());
    let mut session =
        timed("DESCRIBE", reactor.run(client::Session::describe(url.dial.clone(), opts))).await?;
    let streams = session.streams();
    let video =
        streams.iter().position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"));
    let audio = streams.iter().position(|s| s.media() == "audio" && s.encoding_name() == "mpeg4-generic");
    let mut notes = Vec::new();
    if video.is_none()
        && let Some(s) = streams.iter().find(|s| s.media() == "video")
    {
        notes.push(format!(
            "video {} is not recorded (only H.264 and H.265 are)",
            s.encoding_name().to_uppercase()
        ));
    }
    if audio.is_none()
        && let Some(s) = streams.iter().find(|s| s.media() == "audio")
    {
        notes.push(format!("audio {} is not recorded (only AAC is)", s.encoding_name().to_uppercase()));
    }
    if video.is_none() && audio.is_none() {
        return Err(format!("the camera offers nothing rewind records: {}", notes.join("; ")));
    }
    // A camera sends its sound and pictures on their own schedules: files get them in
    // decode-time order.
    *interleave = Interleave::new(video.is_some(), audio.is_some(), DEFAULT_BOUND);
    let transport = match p.wire {
        Wire::Tcp => client::Transport::Tcp(Default::default()),
        Wire::Udp { .. } => client::Transport::Udp(Default::default()),
    };
    for i in [video, audio].into_iter().flatten() {
        let opts = SetupOptions::default().transport(transport.clone());
        timed("SETUP", reactor.run(session.setup(i, opts))).await?;
    }
    let play = PlayOptions::default().initial_timestamp(client::InitialTimestampPolicy::Permissive);
    let mut media =
        timed("PLAY", reactor.run(session.play(play))).await?.demuxed().map_err(|e| describe(&e))?;

    let id = p.source.stream.clone();
    let mut tracks = Tracks::pulled();
    for (i, track) in [(video, Track::Video), (audio, Track::Audio)] {
        if let Some(i) = i {
            configure(&mut tracks, track, media.streams()[i].parameters())?;
        }
    }
    let rtp_timeout = Duration::from_secs(p.source.rtp_timeout_secs);
    let first_wait = match p.wire {
        Wire::Udp { probe: Some(probe) } => probe,
        _ => rtp_timeout,
    };
    let peer = peer_of(&url.dial).await;
    let start = lifecycle::Start { id, query: String::new(), peer, check_push_keys: false };
    let mut on_live = Some(on_live);
    let mut last_media = Instant::now();
    let mut stats_at = Instant::now();
    let mut stats_bytes = 0u64;
    let mut unflushed = false;
    // Armed for the wait's end on each wait; reset, not re-created, so that waiting
    // costs no timer registration.
    let mut silence = std::pin::pin!(tokio::time::sleep(first_wait));
    // RTP carries presentation times only: decode times are derived (B-frames).
    let mut decode_times = DecodeTimes::default();
    let mut timed = Vec::new();
    let mut ready = Vec::with_capacity(rewind_media::decode_times::LEARN_FRAMES);
    let mut in_order = Vec::new();
    loop {
        let wait = if live_out.is_some() { rtp_timeout } else { first_wait };
        let next = match reactor.next_now(&mut media) {
            Some(next) => Some(next),
            None => {
                if let Some((live, _)) = live_out.as_ref().filter(|_| unflushed) {
                    live.hub.flush();
                    unflushed = false;
                }
                silence.as_mut().reset((last_media + wait).into());
                tokio::select! {
                    biased;
                    next = reactor.next(&mut media) => Some(next),
                    _ = &mut silence => None,
                }
            }
        };
        let item = match next {
            None if live_out.is_none() && matches!(p.wire, Wire::Udp { probe: Some(_) }) => {
                return Ok(Ended::UdpSilent);
            }
            None => return Err(format!("no RTP for {} s", wait.as_secs())),
            Some(None) => return Err("the camera ended the session".into()),
            Some(Some(Err(e))) => return Err(describe(&e)),
            Some(Some(Ok(item))) => item,
        };
        let now = p.svc.clock.now();
        let mut new_parameters = false;
        ready.clear();
        match item {
            CodecItem::VideoFrame(f) => {
                last_media = Instant::now();
                p.status.packets_lost.fetch_add(u64::from(f.loss()), Relaxed);
                if f.has_new_parameters()
                    && let Some(i) = video
                {
                    configure(&mut tracks, Track::Video, media.streams()[i].parameters())?;
                    new_parameters = true;
                }
                let pts = to_90k(f.timestamp());
                let key = f.is_random_access_point();
                decode_times
                    .push(pts, (key, Bytes::from(f.into_data())), &mut timed)
                    .map_err(|e| e.to_string())?;
                for t in timed.drain(..) {
                    let (key, data) = t.item;
                    ready.push(tracks.frame(Track::Video, t.dts, t.pts - t.dts, key, data, now));
                }
            }
            CodecItem::AudioFrame(f) => {
                last_media = Instant::now();
                p.status.packets_lost.fetch_add(u64::from(f.loss()), Relaxed);
                let dts = to_90k(f.timestamp());
                ready.push(tracks.frame(
                    Track::Audio,
                    dts,
                    Duration90k(0),
                    true,
                    Bytes::copy_from_slice(f.data()),
                    now,
                ));
            }
            CodecItem::Rtcp(r) => {
                sender_report(&mut tracks, &r, now, &p.source.source_id);
                continue;
            }
            _ => continue,
        };
        for produced in ready.drain(..) {
            let frame = match produced.map_err(|e| e.to_string())? {
                Produced::Frame(f) => f,
                _ => continue,
            };
            if live_out.is_none() {
                // The publish begins with the first frame: a camera that answers but sends
                // nothing never shows up as a live stream.
                let live = lifecycle::begin(p.svc, start.clone()).await.map_err(|r| r.description)?;
                *live.media.lock().unwrap_or_else(|e| e.into_inner()) = tracks.media_info();
                *live_out = Some((live, Instant::now()));
                drop(eager.take());
                if let Some(f) = on_live.take() {
                    f((!notes.is_empty()).then(|| notes.join("; ")));
                }
            }
            let Some((live, _)) = live_out.as_ref() else { continue };
            if live.drop.is_cancelled() {
                return Err("dropped through the API".into());
            }
            let len = frame.data.len() as u64;
            live.bytes_in.fetch_add(len, Relaxed);
            live.frames_in.fetch_add(1, Relaxed);
            p.status.bytes.fetch_add(len, Relaxed);
            interleave.push(frame.track, frame.dts, frame, &mut in_order);
        }
        let Some((live, _)) = live_out.as_ref() else { continue };
        for frame in in_order.drain(..) {
            live.hub.publish(frame);
            unflushed = true;
        }
        if stats_at.elapsed() >= Duration::from_secs(1) || new_parameters {
            *live.media.lock().unwrap_or_else(|e| e.into_inner()) = tracks.media_info();
            let bytes = live.bytes_in();
            let kbps = (bytes - stats_bytes) as f64 * 8.0 / 1000.0 / stats_at.elapsed().as_secs_f64();
            live.bitrate_kbps.store(kbps.round() as u64, Relaxed);
            stats_at = Instant::now();
            stats_bytes = bytes;
        }
    }
}

/// A step of the RTSP dialogue, bounded in time, its error in words.
async fn timed<T>(what: &str, f: impl Future<Output = Result<T, retina::Error>>) -> Result<T, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Err(_) => Err(format!("{what} got no answer within {} s", REQUEST_TIMEOUT.as_secs())),
        Ok(r) => r.map_err(|e| describe(&e)),
    }
}

/// A retina error in the few words an operator needs ("401 Unauthorized",
/// "connection refused"); the dialled URL never has the password in it.
fn describe(e: &retina::Error) -> String {
    if let Some(code) = e.status_code() {
        let reason = match code {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            453 => "Not Enough Bandwidth",
            454 => "Session Not Found",
            461 => "Unsupported Transport",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "from the camera",
        };
        return format!("{code} {reason}");
    }
    let text = e.to_string();
    let lower = text.to_lowercase();
    for (needle, words) in [
        ("connection refused", "connection refused"),
        ("connection reset", "connection reset by the camera"),
        ("no route to host", "no route to host"),
        ("failed to lookup", "host name not found"),
        ("name or service not known", "host name not found"),
        ("timed out", "timed out"),
        ("eof", "the camera closed the connection"),
        ("wrong ssrc", "the camera changed its RTP SSRC mid-stream"),
        ("rtsp framing error", "garbage on the connection (not RTSP or interleaved RTP)"),
    ] {
        if lower.contains(needle) {
            return words.into();
        }
    }
    text.lines().next().unwrap_or("error").chars().take(300).collect()
}

/// A track's parameters from retina into our codec configuration.
fn configure(tracks: &mut Tracks, track: Track, p: Option<ParametersRef<'_>>) -> Result<(), String> {
    let c = match p {
        None => return Ok(()), // in-band parameter sets will come with the first frame
        Some(ParametersRef::Video(v)) => {
            let rec = Bytes::copy_from_slice(v.extra_data());
            if v.rfc6381_codec().starts_with("avc") {
                AvcConfig::parse(rec).map(CodecConfig::Avc)
            } else {
                HevcConfig::parse(rec).map(CodecConfig::Hevc)
            }
        }
        Some(ParametersRef::Audio(a)) => {
            AacConfig::parse(Bytes::copy_from_slice(a.extra_data())).map(CodecConfig::Aac)
        }
        Some(_) => return Ok(()),
    };
    match c {
        Ok(c) => {
            tracks.configure(track, c);
            Ok(())
        }
        Err(e) => tracks.codec_error(track, e).map(|_| ()).map_err(|e| e.to_string()),
    }
}

/// An RTP timestamp, from the session's start, in 90 kHz ticks.
fn to_90k(t: retina::Timestamp) -> Time90k {
    let rate = i128::from(t.clock_rate().get());
    Time90k((i128::from(t.elapsed()) * i128::from(TICKS_PER_SECOND) / rate) as i64)
}

/// Seconds between 1900 (NTP's epoch) and 1970.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A sender report maps the camera's media time to its wall clock.
fn sender_report(
    tracks: &mut Tracks,
    r: &retina::rtcp::ReceivedCompoundPacket,
    now: Time90k,
    source_id: &str,
) {
    let Some(rtp) = r.rtp_timestamp() else { return };
    let Some(Ok(Some(sr))) = r.pkts().next().map(|p| p.as_sender_report()) else { return };
    let Some(utc) = ntp_to_utc(sr.ntp_timestamp().0) else { return };
    if !tracks.sender_report(to_90k(rtp), utc, now) {
        tracing::debug!(
            source_id,
            camera_utc_ms = utc.as_ms(),
            "camera clock too far from ours: receive time used"
        );
    }
}

/// An NTP timestamp (seconds since 1900 in 32.32 fixed point) as a wall-clock instant;
/// None before 1970 (a camera whose clock was never set).
fn ntp_to_utc(ntp: u64) -> Option<Time90k> {
    let secs = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET_SECS)?;
    Some(Time90k::from_unix_micros(
        secs as i64 * 1_000_000 + (((ntp & 0xffff_ffff) * 1_000_000) >> 32) as i64,
    ))
}

/// The camera's address for the stream's `publisher_addr` (unspecified if unresolved).
async fn peer_of(u: &url::Url) -> SocketAddr {
    let host = u.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
    let port = u.port().unwrap_or(554);
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(mut a) => a.next().unwrap_or(SocketAddr::from(([0, 0, 0, 0], port))),
        Err(_) => SocketAddr::from(([0, 0, 0, 0], port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_time_becomes_unix_time() {
        // 2026-12-05T00:00:00.5Z
        let unix = 1_796_428_800u64;
        let ntp = ((unix + NTP_UNIX_OFFSET_SECS) << 32) | (1u64 << 31);
        assert_eq!(ntp_to_utc(ntp), Some(Time90k::from_unix_micros(unix as i64 * 1_000_000 + 500_000)));
        assert_eq!(ntp_to_utc(5 << 32), None, "a clock that was never set");
    }

    #[test]
    fn timestamps_become_90k_ticks_from_the_session_start() {
        let rate = std::num::NonZeroU32::new(48_000).unwrap();
        let t = retina::Timestamp::new(1_000 + 48_000 * 3, rate, 1_000).unwrap();
        assert_eq!(to_90k(t), Time90k(3 * TICKS_PER_SECOND));
    }
}
