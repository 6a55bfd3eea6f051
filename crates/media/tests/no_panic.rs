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
