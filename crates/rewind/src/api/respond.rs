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

/// A JSON request body; a malformed one is a 400 `InvalidParameter.Body` saying why.
/// The content type is not checked, so `curl -d '{…}'` works as operators expect.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| Error::new(ErrorCode::InvalidBody, r.body_text()))?;
        serde_json::from_slice(&body).map(JsonBody).map_err(|e| {
            Error::new(ErrorCode::InvalidBody, format!("the body is not the JSON this endpoint takes: {e}"))
        })
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
