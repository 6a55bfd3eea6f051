//! Record templates (SPEC §3): which formats to write and how, validated exactly as
//! the cloud service does (ranges, defaults, file-name placeholders).

use crate::error::{Error, ErrorCode, Result};
use crate::recording::file_name;
use serde::{Deserialize, Deserializer, Serialize};

/// Longest template name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// `storage_time` maximum: 1500 days.
pub const MAX_STORAGE_TIME_SECS: u64 = 1500 * 86_400;
/// Default `record_interval`.
pub const DEFAULT_RECORD_INTERVAL_SECS: u32 = 1800;

/// The four file formats.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// FLV.
    Flv,
    /// HLS (MPEG-TS segments + playlist).
    Hls,
    /// Progressive MP4.
    Mp4,
    /// ADTS AAC (audio only).
    Aac,
}

impl Format {
    /// Every format, in template order.
    pub const ALL: [Format; 4] = [Format::Flv, Format::Hls, Format::Mp4, Format::Aac];

    /// Lower-case name (`flv`, …), also the file extension except for HLS.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flv => "flv",
            Format::Hls => "hls",
            Format::Mp4 => "mp4",
            Format::Aac => "aac",
        }
    }

    /// From the lower-case name.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Allowed `record_interval` range (None: ignored, as for HLS).
    pub fn interval_range(self) -> Option<(u32, u32)> {
        match self {
            Format::Flv | Format::Mp4 => Some((60, 43_200)),
            Format::Aac => Some((60, 7_200)),
            Format::Hls => None,
        }
    }
}

fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Int(i64),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Int(0) => Ok(false),
        B::Int(1) => Ok(true),
        B::Int(n) => Err(serde::de::Error::custom(format!("enable must be true/false or 0/1, not {n}"))),
    }
}

/// Per-format parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FormatParam {
    /// Record this format.
    #[serde(deserialize_with = "bool_or_int")]
    pub enable: bool,
    /// Seconds after which a file is split (at the next key frame); ignored for HLS.
    pub record_interval: u32,
    /// Seconds a finished file is kept; 0 = forever.
    pub storage_time: u64,
    /// File name pattern.
    pub file_name: String,
}

impl Default for FormatParam {
    fn default() -> Self {
        FormatParam {
            enable: false,
            record_interval: DEFAULT_RECORD_INTERVAL_SECS,
            storage_time: 0,
            file_name: file_name::DEFAULT_PATTERN.to_string(),
        }
    }
}

/// HLS-only settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSpecial {
    /// Auto-splice window in seconds (0–1800; 0 = off).
    pub flow_continue_duration: u32,
}

/// Timeline archiving settings (SPEC §8).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TimelineParam {
    /// Archive this stream into its timeline.
    #[serde(deserialize_with = "bool_or_int")]
    pub enable: bool,
    /// Seconds of media per chunk object (30–300, steps of 30).
    pub segment_length: u32,
    /// Seconds of timeline kept; 0 = forever.
    pub retention: u64,
}

impl Default for TimelineParam {
    fn default() -> Self {
        TimelineParam { enable: false, segment_length: 30, retention: 0 }
    }
}

/// A record template.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Template {
    /// Id (0 is the built-in template).
    pub template_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// FLV parameters.
    pub flv: FormatParam,
    /// HLS parameters.
    pub hls: FormatParam,
    /// MP4 parameters.
    pub mp4: FormatParam,
    /// AAC parameters.
    pub aac: FormatParam,
    /// HLS-only settings.
    pub hls_special: HlsSpecial,
    /// Timeline archiving.
    pub timeline: TimelineParam,
}

impl Template {
    /// Template 0: what a task without a template records (HLS, kept forever).
    pub fn builtin() -> Template {
        Template {
            template_id: 0,
            name: "default-hls".into(),
            description: "Built in: HLS, kept forever.".into(),
            hls: FormatParam { enable: true, ..FormatParam::default() },
            ..Template::default()
        }
    }

    /// The parameters of `f`.
    pub fn param(&self, f: Format) -> &FormatParam {
        match f {
            Format::Flv => &self.flv,
            Format::Hls => &self.hls,
            Format::Mp4 => &self.mp4,
            Format::Aac => &self.aac,
        }
    }

    /// Formats this template records (empty: "do not record", R-T2).
    pub fn enabled_formats(&self) -> Vec<Format> {
        Format::ALL.into_iter().filter(|f| self.param(*f).enable).collect()
    }

