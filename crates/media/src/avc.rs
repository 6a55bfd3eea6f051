//! H.264: the `avcC` decoder configuration record and the parts of the SPS we report.

use crate::bits::{BitReader, rbsp_from_nal};
use crate::codec::CodecError;
use bytes::Bytes;

/// A parsed `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct AvcConfig {
    /// The record as received, for muxers that embed it verbatim.
    pub record: Bytes,
    /// `avc1.PPCCLL`.
    pub codec_string: String,
    /// Size of the NAL length prefix in frames (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets.
    pub pps: Vec<Bytes>,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
    /// Frame rate from the SPS timing info, when present.
    pub fps: Option<f64>,
}

fn take<'a>(d: &mut &'a [u8], n: usize) -> Result<&'a [u8], CodecError> {
    if d.len() < n {
        return Err(CodecError::Truncated("AVC decoder configuration record"));
    }
    let (a, b) = d.split_at(n);
    *d = b;
    Ok(a)
}

impl AvcConfig {
    /// Parses an `avcC` record (the body of an FLV AVC sequence header).
    pub fn parse(record: Bytes) -> Result<Self, CodecError> {
        let mut d: &[u8] = &record;
        let head = take(&mut d, 6)?;
        if head[0] != 1 {
            return Err(CodecError::Invalid("avcC configurationVersion is not 1"));
        }
        let nal_length_size = (head[4] & 3) + 1;
        if nal_length_size == 3 {
            return Err(CodecError::Invalid("avcC NAL length size 3"));
        }
        let mut sps = Vec::new();
        for _ in 0..(head[5] & 0x1f) {
            let len = u16::from_be_bytes(take(&mut d, 2)?.try_into().unwrap()) as usize;
            let nal = take(&mut d, len)?;
            sps.push(record.slice_ref(nal));
        }
        let mut pps = Vec::new();
        let n_pps = take(&mut d, 1)?[0];
        for _ in 0..n_pps {
            let len = u16::from_be_bytes(take(&mut d, 2)?.try_into().unwrap()) as usize;
            let nal = take(&mut d, len)?;
            pps.push(record.slice_ref(nal));
        }
        let first = sps.first().ok_or(CodecError::Invalid("avcC has no SPS"))?;
        if pps.is_empty() {
            return Err(CodecError::Invalid("avcC has no PPS"));
        }
        let info = parse_sps(first)?;
        Ok(AvcConfig {
            codec_string: format!(
                "avc1.{:02x}{:02x}{:02x}",
                info.profile_idc, info.constraint_flags, info.level_idc
            ),
            nal_length_size,
            width: info.width,
            height: info.height,
            fps: info.fps,
            sps,
            pps,
            record,
        })
    }

    /// Builds an `avcC` record from one SPS and one PPS (NAL units without start codes).
    pub fn from_parameter_sets(sps: &[u8], pps: &[u8]) -> Result<Self, CodecError> {
        if sps.len() < 4 {
            return Err(CodecError::Truncated("SPS"));
        }
        let mut r = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        r.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        r.extend_from_slice(sps);
        r.push(1);
        r.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        r.extend_from_slice(pps);
        Self::parse(Bytes::from(r))
    }
}

/// What we read from an H.264 SPS.
#[derive(Debug, Clone, PartialEq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// The constraint-flags byte.
    pub constraint_flags: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// Cropped width.
    pub width: u32,
    /// Cropped height.
    pub height: u32,
    /// Frame rate from VUI timing, if present.
    pub fps: Option<f64>,
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            // delta_scale is se(v): any i32, so the sum is taken in i64 (found by fuzzing).
            next = (last + r.se()? as i64).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Parses an H.264 SPS NAL unit (with its one-byte NAL header).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
    if nal.len() < 4 || nal[0] & 0x1f != 7 {
        return Err(CodecError::Invalid("not an H.264 SPS"));
    }
    let rbsp = rbsp_from_nal(&nal[1..]);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(CodecError::Invalid("chroma_format_idc"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err(CodecError::Invalid("num_ref_frames_in_pic_order_cnt_cycle"));
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(CodecError::Invalid("pic_order_cnt_type")),
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? as u64 + 1;
    let height_map_units = r.ue()? as u64 + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let fps = if r.bit().unwrap_or(false) { vui_fps(&mut r).ok().flatten() } else { None };
    let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
        (1, false) => (2, 2),
        (2, false) => (2, 1),
        _ => (1, 1),
    };
    let crop_unit_x = if chroma_format_idc == 0 || separate_colour_plane { 1 } else { sub_w };
    let crop_unit_y = (if chroma_format_idc == 0 || separate_colour_plane { 1 } else { sub_h })
        * (2 - frame_mbs_only as u64);
    let full_w = width_mbs * 16;
    let full_h = height_map_units * 16 * (2 - frame_mbs_only as u64);
    let width = full_w.checked_sub((cl + cr) * crop_unit_x);
    let height = full_h.checked_sub((ct + cb) * crop_unit_y);
    let (Some(width), Some(height)) = (width, height) else {
        return Err(CodecError::Invalid("SPS cropping larger than the picture"));
    };
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(CodecError::Invalid("SPS picture size out of range"));
    }
    Ok(SpsInfo { profile_idc, constraint_flags, level_idc, width: width as u32, height: height as u32, fps })
}

fn vui_fps(r: &mut BitReader) -> Result<Option<f64>, CodecError> {
    if r.bit()? && r.bits(8)? == 255 {
        r.skip(32)?; // sar_width, sar_height
    }
    if r.bit()? {
        r.bit()?; // overscan_appropriate_flag
    }
    if r.bit()? {
        r.skip(4)?; // video_format, video_full_range_flag
        if r.bit()? {
            r.skip(24)?;
        }
    }
    if r.bit()? {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 && scale > 0 {
            return Ok(Some(scale as f64 / (2.0 * units as f64)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// avcC of a 320x240 High-profile x264 stream (ffmpeg testsrc, 25 fps).
    pub const AVCC_320X240: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb,
        0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01,
        0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn parses_a_real_avcc() {
        let c = AvcConfig::parse(Bytes::from_static(AVCC_320X240)).unwrap();
        assert_eq!(c.codec_string, "avc1.64000d");
        assert_eq!((c.width, c.height), (320, 240));
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.fps, Some(25.0));
    }

    #[test]
    fn truncated_records_are_errors_at_every_length() {
        for n in 0..42 {
            assert!(AvcConfig::parse(Bytes::copy_from_slice(&AVCC_320X240[..n])).is_err(), "len {n}");
        }
    }
}
