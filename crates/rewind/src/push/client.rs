//! A minimal publishing RTMP client on the sans-I/O `rewind_rtmp` codec.

use anyhow::{Context, bail};
use bytes::BytesMut;
use rewind_rtmp::amf0::{Amf0, object};
use rewind_rtmp::chunk::{Limits, MSG_SET_CHUNK_SIZE};
use rewind_rtmp::message::{self as m};
use rewind_rtmp::{ChunkDecoder, ChunkEncoder, handshake};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Chunk size the client sends with (large: fewer chunk headers per frame).
const CHUNK_SIZE: u32 = 60_000;
/// Chunk stream ids for audio and video (as ffmpeg uses).
const CSID_AUDIO: u32 = 4;
const CSID_VIDEO: u32 = 6;
const CSID_DATA: u32 = 5;

/// The parts of `rtmp://host[:port]/app/stream[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUrl {
    /// `host:port`.
    pub addr: String,
    /// `rtmp://host:port/app`.
    pub tc_url: String,
    /// Application.
    pub app: String,
    /// Stream name with its query.
    pub stream: String,
}

impl PushUrl {
    /// Parses a push URL.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("rtmp://").context("push URL must start with rtmp://")?;
        let (authority, path) = rest.split_once('/').context("push URL needs /app/stream")?;
        let (app, stream) = path.split_once('/').context("push URL needs /app/stream")?;
        let addr = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:1935")
        };
        Ok(PushUrl {
            tc_url: format!("rtmp://{authority}/{app}"),
            addr,
            app: app.into(),
            stream: stream.into(),
        })
    }
}

/// A connection that has been granted `publish`.
pub struct Publisher {
    sock: TcpStream,
    enc: ChunkEncoder,
    out: BytesMut,
}

