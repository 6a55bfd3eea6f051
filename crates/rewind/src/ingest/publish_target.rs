//! Which stream a push names: domain from the tcUrl host, app, stream and the query.

use crate::stream_id::{StreamId, check_domain, check_name};
use std::net::IpAddr;

/// The stream a push publishes, and the push URL's query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishTarget {
    /// Validated stream id.
    pub id: StreamId,
    /// The query of the push URL (publish name's query first, then the app's), no `?`.
    pub query: String,
}

/// The value of `key` in a URL query (`a=1&b=2`), undecoded.
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

fn split_query(s: &str) -> (&str, &str) {
    s.split_once('?').unwrap_or((s, ""))
}

/// The host of an `rtmp://host[:port]/…` URL, lower-cased, without brackets or port.
fn tc_url_host(tc_url: &str) -> Option<String> {
    let rest = tc_url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Resolves the stream id of a publish. The domain is the tcUrl host, unless that is
/// an IP literal or `localhost`: then the `vhost` query parameter if given, else
/// `default_domain`.
pub fn resolve(
    tc_url: &str,
    app: &str,
    publish_name: &str,
    default_domain: &str,
) -> Result<PublishTarget, String> {
    let (app, app_query) = split_query(app);
    let (stream, name_query) = split_query(publish_name);
    let app = app.trim_end_matches('/');
    let query = match (name_query.is_empty(), app_query.is_empty()) {
        (false, false) => format!("{name_query}&{app_query}"),
        (false, true) => name_query.to_string(),
        (true, _) => app_query.to_string(),
    };
    let domain = match tc_url_host(tc_url) {
        Some(h) if h != "localhost" && h.parse::<IpAddr>().is_err() => h,
        _ => query_param(&query, "vhost")
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| default_domain.to_string()),
    };
    check_domain(&domain).map_err(|e| e.message)?;
    check_name("app", app)?;
    check_name("stream", stream)?;
    Ok(PublishTarget { id: StreamId { domain, app: app.to_string(), stream: stream.to_string() }, query })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_and_localhost_use_the_default_domain() {
        let t = resolve("rtmp://127.0.0.1:1935/live", "live", "cam1", "default").unwrap();
        assert_eq!(t.id.to_string(), "default/live/cam1");
        let t = resolve("rtmp://localhost/live", "live", "cam1?a=1", "default").unwrap();
        assert_eq!((t.id.domain.as_str(), t.query.as_str()), ("default", "a=1"));
        let t = resolve("rtmp://[::1]:1935/live", "live", "x?vhost=push.example", "default").unwrap();
        assert_eq!(t.id.domain, "push.example");
    }

    #[test]
    fn host_names_are_the_domain_and_queries_merge() {
        let t = resolve("rtmp://Push.Example.com/live?k=v", "live?k=v", "cam1?txTime=5", "default").unwrap();
        assert_eq!(t.id.to_string(), "push.example.com/live/cam1");
        assert_eq!(t.query, "txTime=5&k=v");
        assert_eq!(query_param(&t.query, "txTime"), Some("5"));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(resolve("rtmp://h/live", "live", "../x", "default").is_err());
        assert!(resolve("rtmp://h/live", "a/b", "x", "default").is_err());
        assert!(resolve("rtmp://h/live", "live", "", "default").is_err());
    }
}
