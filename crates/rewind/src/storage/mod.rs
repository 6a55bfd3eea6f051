//! Storage (issue 16): the seam between rewind and where bytes are kept — the local
//! folder, or an S3-compatible bucket with a local spool. `keys` names every object;
//! `store` reads and deletes through one API; `uploads` moves finished files to the
//! bucket; `sendfile_put` sends whole files to a plain-HTTP endpoint without copying them;
//! `spool` walks the local files; `s3` builds the client; `audit` keeps the
//! index and the bucket in agreement.

pub mod audit;
pub mod keys;
pub mod s3;
pub mod sendfile_put;
pub mod spool;
pub mod store;
pub mod uploads;

pub use keys::Key;
pub use store::{Location, Storage};
