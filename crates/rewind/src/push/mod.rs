//! Our own RTMP pusher: a publishing client (tests push hand-built Enhanced RTMP tags
//! with it) and the load generator behind `rewind push`.

pub mod client;
pub mod loadgen;
