//! The one error type of the API and services, with cloud-style codes. Each code maps
//! to exactly one HTTP status here; `api::respond` turns an `Error` into a response.

use std::fmt;

/// What went wrong, as a stable code clients can match on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// A request field is missing, malformed or out of range.
    InvalidParameter,
    /// A domain name is not a valid host name.
    DomainFormatError,
    /// A stream id is malformed.
    StreamFormatError,
    /// The request body is not the JSON the endpoint takes.
    InvalidBody,
    /// The API key is missing or wrong.
    AuthFailure,
    /// No stream with that id was ever seen.
    StreamNotFound,
    /// The stream is not live.
    StreamNotLive,
    /// No such domain settings.
    DomainNotFound,
    /// No such path.
    NotFound,
    /// The path exists but not with that method.
    MethodNotAllowed,
    /// Our fault: a database or storage failure.
    Internal,
}

impl ErrorCode {
    /// The code string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameter => "InvalidParameter",
            ErrorCode::DomainFormatError => "InvalidParameter.DomainFormatError",
            ErrorCode::StreamFormatError => "InvalidParameter.StreamFormatError",
            ErrorCode::InvalidBody => "InvalidParameter.Body",
            ErrorCode::AuthFailure => "AuthFailure",
            ErrorCode::StreamNotFound => "ResourceNotFound.Stream",
            ErrorCode::StreamNotLive => "ResourceUnavailable.StreamNotExist",
            ErrorCode::DomainNotFound => "ResourceNotFound.Domain",
            ErrorCode::NotFound => "ResourceNotFound",
            ErrorCode::MethodNotAllowed => "UnsupportedOperation.Method",
            ErrorCode::Internal => "InternalError",
        }
    }

    /// The HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameter
            | ErrorCode::DomainFormatError
            | ErrorCode::StreamFormatError
            | ErrorCode::InvalidBody => 400,
            ErrorCode::AuthFailure => 401,
            ErrorCode::StreamNotFound | ErrorCode::DomainNotFound | ErrorCode::NotFound => 404,
            ErrorCode::StreamNotLive => 409,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Internal => 500,
        }
    }
}

/// An error with its code and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    /// An internal error; the cause is logged, not sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Error::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::internal(e)
    }
}

/// Result with our `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
