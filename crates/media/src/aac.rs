//! AAC: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).

use crate::bits::BitReader;
use crate::codec::CodecError;
use bytes::Bytes;

/// Sampling frequencies by `samplingFrequencyIndex`.
pub const SAMPLE_RATES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// A parsed AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq)]
pub struct AacConfig {
    /// The config as received.
    pub record: Bytes,
    /// `mp4a.40.{object_type}`.
    pub codec_string: String,
    /// Audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// Sampling frequency index (0–12), or 15 with an explicit rate.
    pub frequency_index: u8,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Channel configuration (1–7); 0 means "in the bitstream", reported as 0.
    pub channels: u8,
}

impl AacConfig {
    /// Parses an AudioSpecificConfig (the body of an FLV AAC sequence header).
    pub fn parse(record: Bytes) -> Result<Self, CodecError> {
        if record.len() < 2 {
            return Err(CodecError::Truncated("AudioSpecificConfig"));
        }
        let mut r = BitReader::new(&record);
        let mut object_type = r.bits(5)? as u8;
        if object_type == 31 {
            object_type = 32 + r.bits(6)? as u8;
        }
        if object_type == 0 {
            return Err(CodecError::Invalid("AAC audio object type 0"));
        }
        let frequency_index = r.bits(4)? as u8;
        let sample_rate = match frequency_index {
            15 => r.bits(24)?,
            i if (i as usize) < SAMPLE_RATES.len() => SAMPLE_RATES[i as usize],
            _ => return Err(CodecError::Invalid("reserved AAC sampling frequency index")),
        };
        if sample_rate == 0 {
            return Err(CodecError::Invalid("AAC sampling rate 0"));
        }
        let channels = r.bits(4)? as u8;
        if channels > 7 {
            return Err(CodecError::Invalid("reserved AAC channel configuration"));
        }
        Ok(AacConfig {
            codec_string: format!("mp4a.40.{object_type}"),
            object_type,
            frequency_index,
            sample_rate,
            channels,
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_stereo_44100() {
        let c = AacConfig::parse(Bytes::from_static(&[0x12, 0x10, 0x56, 0xe5, 0x00])).unwrap();
        assert_eq!(c.codec_string, "mp4a.40.2");
        assert_eq!((c.sample_rate, c.channels), (44100, 2));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(AacConfig::parse(Bytes::from_static(&[0x12])).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x00, 0x00])).is_err());
        assert!(AacConfig::parse(Bytes::from_static(&[0x16, 0x90])).is_err(), "index 13");
    }
}
