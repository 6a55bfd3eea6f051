//! H.265: the `hvcC` decoder configuration record, the SPS fields we report, and the
//! RFC 6381 / ISO 14496-15 Annex E codec string (no crate makes `hvc1.*` strings).

use crate::bits::{BitReader, rbsp_from_nal};
use crate::codec::CodecError;
use bytes::Bytes;

/// NAL unit types of the parameter sets.
pub const NAL_VPS: u8 = 32;
/// Sequence parameter set.
pub const NAL_SPS: u8 = 33;
/// Picture parameter set.
pub const NAL_PPS: u8 = 34;

/// A parsed `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §8.3.3).
#[derive(Debug, Clone, PartialEq)]
pub struct HevcConfig {
    /// The record as received.
    pub record: Bytes,
    /// `hvc1.…` codec string.
    pub codec_string: String,
    /// Size of the NAL length prefix in frames.
    pub nal_length_size: u8,
    /// Parameter-set NAL units (VPS, SPS, PPS, SEI), in record order, with their type.
    pub nal_units: Vec<(u8, Bytes)>,
    /// Displayed width (after the conformance window).
    pub width: u32,
    /// Displayed height.
    pub height: u32,
}

/// The general profile/tier/level of an HEVC stream (12 bytes in both SPS and hvcC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileTierLevel {
    /// `general_profile_space` (0–3).
    pub profile_space: u8,
    /// `general_tier_flag`.
    pub tier_high: bool,
    /// `general_profile_idc`.
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags`.
    pub compatibility_flags: u32,
    /// The 48 constraint-indicator bits.
    pub constraint_flags: [u8; 6],
    /// `general_level_idc`.
    pub level_idc: u8,
}

impl ProfileTierLevel {
    fn from_bytes(b: &[u8; 12]) -> Self {
        ProfileTierLevel {
            profile_space: b[0] >> 6,
            tier_high: b[0] & 0x20 != 0,
            profile_idc: b[0] & 0x1f,
            compatibility_flags: u32::from_be_bytes([b[1], b[2], b[3], b[4]]),
            constraint_flags: [b[5], b[6], b[7], b[8], b[9], b[10]],
            level_idc: b[11],
        }
    }

    fn to_bytes(self) -> [u8; 12] {
        let c = self.compatibility_flags.to_be_bytes();
        let k = self.constraint_flags;
        [
            (self.profile_space << 6) | ((self.tier_high as u8) << 5) | self.profile_idc,
            c[0],
            c[1],
            c[2],
            c[3],
            k[0],
            k[1],
            k[2],
            k[3],
            k[4],
            k[5],
            self.level_idc,
        ]
    }

    /// `hvc1.{space}{profile}.{compat reversed}.{tier}{level}[.{constraints}]`.
    pub fn codec_string(&self, fourcc: &str) -> String {
        let space = ["", "A", "B", "C"][self.profile_space as usize & 3];
        let mut s = format!(
            "{fourcc}.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            if self.tier_high { 'H' } else { 'L' },
            self.level_idc
        );
        let last = self.constraint_flags.iter().rposition(|&b| b != 0);
        if let Some(last) = last {
            for b in &self.constraint_flags[..=last] {
                s.push_str(&format!(".{b:X}"));
            }
        }
        s
    }
}

/// What we read from an H.265 SPS.
#[derive(Debug, Clone, PartialEq)]
pub struct HevcSps {
    /// General profile, tier and level.
    pub ptl: ProfileTierLevel,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u8,
    /// Displayed width.
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nesting: bool,
    /// `sps_max_sub_layers_minus1`.
    pub max_sub_layers_minus1: u8,
}

/// Parses an H.265 SPS NAL unit (with its two-byte NAL header).
pub fn parse_sps(nal: &[u8]) -> Result<HevcSps, CodecError> {
    if nal.len() < 15 || (nal[0] >> 1) & 0x3f != NAL_SPS {
        return Err(CodecError::Invalid("not an H.265 SPS"));
    }
    let rbsp = rbsp_from_nal(&nal[2..]);
    let mut r = BitReader::new(&rbsp);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as u8;
    let temporal_id_nesting = r.bit()?;
    let mut ptl = [0u8; 12];
    for b in &mut ptl {
        *b = r.bits(8)? as u8;
    }
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *p = (r.bit()?, r.bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?;
        }
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(CodecError::Invalid("chroma_format_idc"));
    }
    let separate = chroma_format_idc == 3 && r.bit()?;
    let w = r.ue()? as u64;
    let h = r.ue()? as u64;
    let (sub_w, sub_h) = match (chroma_format_idc, separate) {
        (1, false) => (2, 2),
        (2, false) => (2, 1),
        _ => (1, 1),
    };
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let width = w.checked_sub(sub_w * (cl + cr));
    let height = h.checked_sub(sub_h * (ct + cb));
    let (Some(width), Some(height)) = (width, height) else {
        return Err(CodecError::Invalid("SPS conformance window larger than the picture"));
    };
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(CodecError::Invalid("SPS picture size out of range"));
    }
    let bit_depth_luma_minus8 = r.ue()?.min(7) as u8;
    let bit_depth_chroma_minus8 = r.ue()?.min(7) as u8;
    Ok(HevcSps {
        ptl: ProfileTierLevel::from_bytes(&ptl),
        chroma_format_idc: chroma_format_idc as u8,
        width: width as u32,
        height: height as u32,
        bit_depth_luma_minus8,
        bit_depth_chroma_minus8,
        temporal_id_nesting,
        max_sub_layers_minus1,
    })
}

struct Cursor<'a>(&'a [u8]);
impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Truncated("HEVC decoder configuration record"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

impl HevcConfig {
    /// Parses an `hvcC` record (the body of an Enhanced RTMP `hvc1` sequence start).
    pub fn parse(record: Bytes) -> Result<Self, CodecError> {
        let mut c = Cursor(&record);
        let head = c.take(23)?;
        if head[0] != 1 {
            return Err(CodecError::Invalid("hvcC configurationVersion is not 1"));
        }
        let ptl = ProfileTierLevel::from_bytes(head[1..13].try_into().unwrap());
        let nal_length_size = (head[21] & 3) + 1;
        if nal_length_size == 3 {
            return Err(CodecError::Invalid("hvcC NAL length size 3"));
        }
        let mut nal_units = Vec::new();
        for _ in 0..head[22] {
            let nal_type = c.u8()? & 0x3f;
            for _ in 0..c.u16()? {
                let len = c.u16()? as usize;
                let nal = c.take(len)?;
                nal_units.push((nal_type, record.slice_ref(nal)));
            }
        }
        let sps =
            nal_units.iter().find(|(t, _)| *t == NAL_SPS).ok_or(CodecError::Invalid("hvcC has no SPS"))?;
        let info = parse_sps(&sps.1)?;
        Ok(HevcConfig {
            codec_string: ptl.codec_string("hvc1"),
            nal_length_size,
            width: info.width,
            height: info.height,
            nal_units,
            record,
        })
    }

    /// Builds an `hvcC` record (4-byte NAL lengths) from VPS, SPS and PPS NAL units.
    pub fn from_parameter_sets(vps: &[u8], sps: &[u8], pps: &[u8]) -> Result<Self, CodecError> {
        let info = parse_sps(sps)?;
        let mut r = Vec::with_capacity(23 + 15 + vps.len() + sps.len() + pps.len());
        r.push(1);
        r.extend_from_slice(&info.ptl.to_bytes());
        r.extend_from_slice(&[0xf0, 0x00, 0xfc]); // min_spatial_segmentation 0, parallelism unknown
        r.push(0xfc | info.chroma_format_idc);
        r.push(0xf8 | info.bit_depth_luma_minus8);
        r.push(0xf8 | info.bit_depth_chroma_minus8);
        r.extend_from_slice(&[0, 0]); // avgFrameRate unknown
        r.push(((info.max_sub_layers_minus1 + 1) << 3) | ((info.temporal_id_nesting as u8) << 2) | 3);
        r.push(3);
        for (t, nal) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
            r.push(0x80 | t);
            r.extend_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            r.extend_from_slice(nal);
        }
        Self::parse(Bytes::from(r))
    }
}

/// NAL unit type of an H.265 NAL unit.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// True for IRAP pictures (BLA, IDR, CRA): where a decoder can start.
pub fn is_irap(nal_type: u8) -> bool {
    (16..=23).contains(&nal_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parameter sets of a 320x240 Main-profile x265 stream (ffmpeg testsrc, yuv420p).
    const VPS: &str = "40010c01ffff01600000030090000003000003003c959809";
    const SPS: &str = "42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003210";
    const PPS: &str = "4401c172b46240";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn builds_and_parses_an_hvcc() {
        let c = HevcConfig::from_parameter_sets(&unhex(VPS), &unhex(SPS), &unhex(PPS)).unwrap();
        assert_eq!((c.width, c.height), (320, 240));
        assert_eq!(c.codec_string, "hvc1.1.6.L60.90");
        assert_eq!(c.nal_units.len(), 3);
        assert_eq!(c.nal_length_size, 4);
        let again = HevcConfig::parse(c.record.clone()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn codec_string_per_annex_e() {
        let ptl = ProfileTierLevel {
            profile_space: 0,
            tier_high: false,
            profile_idc: 1,
            compatibility_flags: 0x6000_0000,
            constraint_flags: [0xb0, 0, 0, 0, 0, 0],
            level_idc: 93,
        };
        assert_eq!(ptl.codec_string("hvc1"), "hvc1.1.6.L93.B0");
    }

    #[test]
    fn truncated_records_are_errors() {
        let c = HevcConfig::from_parameter_sets(&unhex(VPS), &unhex(SPS), &unhex(PPS)).unwrap();
        for n in 0..c.record.len() {
            assert!(HevcConfig::parse(c.record.slice(..n)).is_err(), "len {n}");
        }
    }
}
