//! Turning `Error` into HTTP responses (the one place codes meet statuses) and
//! decoding JSON bodies with our error shape.

use crate::error::{Error, ErrorCode};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({"error": {"code": self.code.as_str(), "message": self.message}});
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON request body; a malformed one is a 400 `InvalidParameter.Body` saying why,
/// one over the size limit a 413, one that does not arrive within the listener's
/// `BodyTimeout` a 408. The content type is not checked, so `curl -d '{…}'` works as
/// operators expect.
pub struct JsonBody<T>(pub T);

/// How long a request has to send its body (set by the listener on every request).
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub std::time::Duration);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let limit = req.extensions().get::<BodyTimeout>().map_or(std::time::Duration::from_secs(30), |t| t.0);
        let body = match tokio::time::timeout(limit, axum::body::Bytes::from_request(req, state)).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorCode::BodyTimeout,
                    format!("the request body did not arrive within {} s", limit.as_secs()),
                ));
            }
            Ok(Err(r)) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Error::new(ErrorCode::BodyTooLarge, r.body_text()));
            }
            Ok(r) => r.map_err(|r| Error::new(ErrorCode::InvalidBody, r.body_text()))?,
        };
        // serde reads a struct from an array too (`[null, null]`); bodies here are objects.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::new(ErrorCode::InvalidBody, "the body must be a JSON object"));
        }
        // No text the API stores may hold NUL: PostgreSQL's text cannot.
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && has_nul(&v)
        {
            return Err(Error::new(ErrorCode::InvalidBody, "text in the body may not contain NUL (\\u0000)"));
        }
        serde_json::from_slice(&body).map(JsonBody).map_err(|e| {
            Error::new(ErrorCode::InvalidBody, format!("the body is not the JSON this endpoint takes: {e}"))
        })
    }
}

fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Query-string parameters; malformed ones are a 400 `InvalidParameter` saying which,
/// in our error shape (axum's own rejection is plain text).
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Error> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(QueryParams)
            .map_err(|e| Error::new(ErrorCode::InvalidParameter, format!("query parameters: {e}")))
    }
}

/// A `307` to `url` (a presigned bucket URL: short-lived, so never cached).
pub fn redirect(url: &str) -> crate::error::Result<Response> {
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    r.headers_mut().insert("location", url.parse().map_err(Error::internal)?);
    r.headers_mut().insert("cache-control", axum::http::HeaderValue::from_static("no-store"));
    Ok(r)
}
