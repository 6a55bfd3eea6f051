//! CMAF (fragmented MP4, ISO/IEC 23000-19) for the timeline: one init segment per
//! codec configuration, and fragments of `prft` + `moof` + `mdat`, each one GOP.
//!
//! Every fragment starts with a `prft` box holding its wall-clock start, so a chunk file
//! describes itself: crash recovery rebuilds the index of an unsealed chunk from its
//! bytes alone. Decode times (`tfdt`) are the wall-clock time on the run's clock (90 kHz
//! ticks since the Unix epoch for video, samples since it for audio): a run plays as
//! one continuous timeline, and time never goes back from one run to the next.

use super::mp4::{boxed, full, mdia, put_matrix, sample_entry, tkhd};
use crate::codec::CodecConfig;
use crate::frame::{Frame, Track};
use crate::time::{Duration90k, TICKS_PER_SECOND, Time90k};
use bytes::{BufMut, Bytes, BytesMut};

/// Track id of the video track (when there is one).
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track (when there is one).
pub const AUDIO_TRACK_ID: u32 = 2;
/// Video timescale: our native 90 kHz, so durations are the frames' own.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// An audio-only fragment is cut after this much audio.
const AUDIO_ONLY_FRAGMENT: Duration90k = Duration90k::from_secs(2);
/// A GOP longer than this is split (the later fragment starts without a key frame):
/// it bounds fragment size and live delay for cameras with minute-long GOPs.
const MAX_FRAGMENT: Duration90k = Duration90k::from_secs(60);
/// The longest a run's last picture is held so that it ends with the run's last sound.
const MAX_LAST_PICTURE: Duration90k = Duration90k::from_secs(1);
/// Seconds between 1900 (NTP) and 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// Samples per AAC frame.
const AAC_FRAME: u64 = 1024;

fn audio_rate(c: &CodecConfig) -> u32 {
    match c {
        CodecConfig::Aac(a) => a.sample_rate.max(1),
        _ => 48_000,
    }
}

/// The init segment (`ftyp` + `moov`) for these codec configurations. `duration`
/// (90 kHz) is written into `mehd` when the total is known (a clip); a live timeline
/// leaves it out.
pub fn init_segment(
    video: Option<&CodecConfig>,
    audio: Option<&CodecConfig>,
    duration: Option<Duration90k>,
) -> BytesMut {
    let mut o = BytesMut::with_capacity(1024);
    boxed(&mut o, b"ftyp", |o| {
        o.put_slice(b"iso6");
        o.put_u32(0);
        for b in [b"iso6", b"cmfc", b"isom", b"mp41"] {
            o.put_slice(b);
        }
    });
    let movie_ms = duration.map_or(0, |d| (d.0.max(0) / 90) as u32);
    boxed(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            o.put_u32(0);
            o.put_u32(0);
            o.put_u32(1000);
            o.put_u32(movie_ms);
            o.put_u32(0x0001_0000);
            o.put_u16(0x0100);
            o.put_bytes(0, 10);
            put_matrix(o);
            o.put_bytes(0, 24);
            o.put_u32(3);
        });
        if let Some(v) = video {
            trak(o, VIDEO_TRACK_ID, v);
        }
        if let Some(a) = audio {
            trak(o, AUDIO_TRACK_ID, a);
        }
        boxed(o, b"mvex", |o| {
            if let Some(d) = duration {
                full(o, b"mehd", 1, 0, |o| o.put_u64((d.0.max(0) / 90) as u64));
            }
            for id in [video.map(|_| VIDEO_TRACK_ID), audio.map(|_| AUDIO_TRACK_ID)].into_iter().flatten() {
                full(o, b"trex", 0, 0, |o| {
                    o.put_u32(id);
                    o.put_u32(1);
                    o.put_u32(0);
                    o.put_u32(0);
                    o.put_u32(0);
                });
            }
        });
    });
    o
}

fn trak(o: &mut BytesMut, id: u32, codec: &CodecConfig) {
    let video = codec.track() == Track::Video;
    let (w, h) = codec.dimensions().unwrap_or((0, 0));
    let timescale = if video { VIDEO_TIMESCALE } else { audio_rate(codec) };
    boxed(o, b"trak", |o| {
        tkhd(o, id, 0, video, (w, h));
        mdia(o, video, timescale, 0, |o| {
            full(o, b"stsd", 0, 0, |o| {
                o.put_u32(1);
                sample_entry(o, codec);
            });
            for kind in [b"stts", b"stsc", b"stco"] {
                full(o, kind, 0, 0, |o| o.put_u32(0));
            }
            full(o, b"stsz", 0, 0, |o| o.put_u64(0));
        });
    });
}

/// A finished fragment: its bytes and where it sits in time.
#[derive(Debug)]
pub struct Fragment {
    /// `prft` + `moof` + `mdat` of each track, in file order: the boxes built here and
    /// the frames' payloads as they came (shared, never copied).
    pieces: Vec<Bytes>,
    /// Bytes in `pieces`.
    len: usize,
    /// Decode time of its first frame.
    pub start_dts: Time90k,
    /// Wall-clock time of its first frame, on the run's clock.
    pub utc: Time90k,
    /// Its length: up to the next fragment's first frame.
    pub duration: Duration90k,
    /// Its `mfhd` sequence number.
    pub seq: u32,
    /// It starts with a key frame (false only for a split GOP).
    pub independent: bool,
    /// Bytes of its video part, which comes first (0 without video); the audio part
    /// is the rest.
    pub video_len: u32,
}

