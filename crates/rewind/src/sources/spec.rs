//! What a source is declared with — in `[[sources]]` or through `/v1/sources` — and
//! the checks both go through; the camera URL split into the address rewind dials and
//! the credentials it answers a challenge with, and masked for everything it shows.

use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::StreamId;
use serde::{Deserialize, Serialize};

/// How RTP travels from the camera.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved on the RTSP connection: passes firewalls and NAT (the default).
    #[default]
    Tcp,
    /// RTP and RTCP datagrams (a LAN; loss is counted, not repaired).
    Udp,
    /// UDP first; TCP when the camera refuses UDP or no RTP arrives over it.
    Auto,
}

impl Transport {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        }
    }

    /// From the API's word (the database's column).
    pub fn parse(s: &str) -> Option<Transport> {
        match s {
            "tcp" => Some(Transport::Tcp),
            "udp" => Some(Transport::Udp),
            "auto" => Some(Transport::Auto),
            _ => None,
        }
    }
}

/// The default silence after which a camera is reconnected.
pub const DEFAULT_RTP_TIMEOUT_SECS: u64 = 10;

/// A source as declared: the camera and the stream it becomes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Its id; when not given, made from the stream (`app.stream`, or
    /// `domain.app.stream` off the default domain).
    #[serde(default)]
    pub source_id: Option<String>,
    /// `rtsp://[user[:password]@]host[:port]/path`.
    pub url: String,
    /// The stream's domain; the server's `default_domain` when not given.
    #[serde(default)]
    pub domain: Option<String>,
    /// The stream's app.
    pub app: String,
    /// The stream's name.
    pub stream: String,
    /// RTP transport.
    #[serde(default)]
    pub transport: Transport,
    /// Whether it is pulled.
    #[serde(default = "yes")]
    pub enable: bool,
    /// Seconds without RTP after which the camera is reconnected.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_secs: u64,
}

fn yes() -> bool {
    true
}

fn default_rtp_timeout() -> u64 {
    DEFAULT_RTP_TIMEOUT_SECS
}

/// A checked source: its id, its stream and its camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The id in `/v1/sources/{source_id}`.
    pub source_id: String,
    /// The stream it is published as.
    pub stream: StreamId,
    /// The camera.
    pub url: CameraUrl,
    /// RTP transport.
    pub transport: Transport,
    /// Whether it is pulled.
    pub enable: bool,
    /// Seconds without RTP after which the camera is reconnected.
    pub rtp_timeout_secs: u64,
}

impl Source {
    /// Checks `spec`; `default_domain` fills a missing domain.
    pub fn check(spec: &SourceSpec, default_domain: &str) -> Result<Source> {
        let domain = spec.domain.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| default_domain.into());
        let stream = StreamId::new(&domain, &spec.app, &spec.stream)?;
        let source_id = match &spec.source_id {
            Some(id) => id.clone(),
            None if domain == default_domain => format!("{}.{}", stream.app, stream.stream),
            None => format!("{}.{}.{}", stream.domain, stream.app, stream.stream),
        };
        check_source_id(&source_id)?;
        if !(1..=300).contains(&spec.rtp_timeout_secs) {
            return Err(Error::new(ErrorCode::InvalidParameter, "rtp_timeout_secs must be 1 to 300"));
        }
        Ok(Source {
            source_id,
            stream,
            url: CameraUrl::parse(&spec.url)?,
            transport: spec.transport,
            enable: spec.enable,
            rtp_timeout_secs: spec.rtp_timeout_secs,
        })
    }

    /// The declaration again (with the password: for the database, never for the API).
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            source_id: Some(self.source_id.clone()),
            url: self.url.full(),
            domain: Some(self.stream.domain.clone()),
            app: self.stream.app.clone(),
            stream: self.stream.stream.clone(),
            transport: self.transport,
            enable: self.enable,
            rtp_timeout_secs: self.rtp_timeout_secs,
        }
    }
}

/// Checks a source id: letters, digits, `_`, `-`, `.`, at most 128 characters.
pub fn check_source_id(id: &str) -> Result<()> {
    crate::stream_id::check_name("source_id", id).map_err(|m| Error::new(ErrorCode::InvalidParameter, m))
}

/// A camera's URL, its credentials apart.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraUrl {
    /// The URL rewind dials: no user or password in it.
    pub dial: url::Url,
    /// User name, when the URL has one.
    pub user: Option<String>,
    /// Password, when the URL has one (shown nowhere).
    pub password: Option<String>,
}

// The password must not reach a log line through `{:?}` either.
impl std::fmt::Debug for CameraUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.masked())
    }
}

impl CameraUrl {
    /// Parses `rtsp://[user[:password]@]host[:port]/path` (user and password
    /// percent-encoded where they must be).
    pub fn parse(s: &str) -> Result<CameraUrl> {
        let bad = |m: String| Error::new(ErrorCode::InvalidParameter, m);
        let mut u = url::Url::parse(s).map_err(|e| bad(format!("url is not a URL: {e}")))?;
        if u.scheme() != "rtsp" {
            return Err(bad(format!("url must be an rtsp:// URL, not {}://", u.scheme())));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(bad("url has no host".into()));
        }
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let user = Some(decode(u.username())).filter(|s| !s.is_empty());
        let password = u.password().map(decode);
        // Infallible for a URL with a host.
        let _ = u.set_username("");
        let _ = u.set_password(None);
        Ok(CameraUrl { dial: u, user, password })
    }

