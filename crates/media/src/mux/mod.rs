//! Pure muxers: frames in, container bytes out. No files, no tokio: the recorder's
//! file sink writes what they produce.

pub mod adts;
pub mod cmaf;
pub mod flv;
pub mod hls;
pub mod mp4;
pub mod ts;

use bytes::{Bytes, BytesMut};

/// Where a muxer puts what it makes: bytes it builds, and frame payloads it passes on
/// unchanged (a file sink can write those from the frame's own memory, without a copy).
pub trait MuxOut {
    /// The buffer built bytes are appended to.
    fn bytes(&mut self) -> &mut BytesMut;
    /// Appends a frame payload after the bytes built so far.
    fn payload(&mut self, data: &Bytes) {
        self.bytes().extend_from_slice(data);
    }

    /// About `n` bytes are coming (a growable buffer makes room once; a sink of
    /// fixed-size blocks ignores it).
    fn reserve_hint(&mut self, n: usize) {
        self.bytes().reserve(n);
    }
}

impl MuxOut for BytesMut {
    fn bytes(&mut self) -> &mut BytesMut {
        self
    }
}

/// Compares a muxer's output with `tests/golden/{name}` (`UPDATE_GOLDEN=1` rewrites it).
#[cfg(test)]
pub(crate) fn assert_golden(name: &str, out: &[u8]) {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, out).unwrap();
    }
    let want = std::fs::read(&golden).expect("golden file; run with UPDATE_GOLDEN=1 to create");
    assert!(out == &want[..], "output differs from tests/golden/{name}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Track;

    /// A `MuxOut` like a file sink: small fixed blocks it moves on from between writes,
    /// and payloads kept as their own pieces.
    #[derive(Default)]
    struct Pieces {
        done: Vec<Bytes>,
        block: BytesMut,
    }

    impl MuxOut for Pieces {
        fn bytes(&mut self) -> &mut BytesMut {
            if self.block.capacity() - self.block.len() < 256 {
                self.done.push(std::mem::replace(&mut self.block, BytesMut::with_capacity(1024)).freeze());
            }
            &mut self.block
        }
        fn payload(&mut self, data: &Bytes) {
            self.done.push(self.block.split().freeze());
            self.done.push(data.clone());
        }
        fn reserve_hint(&mut self, _n: usize) {}
    }

    impl Pieces {
        fn concat(mut self) -> Vec<u8> {
            self.done.push(self.block.freeze());
            self.done.concat()
        }
    }

    #[test]
    fn muxers_write_the_same_bytes_to_a_block_sink_as_to_one_buffer() {
        let frames = flv::test_frames();
        let video = frames.iter().find(|f| f.track == Track::Video).map(|f| f.codec.clone());

        let (mut a, mut b) = (flv::FlvMuxer::new(true, true, 100), flv::FlvMuxer::new(true, true, 100));
        let (mut one, mut pieces) = (BytesMut::new(), Pieces::default());
        frames.iter().for_each(|f| a.frame(f, &mut one));
        frames.iter().for_each(|f| b.frame(f, &mut pieces));
        assert_eq!(pieces.concat(), one.to_vec(), "flv");
        assert_eq!(a.written(), b.written());

        let (mut a, mut b) =
            (ts::TsMuxer::new(video.as_deref(), true), ts::TsMuxer::new(video.as_deref(), true));
        let (mut one, mut pieces) = (BytesMut::new(), Pieces::default());
        frames.iter().for_each(|f| a.frame(f, &mut one));
        frames.iter().for_each(|f| b.frame(f, &mut pieces));
        assert_eq!(pieces.concat(), one.to_vec(), "ts");

        let (mut a, mut b) = (mp4::Mp4Muxer::new(), mp4::Mp4Muxer::new());
        let (mut one, mut pieces) = (BytesMut::new(), Pieces::default());
        frames.iter().for_each(|f| a.frame(f, &mut one));
        frames.iter().for_each(|f| b.frame(f, &mut pieces));
        assert_eq!(pieces.concat(), one.to_vec(), "mp4 mdat");
    }
}
