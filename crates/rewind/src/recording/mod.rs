//! Recording: templates and rules (what to record), recorders (hub readers that write
//! files through pure muxers and a file sink), and file naming.

pub mod block_pool;
pub mod catalog;
pub mod file_name;
pub mod hls_file;
pub mod journal;
pub mod launch;
pub mod recorder;
pub mod recovery;
pub mod sink;
pub mod splice;
pub mod template;
pub mod write_threads;