impl Fragment {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a fragment of no bytes (never built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its bytes in file order, in pieces: the boxes, then each frame's payload.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// Its bytes in one buffer (a copy: for tests and small users).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len);
        for p in &self.pieces {
            out.put_slice(p);
        }
        out.freeze()
    }
}

/// Cuts one run of frames into fragments. A run is one continuous stretch of one
/// codec configuration: a new run (new session, codec change, time jump) needs a new
/// `Fragmenter` and, for a codec change, a new init segment.
#[derive(Debug)]
pub struct Fragmenter {
    has_video: bool,
    audio_rate: u32,
    video: Vec<Frame>,
    audio: Vec<Frame>,
    /// Decode time 0 of the run, and its wall-clock time: a run's wall clock is its
    /// media clock from there on, so its fragments tile it with no gap or overlap.
    base: Option<(Time90k, Time90k)>,
    /// Where the next audio fragment's decode time is expected (in samples): audio
    /// keeps counting samples so rounding never makes it jitter.
    audio_next: Option<u64>,
    /// The run's first video frame's composition offset (B-frame reordering delay).
    /// Every presentation time of the run is moved earlier by it — video through
    /// negative composition offsets, audio through its decode times — so video is
    /// presented from each fragment's decode time (CMAF: earliest presentation time =
    /// `baseMediaDecodeTime`) and audio keeps its sync with it. Without it a run starts
    /// with a hole of the delay, which players seek over or stall at.
    presentation_shift: Option<Duration90k>,
    seq: u32,
}

impl Fragmenter {
    /// A fragmenter for a run whose tracks are these; `first_seq` numbers its first
    /// fragment.
    pub fn new(has_video: bool, audio: Option<&CodecConfig>, first_seq: u32) -> Self {
        Fragmenter {
            has_video,
            audio_rate: audio.map_or(48_000, audio_rate),
            video: Vec::new(),
            audio: Vec::new(),
            base: None,
            audio_next: None,
            presentation_shift: None,
            seq: first_seq,
        }
    }

    /// The wall-clock time the run gives decode time `dts` (None before its first frame).
    pub fn utc_of(&self, dts: Time90k) -> Option<Time90k> {
        self.base.map(|(b, u)| u + (dts - b))
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.video.is_empty() && self.audio.is_empty()
    }

    /// Adds a frame; returns the fragment it closed, when `f` begins a new one. Frames
    /// before the first video key frame of a video run are dropped (nothing could
    /// decode them).
    pub fn push(&mut self, f: Frame) -> Option<Fragment> {
        let started = !self.video.is_empty() || (!self.has_video && !self.audio.is_empty());
        if !started {
            let can_start = if self.has_video { f.track == Track::Video && f.keyframe } else { true };
            if !can_start {
                return None;
            }
        }
        let cut = started
            && match (self.has_video, f.track) {
                (true, Track::Video) => f.keyframe || f.dts - self.video[0].dts >= MAX_FRAGMENT,
                (false, Track::Audio) => f.dts - self.audio[0].dts >= AUDIO_ONLY_FRAGMENT,
                _ => false,
            };
        let done = if cut { self.build(Some(f.dts)) } else { None };
        self.base.get_or_insert((f.dts, f.utc));
        if f.track == Track::Video && self.presentation_shift.is_none() {
            self.presentation_shift = Some(f.cts().max(Duration90k(0)));
        }
        match f.track {
            Track::Video => self.video.push(f),
            Track::Audio => self.audio.push(f),
        }
        done
    }

    /// Closes the fragment being built (end of the run).
    pub fn finish(&mut self) -> Option<Fragment> {
        self.build(None)
    }

