//! Ingest: protocol sessions that turn pushes (RTMP) and pulls (RTSP) into `Frame`s on
//! a stream's hub, through one publish lifecycle.

pub mod frames;
pub mod lifecycle;
pub mod publish_target;
pub mod pull_reactor;
pub mod push_auth;
pub mod rtmp_server;
pub mod rtmp_session;
pub mod rtsp_session;
pub mod socket_batch;
pub mod tracks;
