//! rewind: a live-stream recording and playback server.
//!
//! See ARCHITECTURE.md at the repository root for the map of this crate.

pub mod api;
pub mod callbacks;
pub mod clock;
pub mod config;
pub mod config_sync;
pub mod conn_slots;
pub mod data_dir_lock;
pub mod db;
pub mod disk_reserve;
pub mod domains;
pub mod error;
pub mod fd_limit;
pub mod hub;
pub mod ingest;
pub mod leases;
pub mod library;
pub mod lock;
pub mod log_throttle;
pub mod metrics;
pub mod nodes;
pub mod peer_text;
pub mod publish_history;
pub mod push;
pub mod recording;
pub mod registry;
pub mod secret;
pub mod server;
pub mod sources;
pub mod storage;
pub mod stream_forbids;
pub mod stream_id;
pub mod tasks;
pub mod timeline;
pub mod wire_time;
