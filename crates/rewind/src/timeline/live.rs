//! What playback sees of a timeline beyond the index: the run being recorded and the
//! chunk being filled, fragment by fragment. This is why live playback lags by one
//! fragment, not by `segment_length` (B-P3).

use crate::timeline::index::{Chunk, Run};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The unsealed end of one stream's timeline.
#[derive(Clone, Debug, Default)]
pub struct LiveTail {
    /// The run being recorded; its end is the end of the last fragment on disk.
    pub run: Option<Run>,
    /// The open chunk with the fragments on disk so far.
    pub chunk: Option<Chunk>,
}

/// Live tails of the streams being recorded into their timelines, by stream id.
#[derive(Debug, Default)]
pub struct LiveTimelines {
    // Copy-on-write: a reader takes the Arc and never holds the lock while it works.
    map: Mutex<HashMap<String, Arc<LiveTail>>>,
}

impl LiveTimelines {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveTail>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes a stream's new tail.
    pub fn set(&self, stream_id: &str, tail: LiveTail) {
        self.lock().insert(stream_id.to_string(), Arc::new(tail));
    }

    /// A stream's tail, if it is being recorded into its timeline now.
    pub fn get(&self, stream_id: &str) -> Option<Arc<LiveTail>> {
        self.lock().get(stream_id).cloned()
    }

    /// The stream stopped recording.
    pub fn remove(&self, stream_id: &str) {
        self.lock().remove(stream_id);
    }
}
