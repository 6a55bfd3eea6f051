//! A fault-injecting RTSP camera of our own, for what a real server will not do: RTP
//! timestamps that jump, an SSRC that changes, packets lost on the way, garbage between
//! interleaved frames. It speaks just enough RTSP (OPTIONS, DESCRIBE, SETUP with TCP
//! interleaving, PLAY, TEARDOWN) and plays a real H.264 stream made by ffmpeg, paced at
//! 25 frames a second, parameter sets in band only (no `sprop-parameter-sets`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// What goes wrong, two seconds into a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// RTP timestamps jump an hour ahead.
    JumpAhead,
    /// RTP timestamps jump ten seconds back.
    JumpBack,
    /// The SSRC changes.
    NewSsrc,
    /// Every 10th packet is dropped, from the start.
    Loss,
    /// Bytes that are no interleaved frame come between frames.
    Garbage,
    /// The picture size changes (new SPS and PPS in band), as after a camera's
    /// settings were changed.
    NewSize,
}

impl Fault {
    fn from_path(p: &str) -> Fault {
        match p.trim_end_matches('/').rsplit('/').next().unwrap_or("") {
            "jump-ahead" => Fault::JumpAhead,
            "jump-back" => Fault::JumpBack,
            "new-ssrc" => Fault::NewSsrc,
            "loss" => Fault::Loss,
            "garbage" => Fault::Garbage,
            "new-size" => Fault::NewSize,
            _ => Fault::None,
        }
    }
}

/// The camera: serves `rtsp://127.0.0.1:PORT/{fault}` (`jump-ahead`, `jump-back`,
/// `new-ssrc`, `loss`, `garbage`, `new-size`, anything else: no fault) until dropped.
pub struct FakeCamera {
    /// Its port.
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FakeCamera {
    /// Starts it on a free port.
    pub fn start() -> FakeCamera {
        let aus = Arc::new([access_units("320x240"), access_units("160x120")]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Relaxed) {
                    return;
                }
                let (aus, s) = (aus.clone(), s.clone());
                if let Ok(c) = conn {
                    std::thread::spawn(move || {
                        let _ = session(c, port, &aus, &s);
                    });
                }
            }
        });
        FakeCamera { port, stop }
    }

    /// The URL of a mount with `fault`.
    pub fn url(&self, fault: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{fault}", self.port)
    }
}

/// Access units of a 4 s H.264 stream of `size` (one slice per picture, no B-frames),
/// each a list of NAL units; the key frames carry SPS and PPS before them.
fn access_units(size: &str) -> Vec<Vec<Vec<u8>>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cam.h264");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc=size={size}:rate=25"), "-t", "4"])
        .args(["-c:v", "libx264", "-bf", "0", "-g", "25", "-x264-params", "slices=1:sliced-threads=0"])
        .args(["-bsf:v", "h264_mp4toannexb", "-f", "h264"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made the camera's stream");
    let data = std::fs::read(&path).unwrap();
    let mut nals = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 3 <= data.len() {
        if data[i..].starts_with(&[0, 0, 1]) {
            if let Some(s) = start {
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                nals.push(data[s..end].to_vec());
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        nals.push(data[s..].to_vec());
    }
    let mut aus = Vec::new();
    let mut au = Vec::new();
    for n in nals {
        let t = n[0] & 0x1f;
        au.push(n);
        if t == 1 || t == 5 {
            aus.push(std::mem::take(&mut au));
        }
    }
    aus
}

type Sizes = [Vec<Vec<Vec<u8>>>; 2];

fn session(c: TcpStream, port: u16, aus: &Sizes, stop: &AtomicBool) -> std::io::Result<()> {
    c.set_nodelay(true)?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut w = c;
    let mut fault = Fault::None;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let Some(first) = head.first() else { continue };
        let mut parts = first.split_whitespace();
        let (method, url) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let cseq = head.iter().find_map(|h| h.strip_prefix("CSeq: ")).unwrap_or("0").to_string();
        let base =
            format!("rtsp://127.0.0.1:{port}{}", url.split_once(&format!(":{port}")).map_or("", |(_, p)| p));
        match method {
            "OPTIONS" => write!(
                w,
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            )?,
            "DESCRIBE" => {
                fault = Fault::from_path(url);
                let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n\
                           a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
                write!(
                    w,
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: {}/\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    base.trim_end_matches('/'),
                    sdp.len()
                )?
            }
            "SETUP" => write!(
                w,
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 4711;timeout=60\r\n\r\n"
            )?,
            "PLAY" => {
                write!(w, "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 4711\r\n\r\n")?;
                return play(&mut w, aus, fault, stop);
            }
            _ => write!(w, "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 4711\r\n\r\n")?,
        }
    }
}

/// Sends the access units in a loop, paced, as RTP over the connection (single NAL
/// unit packets, FU-A for the large ones), with `fault` from the 50th frame on.
fn play(w: &mut TcpStream, sizes: &Sizes, fault: Fault, stop: &AtomicBool) -> std::io::Result<()> {
    let start = Instant::now();
    let (mut seq, mut ssrc, mut ts_offset) = (1000u16, 0x1234_5678u32, 0u32);
    let mut sent = 0u64;
    for frame in 0u64.. {
        if stop.load(Relaxed) {
            return Ok(());
        }
        if frame == 50 {
            match fault {
                Fault::JumpAhead => ts_offset = 3600 * 90_000,
                Fault::JumpBack => ts_offset = 0u32.wrapping_sub(10 * 90_000),
                Fault::NewSsrc => ssrc = 0x0bad_cafe,
                Fault::Garbage => w.write_all(b"this is no interleaved frame\r\n\x00\x01\x02")?,
                _ => {}
            }
        }
        let ts = (frame as u32).wrapping_mul(3600).wrapping_add(ts_offset);
        let au = match fault {
            Fault::NewSize if frame >= 50 => &sizes[1][(frame - 50) as usize % sizes[1].len()],
            _ => &sizes[0][frame as usize % sizes[0].len()],
        };
        let mut packets: Vec<Vec<u8>> = Vec::new();
        for nal in au {
            if nal.len() <= 1400 {
                packets.push(nal.clone());
                continue;
            }
            let (hdr, body) = (nal[0], &nal[1..]);
            let chunks: Vec<&[u8]> = body.chunks(1400).collect();
            for (i, c) in chunks.iter().enumerate() {
                let fu_header = (hdr & 0x1f)
                    | if i == 0 { 0x80 } else { 0 }
                    | if i == chunks.len() - 1 { 0x40 } else { 0 };
                let mut p = vec![(hdr & 0xe0) | 28, fu_header];
                p.extend_from_slice(c);
                packets.push(p);
            }
        }
        let n = packets.len();
        for (i, payload) in packets.into_iter().enumerate() {
            seq = seq.wrapping_add(1);
            sent += 1;
            if fault == Fault::Loss && sent.is_multiple_of(10) {
                continue;
            }
            let marker = if i == n - 1 { 0x80 } else { 0 };
            let mut rtp = vec![0x80, marker | 96];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&ts.to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            rtp.extend_from_slice(&payload);
            let mut framed = vec![b'$', 0];
            framed.extend_from_slice(&(rtp.len() as u16).to_be_bytes());
            framed.extend_from_slice(&rtp);
            w.write_all(&framed)?;
        }
        let due = start + Duration::from_millis(40 * (frame + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    Ok(())
}
