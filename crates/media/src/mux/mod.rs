//! Pure muxers: frames in, container bytes out. No files, no tokio: the recorder's
//! file sink writes what they produce.

pub mod adts;
pub mod cmaf;
pub mod flv;
pub mod hls;
pub mod mp4;
pub mod ts;