    /// Builds the fragment of the frames held, `end` being the next fragment's first
    /// decode time when known.
    fn build(&mut self, end: Option<Time90k>) -> Option<Fragment> {
        let lead = if self.has_video { self.video.first() } else { self.audio.first() }?.clone();
        let (base, base_utc) = self.base.unwrap_or((lead.dts, lead.utc));
        let utc = base_utc + (lead.dts - base);
        let video = std::mem::take(&mut self.video);
        let audio = std::mem::take(&mut self.audio);
        let mut video_durs = durations(&video, end, |_| Duration90k(3000));
        let aac_ticks = Duration90k(AAC_FRAME as i64 * TICKS_PER_SECOND / self.audio_rate as i64);
        let shift = self.presentation_shift.unwrap_or(Duration90k(0));
        // Decode times are wall-clock times on the run's clock: they never go back, even
        // across runs, so players that join fragments of several runs keep them in order.
        let wall = |dts: Time90k| (base_utc + (dts - base)).0.max(0) as u64;
        let audio_tfdt = audio.first().map(|a| {
            let at = (wall(a.dts) as i64 - shift.0).max(0) as u128;
            let actual = (at * self.audio_rate as u128 / TICKS_PER_SECOND as u128) as u64;
            match self.audio_next {
                Some(next) if next.abs_diff(actual) <= 2 * AAC_FRAME => next,
                _ => actual,
            }
        });
        if let Some(t) = audio_tfdt {
            self.audio_next = Some(t + audio.len() as u64 * AAC_FRAME);
        }
        let end_dts = match (self.has_video, video.last(), audio.last()) {
            (true, Some(last), a) => {
                let video_end = last.dts + *video_durs.last().unwrap_or(&Duration90k(0));
                match (end, a, self.audio_next) {
                    // A run's last fragment lasts until its last sound (where the audio
                    // samples written end), not only its last picture: a manifest that
                    // ends before media it serves makes dash.js see the end first, seek
                    // back and pause short of `ended`. Both are presentation times on the
                    // fragment's clock (the key frame presented at its decode time, audio
                    // moved earlier by the shift), so the run ends where its media does.
                    (None, Some(_), Some(samples)) => {
                        let rate = self.audio_rate as u128;
                        let ticks = (samples as u128 * TICKS_PER_SECOND as u128).div_ceil(rate) as i64;
                        let sound_end = base + Duration90k(ticks - base_utc.0);
                        let end_dts = video_end.max(sound_end);
                        // The last picture stays up until then: no track ends early, so
                        // the next period follows without a hole for players to jump.
                        let shown = last.dts + (last.cts() - shift);
                        if let Some(d) = video_durs.last_mut()
                            && end_dts - shown > *d
                            && end_dts - shown <= MAX_LAST_PICTURE
                        {
                            *d = end_dts - shown;
                        }
                        end_dts
                    }
                    _ => video_end,
                }
            }
            (_, _, Some(last)) => end.unwrap_or(last.dts + aac_ticks),
            _ => lead.dts,
        };
        let mut boxes = BytesMut::with_capacity(512 + 16 * (video.len() + audio.len()));
        let mut pieces = Vec::with_capacity(video.len() + audio.len() + 2);
        // One part per track (prft + moof + mdat each): HLS plays the pair as one
        // segment, DASH addresses each track's part as its own representation's segment.
        let mut video_len = 0;
        if !video.is_empty() {
            let tfdt = wall(video[0].dts);
            video_len = part(&mut boxes, &mut pieces, self.seq, VIDEO_TRACK_ID, tfdt, utc, video, |i, f| {
                let flags = if f.keyframe { 0x0200_0000 } else { 0x0101_0000 };
                (video_durs[i].0.max(0) as u32, flags, (f.cts().0 - shift.0) as i32)
            });
        }
        let mut len = video_len;
        if let Some(tfdt) = audio_tfdt {
            let audio_utc = if self.has_video { base_utc + (audio[0].dts - base) - shift } else { utc };
            len += part(&mut boxes, &mut pieces, self.seq, AUDIO_TRACK_ID, tfdt, audio_utc, audio, |_, _| {
                (AAC_FRAME as u32, 0x0200_0000, 0)
            });
        }
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        Some(Fragment {
            pieces,
            len,
            start_dts: lead.dts,
            utc,
            duration: end_dts - lead.dts,
            seq,
            independent: lead.keyframe || lead.track == Track::Audio,
            video_len: video_len as u32,
        })
    }
}

/// One track's part of a fragment: `prft` (its wall-clock start), `moof` with one
/// `traf` (`tfhd` based at the moof, `tfdt`, a `trun` with per-sample duration, size,
/// flags and composition offset) and the `mdat`. `sample(i, frame)` gives
/// (duration, flags, composition offset). The boxes are built in `out` and appended
/// to `pieces`, followed by the frames' payloads; returns the part's size.
#[allow(clippy::too_many_arguments)]
fn part(
    out: &mut BytesMut,
    pieces: &mut Vec<Bytes>,
    seq: u32,
    track_id: u32,
    tfdt: u64,
    utc: Time90k,
    frames: Vec<Frame>,
    sample: impl Fn(usize, &Frame) -> (u32, u32, i32),
) -> usize {
    full(out, b"prft", 1, 0, |o| {
        o.put_u32(track_id);
        o.put_u64(ntp(utc));
        o.put_u64(tfdt);
    });
    let moof_start = out.len();
    let mut offset_at = 0;
    boxed(out, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| o.put_u32(seq));
        boxed(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| o.put_u32(track_id));
            full(o, b"tfdt", 1, 0, |o| o.put_u64(tfdt));
            full(o, b"trun", 1, 0x0001 | 0x0100 | 0x0200 | 0x0400 | 0x0800, |o| {
                o.put_u32(frames.len() as u32);
                offset_at = o.len();
                o.put_u32(0);
                for (i, f) in frames.iter().enumerate() {
                    let (duration, flags, cts) = sample(i, f);
                    o.put_u32(duration);
                    o.put_u32(f.data.len() as u32);
                    o.put_u32(flags);
                    o.put_i32(cts);
                }
            });
        });
    });
    // The data starts right after the moof and the mdat header.
    let data_offset = (out.len() - moof_start + 8) as u32;
    out[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    out.put_u32(8 + bytes as u32);
    out.put_slice(b"mdat");
    let head = out.split().freeze();
    let size = head.len() + bytes;
    pieces.push(head);
    pieces.extend(frames.into_iter().map(|f| f.data));
    size
}

/// Each frame's duration: the gap to the next frame, and for the last, to `end` (or
/// the previous gap, or `fallback`).
fn durations(
    frames: &[Frame],
    end: Option<Time90k>,
    fallback: impl Fn(&Frame) -> Duration90k,
) -> Vec<Duration90k> {
    let mut d: Vec<Duration90k> = frames.windows(2).map(|w| w[1].dts - w[0].dts).collect();
    if let Some(last) = frames.last() {
        let tail = match end {
            Some(e) if e > last.dts => e - last.dts,
            _ => d.last().copied().unwrap_or_else(|| fallback(last)),
        };
        d.push(tail);
    }
    d
}

