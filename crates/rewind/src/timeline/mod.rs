//! The timeline (SPEC §8): continuous recording of a stream and the queries over what it holds.

pub mod available;
pub mod chunk_table;
pub mod clip;
pub mod index;
pub mod live;
pub mod locator;
pub mod playlist;
pub mod preroll;
pub mod recorder;
pub mod recovery;
pub mod retention;
pub mod select;
pub mod window;
