//! Ingest: protocol sessions that turn pushes into `Frame`s on a stream's hub.

pub mod frames;
pub mod lifecycle;
pub mod publish_target;
pub mod push_auth;
pub mod rtmp_server;
pub mod rtmp_session;
pub mod socket_batch;
pub mod tracks;