    /// The URL as the API, logs and metrics show it: the password replaced by `***`.
    pub fn masked(&self) -> String {
        self.with_credentials(self.password.as_ref().map(|_| "***"))
    }

    /// The URL as declared, password and all (the database keeps it to dial).
    pub fn full(&self) -> String {
        self.with_credentials(self.password.as_deref())
    }

    fn with_credentials(&self, password: Option<&str>) -> String {
        let Some(user) = &self.user else { return self.dial.to_string() };
        let mut u = self.dial.clone();
        // Encoded here: the URL type leaves a `%` that starts an escape as it is.
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let _ = u.set_username(&enc(user));
        let _ = u.set_password(password.map(enc).as_deref());
        // `***` would be percent-encoded by the URL type; the API shows it plainly.
        u.to_string().replace("%2A%2A%2A@", "***@")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> SourceSpec {
        SourceSpec {
            source_id: None,
            url: url.into(),
            domain: None,
            app: "cams".into(),
            stream: "door".into(),
            transport: Transport::Tcp,
            enable: true,
            rtp_timeout_secs: 10,
        }
    }

    #[test]
    fn credentials_are_taken_out_of_the_url_and_masked() {
        let s =
            Source::check(&spec("rtsp://admin:p%40ss:w@10.0.0.7:554/Streaming/101"), "live.example").unwrap();
        assert_eq!(s.source_id, "cams.door");
        assert_eq!(s.url.dial.as_str(), "rtsp://10.0.0.7:554/Streaming/101");
        assert_eq!(s.url.user.as_deref(), Some("admin"));
        assert_eq!(s.url.password.as_deref(), Some("p@ss:w"));
        assert_eq!(s.url.masked(), "rtsp://admin:***@10.0.0.7:554/Streaming/101");
        assert!(!format!("{:?}", s).contains("p@ss"), "Debug masks too");
        assert_eq!(CameraUrl::parse(&s.url.full()).unwrap(), s.url, "the full URL round-trips");
        let plain = CameraUrl::parse("rtsp://cam/live").unwrap();
        assert_eq!((plain.masked(), plain.user), ("rtsp://cam/live".to_string(), None));
    }

    #[test]
    fn bad_declarations_say_what_is_wrong() {
        let e = |s: SourceSpec| Source::check(&s, "d.example").unwrap_err().message;
        assert_eq!(e(spec("http://cam/x")), "url must be an rtsp:// URL, not http://");
        assert!(e(spec("not a url")).starts_with("url is not a URL"));
        let mut s = spec("rtsp://cam/x");
        s.app = "a/b".into();
        assert!(e(s).contains("'/'"));
        let mut s = spec("rtsp://cam/x");
        s.rtp_timeout_secs = 0;
        assert_eq!(e(s), "rtp_timeout_secs must be 1 to 300");
        let mut s = spec("rtsp://cam/x");
        s.domain = Some("other.example".into());
        assert_eq!(Source::check(&s, "d.example").unwrap().source_id, "other.example.cams.door");
    }

    proptest::proptest! {
        #[test]
        fn any_credentials_round_trip_and_never_show(
            user in "[a-zA-Z0-9._~!$&'()*+,;=:@/ %-]{1,16}",
            password in "[a-zA-Z0-9._~!$&'()*+,;=:@/ %#?-]{4,24}",
            host in "[a-z][a-z0-9-]{0,10}",
            path in "(/[a-zA-Z0-9_.-]{0,8}){0,3}",
        ) {
            let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
            let raw = format!("rtsp://{}:{}@{host}:554{path}", enc(&user), enc(&password));
            let u = CameraUrl::parse(&raw).unwrap();
            proptest::prop_assert_eq!(u.user.as_deref(), Some(user.as_str()));
            proptest::prop_assert_eq!(u.password.as_deref(), Some(password.as_str()));
            proptest::prop_assert!(u.dial.username().is_empty() && u.dial.password().is_none());
            let masked = u.masked();
            proptest::prop_assert!(!masked.contains(&enc(&password)) || enc(&user).contains(&enc(&password)) || path.contains(&password), "{}", masked);
            proptest::prop_assert_eq!(CameraUrl::parse(&u.full()).unwrap(), u.clone());
            let shown = CameraUrl::parse(&masked).unwrap();
            proptest::prop_assert_eq!(shown.password.as_deref(), Some("***"));
        }

        #[test]
        fn any_text_is_a_url_or_a_clear_error(s in "\\PC{0,80}") {
            if let Err(e) = CameraUrl::parse(&s) {
                proptest::prop_assert!(e.message.starts_with("url "), "{}", e.message);
            }
        }
    }
}
