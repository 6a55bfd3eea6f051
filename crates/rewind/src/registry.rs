//! Which streams are live now (in memory) and which were ever seen (database).

use crate::db::Db;
use crate::error::Result;
use crate::hub::Hub;
use crate::stream_id::StreamId;
use rewind_media::Time90k;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The video track of a stream, as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VideoInfo {
    /// RFC 6381 codec string.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second, measured from timestamps (SPS timing until enough frames).
    pub fps: f64,
}

/// The audio track of a stream, as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AudioInfo {
    /// RFC 6381 codec string.
    pub codec: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u8,
}

/// What a stream carries.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MediaInfo {
    /// Video track, if any.
    pub video: Option<VideoInfo>,
    /// Audio track, if any.
    pub audio: Option<AudioInfo>,
}

/// One live publish session.
#[derive(Debug)]
pub struct LiveStream {
    /// Stream id.
    pub id: StreamId,
    /// Unique id of this publish session.
    pub session_id: String,
    /// The pusher's address.
    pub publisher_addr: SocketAddr,
    /// When the publish started (UTC).
    pub started_at: Time90k,
    /// The push URL's query string (without the leading `?`).
    pub stream_param: String,
    /// The fan-out to readers.
    pub hub: Hub,
    /// Tracks and codecs; updated on codec changes and once a second.
    pub media: Mutex<MediaInfo>,
    /// Media bytes received.
    pub bytes_in: AtomicU64,
    /// Frames received.
    pub frames_in: AtomicU64,
    /// Bitrate over the last few seconds, kbit/s.
    pub bitrate_kbps: AtomicU64,
    /// Cancelled to disconnect the publisher (`POST …/drop`).
    pub drop: CancellationToken,
    /// This node's lease on the stream, set once taken (unset: the database did not
    /// answer); given back when the last holder of this `LiveStream` drops it.
    pub lease: std::sync::OnceLock<crate::leases::Held>,
}

impl LiveStream {
    /// The fence of this publish's lease, when it has one.
    pub fn fence(&self) -> Option<&crate::leases::Fence> {
        self.lease.get().map(|h| &h.fence)
    }
    /// A snapshot of the media description.
    pub fn media(&self) -> MediaInfo {
        self.media.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Bytes received so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Relaxed)
    }
}

/// A stream seen before, from the database.
#[derive(Clone, Debug)]
pub struct KnownStream {
    /// Stream id.
    pub id: StreamId,
    /// Last publish session.
    pub last_session_id: String,
    /// When it was last seen (Unix seconds).
    pub last_seen_unix: i64,
    /// Its last media description.
    pub last_info: MediaInfo,
}

/// Live and known streams.
#[derive(Debug)]
pub struct Registry {
    db: Db,
    // std Mutex: held for a map operation only, never across an await.
    live: Mutex<HashMap<StreamId, Arc<LiveStream>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new(db: Db) -> Self {
        Registry { db, live: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Arc<LiveStream>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `s` the live session of its stream, unless another session already is
    /// (the first publisher keeps the stream).
    pub fn register(&self, s: Arc<LiveStream>) -> std::result::Result<(), Arc<LiveStream>> {
        let mut live = self.lock();
        if let Some(existing) = live.get(&s.id) {
            return Err(existing.clone());
        }
        live.insert(s.id.clone(), s);
        Ok(())
    }

    /// Removes `s` if it is still the live session of its stream.
    pub fn unregister(&self, s: &LiveStream) {
        let mut live = self.lock();
        if live.get(&s.id).is_some_and(|l| l.session_id == s.session_id) {
            live.remove(&s.id);
        }
    }

    /// The live session of `id`.
    pub fn get(&self, id: &StreamId) -> Option<Arc<LiveStream>> {
        self.lock().get(id).cloned()
    }

    /// All live sessions, sorted by stream id.
    pub fn list(&self) -> Vec<Arc<LiveStream>> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Remembers that `s` was live at `now_unix`, with its current media description.
    pub async fn remember(&self, s: &LiveStream, now_unix: i64) -> Result<()> {
        let info = serde_json::to_string(&s.media()).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO stream (id, domain, app, stream, first_seen_unix, last_seen_unix, last_session_id, last_info)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET last_seen_unix = excluded.last_seen_unix,
               last_session_id = excluded.last_session_id, last_info = excluded.last_info",
        )
        .bind(s.id.to_string())
        .bind(&s.id.domain)
        .bind(&s.id.app)
        .bind(&s.id.stream)
        .bind(now_unix)
        .bind(&s.session_id)
        .bind(info)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    fn known_from_row(r: &sqlx::any::AnyRow) -> Result<KnownStream> {
        let info: String = r.try_get("last_info")?;
        Ok(KnownStream {
            id: StreamId {
                domain: r.try_get("domain")?,
                app: r.try_get("app")?,
                stream: r.try_get("stream")?,
            },
            last_session_id: r.try_get("last_session_id")?,
            last_seen_unix: r.try_get("last_seen_unix")?,
            last_info: serde_json::from_str(&info).unwrap_or_default(),
        })
    }

    /// Every stream ever seen.
    pub async fn known(&self) -> Result<Vec<KnownStream>> {
        let rows = sqlx::query(
            "SELECT domain, app, stream, last_session_id, last_seen_unix, last_info FROM stream ORDER BY id",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(Self::known_from_row).collect()
    }

    /// One stream seen before.
    pub async fn known_one(&self, id: &StreamId) -> Result<Option<KnownStream>> {
        let row = sqlx::query("SELECT domain, app, stream, last_session_id, last_seen_unix, last_info FROM stream WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(Self::known_from_row).transpose()
    }
}
