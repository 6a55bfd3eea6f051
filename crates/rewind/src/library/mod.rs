//! The media library: one record per finished recording file, its search, and the
//! bytes behind it.
//!
//! Architecture invariant: the library is the truth about what exists; storage only
//! holds bytes. A file becomes visible by its record being inserted after its bytes
//! are complete and synced. The API deletes record-first (the caller sees it gone at
//! once); retention deletes bytes-first, so a crash leaves only a record that the next
//! sweep finishes.

pub mod media;
pub mod retention;
