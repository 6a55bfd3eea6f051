//! Every parser, on random bytes: errors are fine, panics are not.

use bytes::Bytes;
use proptest::prelude::*;
use rewind_media::{aac::AacConfig, avc, avc::AvcConfig, flv, hevc, hevc::HevcConfig};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let b = Bytes::from(data.clone());
        let _ = AvcConfig::parse(b.clone());
        let _ = HevcConfig::parse(b.clone());
        let _ = AacConfig::parse(b.clone());
        let _ = avc::parse_sps(&data);
        let _ = hevc::parse_sps(&data);
        let _ = flv::parse_video(&b);
        let _ = flv::parse_audio(&b);
        let _ = flv::read_file(&b);
    }

    #[test]
    fn sps_parsers_never_panic_behind_a_valid_header(rest in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut h264 = vec![0x67];
        h264.extend_from_slice(&rest);
        let _ = avc::parse_sps(&h264);
        let mut h265 = vec![0x42, 0x01];
        h265.extend_from_slice(&rest);
        let _ = hevc::parse_sps(&h265);
    }
}

/// Inputs the fuzzer found (fuzz/artifacts), kept as regression tests.
#[test]
fn fuzz_findings() {
    // An SPS whose scaling-list deltas overflowed an i32 sum.
    let crash_1: &[u8] = &[
        0x87, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0xff, 0xff, 0xb3, 0xff, 0xff, 0xff, 0xbf, 0xff, 0xff,
        0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0x80, 0xff, 0xff, 0xff, 0xff, 0xb3, 0xb3, 0xff,
    ];
    for data in [crash_1] {
        let third = data.len() / 3;
        let _ = AvcConfig::from_parameter_sets(&data[..third], &data[third..]);
        let _ = avc::parse_sps(data);
        for skip in 0..data.len() {
            let mut sps = vec![0x67];
            sps.extend_from_slice(&data[skip..]);
            let _ = avc::parse_sps(&sps);
        }
    }
}
