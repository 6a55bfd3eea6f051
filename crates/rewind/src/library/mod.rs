//! The media library: one record per finished recording file, its search, and the
//! bytes behind it.
//!
//! Architecture invariant: the library is the truth about what exists; storage only
//! holds bytes. A file becomes visible by its record being inserted after its bytes
//! are complete and synced, and is deleted record-first.

pub mod media;