    /// Checks every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |code, m: String| Err(Error::new(code, m));
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME_LEN {
            return bad(ErrorCode::InvalidParameter, format!("name must be 1 to {MAX_NAME_LEN} characters"));
        }
        if self.name.chars().any(char::is_control) {
            return bad(ErrorCode::InvalidParameter, "name may not contain control characters".into());
        }
        if self.description.chars().count() > MAX_DESCRIPTION_LEN {
            return bad(
                ErrorCode::InvalidParameter,
                format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
            );
        }
        for f in Format::ALL {
            let p = self.param(f);
            let name = f.as_str();
            if let Some((lo, hi)) = f.interval_range()
                && !(lo..=hi).contains(&p.record_interval)
            {
                return bad(
                    ErrorCode::RecordInterval,
                    format!("{name}.record_interval must be {lo} to {hi} seconds, not {}", p.record_interval),
                );
            }
            if p.storage_time > MAX_STORAGE_TIME_SECS {
                return bad(
                    ErrorCode::StorageTime,
                    format!(
                        "{name}.storage_time must be 0 (forever) to {MAX_STORAGE_TIME_SECS} seconds (1500 days)"
                    ),
                );
            }
            file_name::validate(&p.file_name)
                .map_err(|m| Error::new(ErrorCode::VodFileName, format!("{name}.{m}")))?;
        }
        if self.hls_special.flow_continue_duration > 1800 {
            return bad(
                ErrorCode::FlowContinueDuration,
                "hls_special.flow_continue_duration must be 0 to 1800 seconds".into(),
            );
        }
        let sl = self.timeline.segment_length;
        if !(30..=300).contains(&sl) || !sl.is_multiple_of(30) {
            return bad(
                ErrorCode::SegmentLength,
                format!("timeline.segment_length must be 30 to 300 seconds in steps of 30, not {sl}"),
            );
        }
        if self.timeline.retention > MAX_STORAGE_TIME_SECS {
            return bad(
                ErrorCode::SegmentLength,
                "timeline.retention must be 0 (forever) to 1500 days in seconds".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(v: serde_json::Value) -> Result<Template> {
        let mut base = json!({"name": "t"});
        base.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        let t: Template =
            serde_json::from_value(base).map_err(|e| Error::new(ErrorCode::InvalidBody, e.to_string()))?;
        t.validate().map(|_| t)
    }

    #[test]
    fn defaults_and_empty_template() {
        let x = t(json!({})).unwrap();
        assert!(x.enabled_formats().is_empty(), "no format enabled is legal (R-T2)");
        assert_eq!(x.flv.record_interval, 1800);
        assert_eq!(x.flv.file_name, file_name::DEFAULT_PATTERN);
        assert_eq!(Template::builtin().enabled_formats(), vec![Format::Hls]);
    }

    #[test]
    fn range_table() {
        let code = |v| t(v).err().map(|e| e.code);
        assert_eq!(code(json!({"flv": {"record_interval": 59}})), Some(ErrorCode::RecordInterval));
        assert_eq!(code(json!({"flv": {"record_interval": 60}})), None);
        assert_eq!(code(json!({"mp4": {"record_interval": 43200}})), None);
        assert_eq!(code(json!({"mp4": {"record_interval": 43201}})), Some(ErrorCode::RecordInterval));
        assert_eq!(code(json!({"aac": {"record_interval": 7201}})), Some(ErrorCode::RecordInterval));
        assert_eq!(code(json!({"hls": {"record_interval": 5}})), None, "ignored for HLS");
        assert_eq!(code(json!({"flv": {"storage_time": 129_600_001u64}})), Some(ErrorCode::StorageTime));
        assert_eq!(code(json!({"flv": {"storage_time": 129_600_000u64}})), None);
        assert_eq!(code(json!({"flv": {"file_name": "{Bad}"}})), Some(ErrorCode::VodFileName));
        assert_eq!(
            code(json!({"hls_special": {"flow_continue_duration": 1801}})),
            Some(ErrorCode::FlowContinueDuration)
        );
        assert_eq!(code(json!({"timeline": {"segment_length": 45}})), Some(ErrorCode::SegmentLength));
        assert_eq!(code(json!({"timeline": {"segment_length": 330}})), Some(ErrorCode::SegmentLength));
        assert_eq!(code(json!({"timeline": {"segment_length": 300}})), None);
        assert_eq!(code(json!({"name": ""})), Some(ErrorCode::InvalidParameter));
        assert_eq!(code(json!({"flv": {"enable": 2}})), Some(ErrorCode::InvalidBody));
        assert_eq!(code(json!({"flv": {"enabel": true}})), Some(ErrorCode::InvalidBody));
        assert!(t(json!({"flv": {"enable": 1}})).unwrap().flv.enable);
    }
}
