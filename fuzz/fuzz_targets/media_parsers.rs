//! Codec configurations and FLV files: every parser we own, on arbitrary bytes.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rewind_media::{aac::AacConfig, avc, avc::AvcConfig, flv, hevc, hevc::HevcConfig};

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    let _ = AvcConfig::parse(b.clone());
    let _ = HevcConfig::parse(b.clone());
    let _ = AacConfig::parse(b.clone());
    let _ = avc::parse_sps(data);
    let _ = hevc::parse_sps(data);
    let _ = flv::parse_video(&b);
    let _ = flv::parse_audio(&b);
    let _ = flv::read_file(&b);
    if data.len() > 6 {
        let third = data.len() / 3;
        let _ = HevcConfig::from_parameter_sets(&data[..third], &data[third..2 * third], &data[2 * third..]);
        let _ = AvcConfig::from_parameter_sets(&data[..third], &data[third..]);
    }
});
