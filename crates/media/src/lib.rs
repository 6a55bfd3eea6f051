//! Pure media code shared by ingest, recording and playback.
//!
//! Architecture invariant: nothing in this crate does I/O, spawns tasks or reads a
//! clock; callers hand in bytes and times and get bytes and values back. That keeps
//! every parser fuzzable and every muxer golden-testable.

pub mod aac;
pub mod amf0;
pub mod avc;
pub mod bits;
pub mod codec;
pub mod decode_times;
pub mod flv;
pub mod frame;
pub mod hevc;
pub mod interleave;
pub mod mux;
pub mod time;

pub use codec::{CodecConfig, CodecError};
pub use frame::{Frame, Track};
pub use time::{Duration90k, Time90k};