/// A wall-clock time as a 64-bit NTP timestamp.
fn ntp(utc: Time90k) -> u64 {
    let ticks = utc.0.max(0) as u64;
    let secs = ticks / TICKS_PER_SECOND as u64 + NTP_UNIX_OFFSET;
    let frac = ((ticks % TICKS_PER_SECOND as u64) << 32) / TICKS_PER_SECOND as u64;
    secs << 32 | frac
}

/// The inverse of `ntp`.
pub fn utc_of_ntp(ntp: u64) -> Time90k {
    let secs = (ntp >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let frac = ((ntp & 0xffff_ffff) * TICKS_PER_SECOND as u64) >> 32;
    Time90k((secs * TICKS_PER_SECOND as u64 + frac) as i64)
}

/// A fragment found by `scan` in a chunk file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScannedFragment {
    /// Byte offset of its `prft`.
    pub offset: u64,
    /// Bytes (`prft` + `moof` + `mdat`).
    pub size: u64,
    /// Its wall-clock start (from `prft`).
    pub utc: Time90k,
    /// The reference track's sample durations summed, in that track's timescale.
    pub duration: u64,
    /// The reference track (`prft`'s).
    pub track_id: u32,
    /// Its first sample is a sync sample.
    pub independent: bool,
    /// Bytes of its video part (0 without video).
    pub video_len: u64,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The children of a box body: (kind, body).
fn children(b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let size = u32_at(b, at)? as usize;
        let kind = b.get(at + 4..at + 8)?;
        let body = b.get(at + 8..at.checked_add(size)?)?;
        if size < 8 {
            return None;
        }
        at += size;
        Some((kind, body))
    })
}

/// The complete fragments at the start of a chunk file, as this module writes them.
/// Scanning stops at the first torn or foreign box: what follows is cut off by recovery.
pub fn scan(file: &[u8]) -> Vec<ScannedFragment> {
    let mut out: Vec<ScannedFragment> = Vec::new();
    let mut at = 0usize;
    while let Some(part) = scan_one(file, at) {
        at += part.size as usize;
        // An audio part right after a lone video part completes that fragment.
        match out.last_mut() {
            Some(f) if part.track_id == AUDIO_TRACK_ID && f.video_len > 0 && f.video_len == f.size => {
                f.size += part.size
            }
            _ => out.push(ScannedFragment {
                video_len: if part.track_id == VIDEO_TRACK_ID { part.size } else { 0 },
                ..part
            }),
        }
    }
    out
}

fn scan_one(file: &[u8], at: usize) -> Option<ScannedFragment> {
    let rest = file.get(at..)?;
    let mut boxes = children(rest);
    let (kind, prft) = boxes.next()?;
    if kind != b"prft" {
        return None;
    }
    let track_id = u32_at(prft, 4)?;
    let utc = utc_of_ntp(u64_at(prft, 8)?);
    let (kind, moof) = boxes.next()?;
    if kind != b"moof" {
        return None;
    }
    let (kind, mdat) = boxes.next()?;
    if kind != b"mdat" {
        return None;
    }
    let size = (prft.len() + moof.len() + mdat.len() + 24) as u64;
    let mut duration = 0u64;
    let mut independent = false;
    for (kind, traf) in children(moof) {
        if kind != b"traf" {
            continue;
        }
        let mut this_track = false;
        for (kind, body) in children(traf) {
            match kind {
                b"tfhd" => this_track = u32_at(body, 4)? == track_id,
                b"trun" if this_track => {
                    let flags = u32_at(body, 0)? & 0x00ff_ffff;
                    let count = u32_at(body, 4)? as usize;
                    let mut p =
                        8 + if flags & 0x1 != 0 { 4 } else { 0 } + if flags & 0x4 != 0 { 4 } else { 0 };
                    let per = [0x100, 0x200, 0x400, 0x800].iter().filter(|f| flags & **f != 0).count() * 4;
                    for i in 0..count {
                        if flags & 0x100 != 0 {
                            duration += u32_at(body, p)? as u64;
                        }
                        if i == 0 && flags & 0x400 != 0 {
                            let off = p
                                + if flags & 0x100 != 0 { 4 } else { 0 }
                                + if flags & 0x200 != 0 { 4 } else { 0 };
                            independent = u32_at(body, off)? & 0x0001_0000 == 0;
                        }
                        p += per;
                    }
                }
                _ => {}
            }
        }
    }
    Some(ScannedFragment { offset: at as u64, size, utc, duration, track_id, independent, video_len: 0 })
}

/// Boxes in `b[start..end]`: (kind, body start, box end), absolute offsets.
fn boxes_in(b: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let Some(size) = u32_at(b, at) else { break };
        let size = size as usize;
        if size < 8 || at + size > end {
            break;
        }
        let mut kind = [0u8; 4];
        kind.copy_from_slice(&b[at + 4..at + 8]);
        out.push((kind, at + 8, at + size));
        at += size;
    }
    out
}

