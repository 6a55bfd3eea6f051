//! Requests another web page makes a browser send (issue 29): with no `api_key` (the
//! default), the API is open to whoever reaches it, and a page on another origin could
//! create templates or drop publishers with `fetch(url, {mode: "no-cors", method:
//! "POST"})`, or read answers after rebinding its own DNS name to this address.
//!
//! - A request that may change something (any method but GET, HEAD and OPTIONS) is
//!   refused when the browser says another site or origin sent it (`Sec-Fetch-Site`
//!   other than `same-origin` or `none`), or, from a browser too old to say, when its
//!   `Origin` is not this server's own (`Host`). Clients that are not browsers (curl, the SDKs, other nodes) send
//!   neither header and are not affected.
//! - With no `api_key`, a `Host` that names a host is refused unless it is `localhost`,
//!   an IP literal, or in `http.allowed_hosts`: a rebinding page's requests carry its own
//!   name. (With a key, the key is what protects.)

use crate::error::{Error, ErrorCode};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The host name of a `Host` value (tccli's scheme, a port and IPv6 brackets removed).
fn host_name(host: &str) -> &str {
    let h = host.split_once("://").map_or(host, |(_, rest)| rest);
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    h.rsplit_once(':').map_or(h, |(name, _)| name)
}

/// Why a request is refused, if it is.
pub fn refusal(method: &Method, headers: &HeaderMap, open_api: bool, allowed: &[String]) -> Option<String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let host = get("host").unwrap_or("");
    if open_api {
        let name = host_name(host).to_ascii_lowercase();
        let known = name.is_empty()
            || name == "localhost"
            || name.parse::<std::net::IpAddr>().is_ok()
            || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name));
        if !known {
            return Some(format!(
                "Host {name:?} is not this server's: add it to http.allowed_hosts (or set an api_key)"
            ));
        }
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    // A browser that says where a request comes from is believed (behind a proxy that
    // rewrites Host, Origin and Host differ for the console's own requests too).
    if let Some(site) = get("sec-fetch-site") {
        if site == "same-origin" || site == "none" {
            return None;
        }
        return Some(format!("a {site} request from a web page may not change anything here"));
    }
    if let Some(origin) = get("origin") {
        let from = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin == "null" || !from.eq_ignore_ascii_case(host) {
            return Some(format!("a request from the page at {origin} may not change anything here"));
        }
    }
    None
}

/// The middleware: see the module's comment.
pub async fn guard(State(svc): super::Svc, req: Request, next: Next) -> Response {
    let cfg = &svc.config;
    if let Some(why) = refusal(req.method(), req.headers(), cfg.api_key.is_empty(), &cfg.http.allowed_hosts) {
        tracing::info!(method = %req.method(), why = %crate::peer_text::PeerText(&why), "cross-site request refused");
        return Error::new(ErrorCode::CrossSiteRequest, why).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn browsers_on_other_origins_and_rebound_names_are_refused() {
        let post = Method::POST;
        assert!(refusal(&post, &h(&[("host", "127.0.0.1:8080")]), true, &[]).is_none(), "curl, SDKs");
        assert!(refusal(&post, &h(&[("host", "http://127.0.0.1:8080")]), true, &[]).is_none(), "tccli");
        let same = h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(refusal(&post, &same, true, &[]).is_none(), "the console");
        let other = h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9999"),
            ("sec-fetch-site", "same-site"),
        ]);
        assert!(refusal(&post, &other, true, &[]).is_some());
        assert!(refusal(&Method::GET, &other, true, &[]).is_none(), "reads are the same-origin policy's");
        let origin_only = h(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]);
        assert!(refusal(&Method::DELETE, &origin_only, false, &[]).is_some(), "with a key too");
        let rebound = h(&[("host", "attacker.example:8080")]);
        assert!(refusal(&Method::GET, &rebound, true, &[]).is_some());
        assert!(refusal(&Method::GET, &rebound, false, &[]).is_none(), "a key protects");
        assert!(refusal(&Method::GET, &rebound, true, &["attacker.example".into()]).is_none());
        assert!(refusal(&Method::GET, &h(&[("host", "[::1]:8080")]), true, &[]).is_none());
        assert!(refusal(&Method::GET, &h(&[("host", "LOCALHOST")]), true, &[]).is_none());
    }
}
