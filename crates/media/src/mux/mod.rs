//! Pure muxers: frames in, container bytes out. No files, no tokio: the recorder's
//! file sink writes what they produce.

pub mod adts;
pub mod cmaf;
pub mod flv;
pub mod hls;
pub mod mp4;
pub mod ts;

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
