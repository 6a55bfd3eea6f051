//! The `/v1` API, called in process: every action is answered by the same handlers
//! (validation, limits, forwarding to a stream's node) the HTTP API runs, so nothing
//! is decided twice.

use super::params::{TcError, cloud_code};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tower::ServiceExt;

/// Answers larger than this are a fault here, not a page of JSON.
const MAX_ANSWER: usize = 64 << 20;

/// What a path segment keeps unencoded (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// One path segment, encoded.
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A query string of `pairs` (those with a value).
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let given: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
    serde_urlencoded::to_string(given).unwrap_or_default()
}

/// The `/v1` routes and the key they take.
#[derive(Clone)]
pub struct V1 {
    routes: Router,
    api_key: String,
}

impl V1 {
    /// `routes` answer `/v1/…`; `api_key` is the configured one (empty: none).
    pub fn new(routes: Router, api_key: String) -> Self {
        V1 { routes, api_key }
    }

    /// Calls `method path` with an optional JSON body: the answer's JSON (`null` for a
    /// 204), or its error in the cloud's shape.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, TcError> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let mut req = Request::new(Body::from(bytes));
        *req.method_mut() = method;
        *req.uri_mut() =
            path.parse().map_err(|_| TcError::new("InvalidParameterValue", "a name is not URL-safe"))?;
        req.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        if !self.api_key.is_empty()
            && let Ok(v) = self.api_key.parse()
        {
            req.headers_mut().insert("x-api-key", v);
        }
        let res = self.routes.clone().oneshot(req).await.unwrap_or_else(|e| match e {});
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| TcError::new("InternalError", format!("reading an answer: {e}")))?;
        let json: Value =
            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(json);
        }
        let err = &json["error"];
        match (err["code"].as_str(), err["message"].as_str()) {
            (Some(c), Some(m)) => Err(TcError::new(cloud_code(c), m)),
            _ => Err(TcError::new("InternalError", format!("the server answered {status}"))),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, TcError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with `body`.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, TcError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with `body`.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, TcError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, TcError> {
        self.call(Method::DELETE, path, None).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(super::seg("a/b c"), "a%2Fb%20c");
        assert_eq!(super::seg("cam-1.x_y"), "cam-1.x_y");
        assert_eq!(super::query(&[("a", Some("x&y".into())), ("b", None)]), "a=x%26y");
    }
}
