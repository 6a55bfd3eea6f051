//! Sans-I/O RTMP: the handshake, the chunk stream codec, AMF0 and the messages a
//! publishing session exchanges. The server (ingest) and our own pusher (tests and the
//! load generator) both drive these with their own sockets.
//!
//! Architecture invariant: no I/O and no allocation proportional to what a peer
//! *claims* (lengths, chunk sizes); memory grows only with bytes actually received,
//! and every limit breach is an `RtmpError`, never a panic.

pub mod chunk;
pub mod error;
pub mod handshake;
pub mod message;

pub use chunk::{ChunkDecoder, ChunkEncoder, Message};
pub use error::RtmpError;
pub use rewind_media::amf0;
