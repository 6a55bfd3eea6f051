//! Callbacks (R-M3): the operator's systems learn of finished files (`event_type`
//! 100), of publishes starting and ending (1 and 0), and of recordings starting, pausing, resuming, failing and ending (332).
//!
//! Events are rows of an outbox table, written by the code that decides them (a
//! finished file's event in the same transaction as its media row); `sender` delivers
//! them with retries and backoff, so a slow or absent receiver never slows recording
//! and a restart loses nothing. Each event keeps one id across all its tries.

pub mod event;
pub mod outbox;
pub mod sender;
pub mod targets;

pub use event::{RecordStatus, status_event};
pub use outbox::Outbox;
