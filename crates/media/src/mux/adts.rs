//! ADTS: raw AAC frames with a 7-byte header each, the `.aac` file format.

use crate::aac::AacConfig;
use bytes::{BufMut, BytesMut};

/// Appends one ADTS frame (header + raw AAC payload).
pub fn write_frame(cfg: &AacConfig, payload: &[u8], out: &mut BytesMut) {
    // ADTS has 2 bits for the profile (object type − 1): HE-AAC (5, 29) is signalled
    // as LC with implicit SBR/PS, which decoders handle.
    let profile = (cfg.object_type.clamp(1, 4) - 1) & 3;
    let freq = if cfg.frequency_index < 13 { cfg.frequency_index } else { 4 };
    let len = payload.len() + 7;
    let ch = cfg.channels & 7;
    out.reserve(len);
    out.put_u8(0xff);
    out.put_u8(0xf1);
    out.put_u8(profile << 6 | freq << 2 | ch >> 2);
    out.put_u8((ch & 3) << 6 | (len >> 11) as u8 & 3);
    out.put_u8((len >> 3) as u8);
    out.put_u8(((len & 7) as u8) << 5 | 0x1f);
    out.put_u8(0xfc);
    out.put_slice(payload);
}

/// Complete ADTS frames at the start of `data`: (bytes they take, frame count, sample rate).
pub fn scan(data: &[u8]) -> (usize, u64, u32) {
    let (mut pos, mut frames, mut rate) = (0usize, 0u64, 0u32);
    while pos + 7 <= data.len() && data[pos] == 0xff && data[pos + 1] & 0xf0 == 0xf0 {
        let len = ((data[pos + 3] as usize & 3) << 11)
            | ((data[pos + 4] as usize) << 3)
            | (data[pos + 5] as usize >> 5);
        if len < 7 || pos + len > data.len() {
            break;
        }
        rate = crate::aac::SAMPLE_RATES.get((data[pos + 2] >> 2 & 0x0f) as usize).copied().unwrap_or(44_100);
        pos += len;
        frames += 1;
    }
    (pos, frames, rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn header_golden() {
        let cfg = AacConfig::parse(Bytes::from_static(&[0x12, 0x10])).unwrap();
        let mut out = BytesMut::new();
        write_frame(&cfg, &[0x21, 0x10, 0x05], &mut out);
        // LC, 44.1 kHz (index 4), stereo, frame length 10.
        assert_eq!(&out[..], &[0xff, 0xf1, 0x50, 0x80, 0x01, 0x5f, 0xfc, 0x21, 0x10, 0x05]);
        write_frame(&cfg, &[1; 20], &mut out);
        assert_eq!(scan(&out), (37, 2, 44_100));
        assert_eq!(scan(&out[..30]), (10, 1, 44_100), "a torn last frame is not counted");
    }
}