async fn read_until<T>(
    sock: &mut TcpStream,
    dec: &mut ChunkDecoder,
    buf: &mut BytesMut,
    mut f: impl FnMut(&m::Command) -> Option<anyhow::Result<T>>,
) -> anyhow::Result<T> {
    loop {
        while let Some(msg) = dec.decode(buf)? {
            if msg.type_id == m::MSG_COMMAND_AMF0 {
                let cmd = m::parse_command(msg.type_id, &msg.payload)?;
                if let Some(r) = f(&cmd) {
                    return r;
                }
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read_buf(buf))
            .await
            .context("server did not answer")??;
        if n == 0 {
            bail!("server closed the connection");
        }
    }
}

fn status_of(cmd: &m::Command) -> (String, String, String) {
    let info = cmd.args.first();
    let get = |k: &str| info.and_then(|i| i.get(k)).and_then(Amf0::as_str).unwrap_or("").to_string();
    (get("level"), get("code"), get("description"))
}

impl Publisher {
    /// Connects, handshakes and publishes; fails with the server's status description
    /// when the publish is refused.
    pub async fn connect(url: &str) -> anyhow::Result<Publisher> {
        let u = PushUrl::parse(url)?;
        let mut sock =
            TcpStream::connect(&u.addr).await.with_context(|| format!("connecting to {}", u.addr))?;
        sock.set_nodelay(true)?;
        sock.write_all(&handshake::client_hello(0)).await?;
        let mut s = vec![0u8; 1 + 2 * handshake::PACKET_SIZE];
        tokio::time::timeout(Duration::from_secs(10), sock.read_exact(&mut s))
            .await
            .context("handshake timed out")??;
        sock.write_all(&handshake::client_reply(&s)?).await?;

        let mut enc = ChunkEncoder::default();
        let mut out = BytesMut::new();
        enc.write(&mut out, m::CSID_CONTROL, 0, MSG_SET_CHUNK_SIZE, 0, &m::u32_payload(CHUNK_SIZE));
        enc.set_chunk_size(CHUNK_SIZE as usize);
        let connect = m::command(
            "connect",
            1.0,
            object([
                // The fields OBS (librtmp) sends, so tests exercise an OBS-style connect.
                ("app", Amf0::String(u.app.clone())),
                ("type", Amf0::String("nonprivate".into())),
                ("flashVer", Amf0::String("FMLE/3.0 (compatible; FMSc/1.0)".into())),
                ("swfUrl", Amf0::String(u.tc_url.clone())),
                ("tcUrl", Amf0::String(u.tc_url.clone())),
                (
                    "fourCcList",
                    Amf0::StrictArray(vec![Amf0::String("hvc1".into()), Amf0::String("avc1".into())]),
                ),
            ]),
            vec![],
        );
        enc.write(&mut out, m::CSID_COMMAND, 0, m::MSG_COMMAND_AMF0, 0, &connect);
        let name = Amf0::String(u.stream.clone());
        for (txn, cmd) in [(2.0, "releaseStream"), (3.0, "FCPublish")] {
            let body = m::command(cmd, txn, Amf0::Null, vec![name.clone()]);
            enc.write(&mut out, m::CSID_COMMAND, 0, m::MSG_COMMAND_AMF0, 0, &body);
        }
        let create = m::command("createStream", 4.0, Amf0::Null, vec![]);
        enc.write(&mut out, m::CSID_COMMAND, 0, m::MSG_COMMAND_AMF0, 0, &create);
        sock.write_all(&out).await?;
        out.clear();

        let mut dec = ChunkDecoder::new(Limits::default());
        let mut buf = BytesMut::with_capacity(8192);
        let stream_id = read_until(&mut sock, &mut dec, &mut buf, |c| match c.name.as_str() {
            "_result" if c.transaction_id == 4.0 => {
                Some(Ok(c.args.first().and_then(Amf0::as_f64).unwrap_or(1.0) as u32))
            }
            "_error" => Some(Err(anyhow::anyhow!("server refused connect/createStream: {:?}", c.args))),
            _ => None,
        })
        .await?;
        let publish = m::command(
            "publish",
            5.0,
            Amf0::Null,
            vec![Amf0::String(u.stream.clone()), Amf0::String("live".into())],
        );
        enc.write(&mut out, 8, 0, m::MSG_COMMAND_AMF0, stream_id, &publish);
        sock.write_all(&out).await?;
        out.clear();
        read_until(&mut sock, &mut dec, &mut buf, |c| {
            if c.name != "onStatus" {
                return None;
            }
            let (level, code, description) = status_of(c);
            if level == "error" {
                Some(Err(anyhow::anyhow!("publish refused: {code}: {description}")))
            } else if code == "NetStream.Publish.Start" {
                Some(Ok(()))
            } else {
                None
            }
        })
        .await?;
        Ok(Publisher { sock, enc, out })
    }

    /// Queues one FLV tag body (8 audio, 9 video, 18 script data) as an RTMP message.
    pub fn queue(&mut self, kind: u8, timestamp_ms: u32, body: &[u8]) {
        let csid = match kind {
            m::MSG_AUDIO => CSID_AUDIO,
            m::MSG_VIDEO => CSID_VIDEO,
            _ => CSID_DATA,
        };
        self.enc.write(&mut self.out, csid, timestamp_ms, kind, 1, body);
    }

    /// Queues bytes exactly as given, bypassing the chunk encoder (malformed-input tests).
    pub fn queue_raw(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Queues and writes one tag.
    pub async fn send(&mut self, kind: u8, timestamp_ms: u32, body: &[u8]) -> std::io::Result<()> {
        self.queue(kind, timestamp_ms, body);
        self.flush().await
    }

    /// Sends `deleteStream` and closes the connection.
    pub async fn close(mut self) -> std::io::Result<()> {
        let del = m::command("deleteStream", 6.0, Amf0::Null, vec![Amf0::Number(1.0)]);
        self.enc.write(&mut self.out, m::CSID_COMMAND, 0, m::MSG_COMMAND_AMF0, 0, &del);
        self.flush().await?;
        self.sock.shutdown().await
    }

    /// Waits until the server closes the connection (or `timeout` passes): true if closed.
    pub async fn wait_closed(&mut self, timeout: Duration) -> bool {
        let mut b = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.sock.read(&mut b)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_push_urls() {
        let u = PushUrl::parse("rtmp://127.0.0.1:1936/live/cam1?txTime=1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:1936");
        assert_eq!(u.tc_url, "rtmp://127.0.0.1:1936/live");
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "cam1?txTime=1"));
        assert_eq!(PushUrl::parse("rtmp://h/a/s").unwrap().addr, "h:1935");
        assert!(PushUrl::parse("http://h/a/s").is_err());
    }
}
