//! Recording: templates and rules (what to record), recorders (hub readers that write
//! files), and file naming.

pub mod catalog;
pub mod file_name;
pub mod template;