/// Adds `add` to the composition offset of every sample of `track` in `fragments`
/// (parts as this module writes them), in place.
pub fn add_to_composition_offsets(fragments: &mut [u8], track: u32, add: i32) {
    let mut patches = Vec::new();
    for (kind, body, end) in boxes_in(fragments, 0, fragments.len()) {
        if &kind != b"moof" {
            continue;
        }
        for (kind, tb, te) in boxes_in(fragments, body, end) {
            if &kind != b"traf" {
                continue;
            }
            let mut this = 0;
            for (kind, b, _) in boxes_in(fragments, tb, te) {
                match &kind {
                    b"tfhd" => this = u32_at(fragments, b + 4).unwrap_or(0),
                    b"trun" if this == track => {
                        let flags = u32_at(fragments, b).unwrap_or(0) & 0x00ff_ffff;
                        if flags & 0x800 == 0 {
                            continue;
                        }
                        let count = u32_at(fragments, b + 4).unwrap_or(0) as usize;
                        let mut p = b
                            + 8
                            + if flags & 0x1 != 0 { 4 } else { 0 }
                            + if flags & 0x4 != 0 { 4 } else { 0 };
                        let per = [0x100, 0x200, 0x400].iter().filter(|bit| flags & **bit != 0).count() * 4;
                        for _ in 0..count {
                            p += per;
                            patches.push(p);
                            p += 4;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for p in patches {
        if let Some(v) = u32_at(fragments, p) {
            fragments[p..p + 4].copy_from_slice(&((v as i32).wrapping_add(add)).to_be_bytes());
        }
    }
}

/// Each part's track and decode time (`tfdt`, in the track's timescale), from the
/// `prft` boxes of `fragments` (as this module writes them).
pub fn decode_times(fragments: &[u8]) -> Vec<(u32, u64)> {
    boxes_in(fragments, 0, fragments.len())
        .into_iter()
        .filter(|(kind, _, _)| kind == b"prft")
        .filter_map(|(_, body, _)| Some((u32_at(fragments, body + 4)?, u64_at(fragments, body + 16)?)))
        .collect()
}

/// Moves the decode times of every part of `fragments` (as this module writes them)
/// back by `shift(track_id)`, in place: a clip starts at time zero without a byte of
/// it changing size.
pub fn rebase(fragments: &mut [u8], shift: impl Fn(u32) -> u64) {
    let mut patches: Vec<(usize, u64)> = Vec::new();
    let mut track = 0u32;
    for (kind, body, end) in boxes_in(fragments, 0, fragments.len()) {
        match &kind {
            // prft: version/flags, track, NTP time, media time (v1: 64 bits).
            b"prft" => {
                track = u32_at(fragments, body + 4).unwrap_or(0);
                if let Some(t) = u64_at(fragments, body + 16) {
                    patches.push((body + 16, t.saturating_sub(shift(track))));
                }
            }
            b"moof" => {
                for (kind, tb, te) in boxes_in(fragments, body, end) {
                    if &kind != b"traf" {
                        continue;
                    }
                    for (kind, b2, _) in boxes_in(fragments, tb, te) {
                        match &kind {
                            b"tfhd" => track = u32_at(fragments, b2 + 4).unwrap_or(track),
                            b"tfdt" if fragments.get(b2) == Some(&1) => {
                                if let Some(t) = u64_at(fragments, b2 + 4) {
                                    patches.push((b2 + 4, t.saturating_sub(shift(track))));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (at, v) in patches {
        fragments[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }
}

/// An init segment with its total duration stated (`mvhd` and a new `mehd`), as a
/// finished clip has: players then show its length before reading it all.
pub fn with_duration(init: &[u8], duration: Duration90k) -> BytesMut {
    let ms = (duration.0.max(0) / 90) as u64;
    let mut out = BytesMut::with_capacity(init.len() + 32);
    for (kind, body, end) in boxes_in(init, 0, init.len()) {
        if &kind != b"moov" {
            out.put_slice(&init[body - 8..end]);
            continue;
        }
        boxed(&mut out, b"moov", |o| {
            for (kind, b2, e2) in boxes_in(init, body, end) {
                match &kind {
                    b"mvhd" if init.get(b2) == Some(&0) => {
                        let start = o.len();
                        o.put_slice(&init[b2 - 8..e2]);
                        // v0 mvhd: version/flags, creation, modification, timescale, duration.
                        let at = start + 8 + 16;
                        o[at..at + 4].copy_from_slice(&(ms.min(u32::MAX as u64) as u32).to_be_bytes());
                    }
                    b"mvex" => boxed(o, b"mvex", |o| {
                        full(o, b"mehd", 1, 0, |o| o.put_u64(ms));
                        for (kind, b3, e3) in boxes_in(init, b2, e2) {
                            if &kind != b"mehd" {
                                o.put_slice(&init[b3 - 8..e3]);
                            }
                        }
                    }),
                    _ => o.put_slice(&init[b2 - 8..e2]),
                }
            }
        });
    }
    out
}

/// One sample read back from a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSample {
    /// Its track.
    pub track_id: u32,
    /// Decode time in its track's timescale (this module's: wall-clock on the run's clock).
    pub decode_time: u64,
    /// Composition offset, same timescale.
    pub cts: i32,
    /// A sync sample.
    pub key: bool,
    /// Where its bytes are in the fragment.
    pub data: std::ops::Range<usize>,
}

/// Every sample of `fragment` (parts as this module writes them), in order. Parts that
/// do not parse end the list.
pub fn read_samples(fragment: &[u8]) -> Vec<ReadSample> {
    let mut out = Vec::new();
    for (kind, body, end) in boxes_in(fragment, 0, fragment.len()) {
        if &kind != b"moof" {
            continue;
        }
        let moof_start = body - 8;
        for (kind, tb, te) in boxes_in(fragment, body, end) {
            if &kind != b"traf" {
                continue;
            }
            let (mut track_id, mut time) = (0u32, 0u64);
            for (kind, b, e) in boxes_in(fragment, tb, te) {
                match &kind {
                    b"tfhd" => track_id = u32_at(fragment, b + 4).unwrap_or(0),
                    b"tfdt" => {
                        time = if fragment.get(b) == Some(&1) {
                            u64_at(fragment, b + 4).unwrap_or(0)
                        } else {
                            u32_at(fragment, b + 4).unwrap_or(0) as u64
                        }
                    }
                    b"trun" => {
                        let Some(flags) = u32_at(fragment, b).map(|f| f & 0x00ff_ffff) else { return out };
                        let count = u32_at(fragment, b + 4).unwrap_or(0) as usize;
                        let mut p = b + 8;
                        let mut data = moof_start;
                        if flags & 0x1 != 0 {
                            data = (moof_start as i64 + u32_at(fragment, p).unwrap_or(0) as i32 as i64).max(0)
                                as usize;
                            p += 4;
                        }
                        if flags & 0x4 != 0 {
                            p += 4;
                        }
                        for _ in 0..count {
                            let mut field = |bit: u32| -> Option<u32> {
                                if flags & bit == 0 {
                                    return None;
                                }
                                let v = u32_at(fragment, p);
                                p += 4;
                                v
                            };
                            let duration = field(0x100).unwrap_or(0);
                            let size = field(0x200).unwrap_or(0) as usize;
                            let sflags = field(0x400).unwrap_or(0);
                            let cts = field(0x800).unwrap_or(0) as i32;
                            if p > e || data + size > fragment.len() {
                                return out;
                            }
                            out.push(ReadSample {
                                track_id,
                                decode_time: time,
                                cts,
                                key: sflags & 0x0001_0000 == 0,
                                data: data..data + size,
                            });
                            time += duration as u64;
                            data += size;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// The timescale of each track of an init segment: (track id, timescale).
pub fn timescales(init: &[u8]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for (kind, moov) in children(init) {
        if kind != b"moov" {
            continue;
        }
        for (kind, trak) in children(moov) {
            if kind != b"trak" {
                continue;
            }
            let mut id = None;
            let mut scale = None;
            for (kind, body) in children(trak) {
                match kind {
                    b"tkhd" => id = u32_at(body, 12),
                    b"mdia" => {
                        scale = children(body).find(|(k, _)| *k == b"mdhd").and_then(|(_, m)| u32_at(m, 12))
                    }
                    _ => {}
                }
            }
            if let (Some(i), Some(s)) = (id, scale) {
                out.push((i, s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Init segment + every fragment of the shared synthetic A/V.
    fn mux() -> (BytesMut, Vec<Fragment>) {
        let frames = crate::mux::flv::test_frames();
        let v = frames.iter().find(|f| f.track == Track::Video).unwrap().codec.clone();
        let a = frames.iter().find(|f| f.track == Track::Audio).unwrap().codec.clone();
        let mut out = init_segment(Some(&v), Some(&a), None);
        let mut m = Fragmenter::new(true, Some(&a), 1);
        let mut frags = Vec::new();
        for f in frames {
            frags.extend(m.push(f));
        }
        frags.extend(m.finish());
        for f in &frags {
            out.put_slice(&f.to_bytes());
        }
        (out, frags)
    }

    #[test]
    fn golden() {
        let (out, _) = mux();
        crate::mux::assert_golden("av.cmaf.mp4", &out);
    }

    #[test]
    fn one_fragment_per_gop_with_contiguous_times() {
        let (_, frags) = mux();
        assert_eq!(frags.len(), 2, "two GOPs of 25 frames");
        assert!(frags.iter().all(|f| f.independent));
        assert_eq!(frags[0].duration, Duration90k(25 * 3600));
        assert_eq!(frags[0].start_dts + frags[0].duration, frags[1].start_dts);
        assert_eq!(
            frags[1].duration,
            Duration90k(25 * 3600),
            "the last frame lasts as long as the one before"
        );
        assert_eq!((frags[0].seq, frags[1].seq), (1, 2));
    }

    /// With B-frames (the key frame presented two frames after its decode time), video
    /// is presented from each fragment's decode time and audio moves with it.
    #[test]
    fn video_is_presented_from_the_decode_time_and_audio_keeps_its_sync() {
        let mut frames = crate::mux::flv::test_frames();
        for f in frames.iter_mut().filter(|f| f.track == Track::Video) {
            f.pts += Duration90k(7200);
        }
        let a = frames.iter().find(|f| f.track == Track::Audio).unwrap().codec.clone();
        let (first_video_dts, first_audio_dts) = (frames[0].dts, frames[1].dts);
        let mut m = Fragmenter::new(true, Some(&a), 1);
        let mut frags: Vec<Fragment> = frames.into_iter().filter_map(|f| m.push(f)).collect();
        frags.extend(m.finish());
        let samples = read_samples(&frags[0].to_bytes());
        let video: Vec<&ReadSample> = samples.iter().filter(|s| s.track_id == VIDEO_TRACK_ID).collect();
        let audio: Vec<&ReadSample> = samples.iter().filter(|s| s.track_id == AUDIO_TRACK_ID).collect();
        assert_eq!(video[0].cts, 0, "the key frame is presented at the fragment's decode time");
        assert_eq!(video[1].cts, 7200, "the others keep their distance to it");
        // Audio was 100 ticks after the video's decode time, so 7,100 before its (old)
        // presentation: it still is.
        let video_pts = video[0].decode_time as i64 + video[0].cts as i64;
        let audio_pts_90k = audio[0].decode_time as i64 * 90_000 / 44_100;
        let want = (first_audio_dts - first_video_dts).0 - 7200;
        assert!((audio_pts_90k - video_pts - want).abs() <= 3, "{audio_pts_90k} - {video_pts} != {want}");
    }

    #[test]
    fn frames_before_the_first_key_frame_are_dropped() {
        let frames = crate::mux::flv::test_frames();
        let a = frames.iter().find(|f| f.track == Track::Audio).unwrap().codec.clone();
        let mut m = Fragmenter::new(true, Some(&a), 7);
        let mut frags = Vec::new();
        for f in frames.into_iter().skip(2) {
            frags.extend(m.push(f));
        }
        frags.extend(m.finish());
        assert_eq!(frags.len(), 1, "the first GOP had no key frame left");
        assert_eq!(frags[0].seq, 7);
    }

    /// The shared video with AAC at 44.1 kHz (1024 samples a frame) going on `tail`
    /// after the last picture, every picture presented `delay` after its decode time (a
    /// constant B-frame delay; 0: the shared frames' own times). Returns the run's
    /// fragments, where the pictures' decode times end, and where the sound ends on the
    /// pusher's clock.
    fn run_with_sound_tail(delay: Duration90k, tail: Duration90k) -> (Vec<Fragment>, Time90k, Time90k) {
        let frames = crate::mux::flv::test_frames();
        let a = frames.iter().find(|f| f.track == Track::Audio).unwrap().clone();
        let video: Vec<Frame> = frames
            .into_iter()
            .filter(|f| f.track == Track::Video)
            .map(|f| if delay.0 == 0 { f } else { Frame { pts: f.dts + delay, ..f } })
            .collect();
        let start = video[0].dts;
        let video_end = video.last().unwrap().dts + Duration90k(3600);
        let at = |n: i64| start + Duration90k(n * AAC_FRAME as i64 * TICKS_PER_SECOND / 44_100);
        let sounds = (0..).map(|n| Frame { dts: at(n), pts: at(n), utc: at(n), ..a.clone() });
        let sounds: Vec<Frame> = sounds.take_while(|f| f.dts < video_end + tail).collect();
        let sound_end = at(sounds.len() as i64);
        let mut all: Vec<Frame> = video.into_iter().chain(sounds).collect();
        all.sort_by_key(|f| f.dts);
        let mut m = Fragmenter::new(true, Some(&a.codec), 1);
        let mut frags = Vec::new();
        for f in all {
            frags.extend(m.push(f));
        }
        frags.extend(m.finish());
        (frags, video_end, sound_end)
    }

    #[test]
    fn a_runs_last_fragment_lasts_until_its_last_sound() {
        let (frags, video_end, sound_end) = run_with_sound_tail(Duration90k(0), Duration90k::from_ms(100));
        let last = frags.last().unwrap();
        let end = last.start_dts + last.duration;
        assert!(end > video_end + Duration90k::from_ms(100), "{end:?}");
        assert!((end - sound_end).0.abs() <= 1, "{end:?} {sound_end:?}");
        // Every fragment before it still ends where the next begins.
        assert!(frags.windows(2).all(|w| w[0].start_dts + w[0].duration == w[1].start_dts));
    }

    /// With B-frames, a run ends where its last sound is presented (audio moved earlier
    /// with the video), and its last picture stays up until then: the run's media ends
    /// where its manifest says, in both tracks.
    #[test]
    fn with_b_frames_a_run_ends_with_its_media_in_both_tracks() {
        let shift = Duration90k(7200);
        let (frags, _, sound_end) = run_with_sound_tail(shift, Duration90k::from_ms(150));
        // Presented with the video moved earlier by its delay.
        let sound_end = sound_end - shift;
        let last = frags.last().unwrap();
        let end = last.start_dts + last.duration;
        assert!((end - sound_end).0.abs() <= 1, "the run ends at {end:?}, its sound at {sound_end:?}");
        // Every picture is presented at its decode time here (a constant delay): the
        // video part's durations summed are how long pictures show.
        let video = scan(&last.to_bytes())[0];
        assert_eq!(video.duration as i64, last.duration.0, "the last picture lasts until the run ends");
    }

    #[test]
    fn audio_only_cuts_every_two_seconds() {
        let frames: Vec<Frame> =
            crate::mux::flv::test_frames().into_iter().filter(|f| f.track == Track::Audio).collect();
        let a = frames[0].codec.clone();
        let mut m = Fragmenter::new(false, Some(&a), 1);
        let mut frags = Vec::new();
        // 50 frames 40 ms apart = 2 s: one cut at 2 s would need more; stretch them.
        for (i, mut f) in frames.into_iter().enumerate() {
            f.dts = Time90k(i as i64 * 9000);
            f.pts = f.dts;
            frags.extend(m.push(f));
        }
        frags.extend(m.finish());
        assert_eq!(frags.len(), 3, "5 s of audio: 2 + 2 + 1");
        assert_eq!(frags[0].duration, Duration90k::from_secs(2));
    }

    #[test]
    fn scan_finds_what_was_written_and_stops_at_a_tear() {
        let (out, frags) = mux();
        let init_len = out.len() - frags.iter().map(|f| f.len()).sum::<usize>();
        assert_eq!(timescales(&out[..init_len]), vec![(VIDEO_TRACK_ID, 90_000), (AUDIO_TRACK_ID, 44_100)]);
        let chunk = &out[init_len..];
        let found = scan(chunk);
        assert_eq!(found.len(), 2);
        for (s, f) in found.iter().zip(&frags) {
            assert_eq!(s.size, f.len() as u64);
            assert_eq!(s.duration as i64, f.duration.0);
            assert!((s.utc.0 - f.utc.0).abs() <= 1);
            assert_eq!(s.track_id, VIDEO_TRACK_ID);
            assert!(s.independent);
        }
        assert_eq!(found[1].offset, found[0].size);
        assert_eq!(found[0].video_len, frags[0].video_len as u64);
        assert!(
            found[0].video_len > 0 && found[0].video_len < found[0].size,
            "a video part then an audio part"
        );
        // Torn anywhere inside the second fragment: only the first survives.
        for cut in [found[0].size as usize + 1, found[0].size as usize + 40] {
            assert_eq!(scan(&chunk[..cut]).len(), 1, "cut at {cut}");
        }
        // Torn inside the audio part: the video part stands alone.
        let torn = scan(&chunk[..chunk.len() - 1]);
        assert_eq!(torn.len(), 2);
        assert_eq!(torn[1].size, torn[1].video_len);
        assert!(scan(b"garbage that is not a box").is_empty());
    }

    #[test]
    fn rebase_moves_every_decode_time_and_nothing_else() {
        let (out, frags) = mux();
        let init_len = out.len() - frags.iter().map(|f| f.len()).sum::<usize>();
        let mut chunk = out[init_len..].to_vec();
        let before = scan(&chunk);
        let first_video = frags[0].utc.0 as u64;
        rebase(&mut chunk, |t| if t == VIDEO_TRACK_ID { first_video } else { 1000 });
        assert_eq!(chunk.len(), out.len() - init_len);
        let after = scan(&chunk);
        assert_eq!(after.len(), before.len(), "still two whole fragments");
        // The video tfdt sits after prft (32), moof + mfhd (24), traf + tfhd (24) and tfdt's own header (12).
        let tfdt = u64::from_be_bytes(chunk[92..100].try_into().unwrap());
        assert_eq!(tfdt, 0, "the clip's first video frame is at zero");
        let v = frags[0].video_len as usize;
        assert!(chunk[100..v] == out[init_len + 100..init_len + v], "only decode times change");
    }

    #[test]
    fn with_duration_states_the_length() {
        let (out, _) = mux();
        let frames = crate::mux::flv::test_frames();
        let v = frames.iter().find(|f| f.track == Track::Video).unwrap().codec.clone();
        let a = frames.iter().find(|f| f.track == Track::Audio).unwrap().codec.clone();
        let init = init_segment(Some(&v), Some(&a), None);
        let want = init_segment(Some(&v), Some(&a), Some(Duration90k::from_secs(2)));
        assert_eq!(with_duration(&init, Duration90k::from_secs(2)), want);
        assert!(out.starts_with(&init));
    }

    /// Surveillance cameras send a key frame every 30 s or more: a fragment is then one
    /// whole GOP; past 60 s a GOP is split (the later part starts without a key frame).
    #[test]
    fn long_gops_make_long_fragments_and_very_long_ones_split() {
        let template = crate::mux::flv::test_frames().into_iter().find(|f| f.track == Track::Video).unwrap();
        let frame = |i: i64, key: bool| Frame {
            dts: Time90k(i * 3600),
            pts: Time90k(i * 3600),
            utc: Time90k(i * 3600),
            keyframe: key,
            ..template.clone()
        };
        // 25 fps: a key frame every 30 s (750 frames), then one GOP of 90 s.
        let mut m = Fragmenter::new(true, None, 1);
        let mut frags = Vec::new();
        for i in 0..(750 * 2 + 2250) {
            frags.extend(m.push(frame(i, i % 750 == 0 && i <= 1500)));
        }
        frags.extend(m.finish());
        let secs: Vec<i64> = frags.iter().map(|f| f.duration.0 / 90_000).collect();
        assert_eq!(secs, vec![30, 30, 60, 30], "30 s GOPs whole; the 90 s GOP split at 60 s");
        assert_eq!(frags.iter().map(|f| f.independent).collect::<Vec<_>>(), vec![true, true, true, false]);
    }

    #[test]
    fn samples_read_back_as_written() {
        let frames = crate::mux::flv::test_frames();
        let (out, frags) = mux();
        let init_len = out.len() - frags.iter().map(|f| f.len()).sum::<usize>();
        let mut back = Vec::new();
        let mut at = init_len;
        for f in &frags {
            let bytes = &out[at..at + f.len()];
            back.extend(read_samples(bytes).into_iter().map(|s| (s.track_id, bytes[s.data].to_vec(), s.key)));
            at += f.len();
        }
        assert_eq!(back.len(), frames.len(), "every frame");
        let video: Vec<_> = back.iter().filter(|s| s.0 == VIDEO_TRACK_ID).collect();
        let want: Vec<_> = frames.iter().filter(|f| f.track == Track::Video).collect();
        for (got, want) in video.iter().zip(&want) {
            assert_eq!(got.1, want.data.to_vec());
            assert_eq!(got.2, want.keyframe);
        }
    }

    #[test]
    fn ntp_round_trips() {
        let t = Time90k::from_unix_micros(1_576_900_868_123_000);
        assert!((utc_of_ntp(ntp(t)).0 - t.0).abs() <= 1);
    }
}
