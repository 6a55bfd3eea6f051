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
    /// The request body is larger than the server takes.
    BodyTooLarge,
    /// The request body did not arrive within `http.body_read_timeout_secs`.
    BodyTimeout,
    /// The API key is missing or wrong.
    AuthFailure,
    /// A signed URL whose signature does not match its path.
    SignatureInvalid,
    /// A signed URL past its expiry.
    SignatureExpired,
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
    /// A template's `record_interval` is out of range.
    RecordInterval,
    /// A template's `storage_time` is out of range.
    StorageTime,
    /// A template's `file_name` pattern is invalid.
    VodFileName,
    /// `hls_special.flow_continue_duration` is out of range.
    FlowContinueDuration,
    /// `timeline.segment_length` or `retention` is out of range.
    SegmentLength,
    /// Too many templates or rules (the configured limit).
    ConfOutLimit,
    /// The template is bound to a rule.
    ConfInUsed,
    /// A rule names a template that does not exist.
    ConfNotFound,
    /// No template with that id.
    TemplateNotFound,
    /// Template 0 is built in.
    BuiltinTemplate,
    /// A rule for that (domain, app, stream) exists.
    RuleAlreadyExist,
    /// No rule for that (domain, app, stream).
    RuleNotFound,
    /// No media file with that id.
    MediaNotFound,
    /// The stream has no timeline (nothing was ever archived into one).
    NoTimeline,
    /// The timeline has no media in the requested range (it falls in a gap).
    NoMediaInRange,
    /// No record task with that id.
    TaskNotFound,
    /// Too many record tasks on one stream at once.
    MaximumRunningTask,
    /// The task has started; it can only be stopped.
    TaskStarted,
    /// No such locator, or it expired.
    LocatorNotFound,
    /// No callback event with that id waits or failed.
    CallbackNotFound,
    /// No such callback template.
    CallbackTemplateNotFound,
    /// The stream is not forbidden.
    ForbidNotFound,
    /// A request a web page on another site made a browser send.
    CrossSiteRequest,
    /// A byte range cannot be satisfied.
    RangeNotSatisfiable,
    /// The bucket did not answer (or failed): retry later.
    StorageUnavailable,
    /// Another node took the stream (its lease) while this one still wrote it.
    LeaseLost,
    /// No source with that id.
    SourceNotFound,
    /// A source with that id, or pulling that stream, exists.
    SourceExists,
    /// The source is declared in the configuration file.
    SourceInConfig,
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
            ErrorCode::BodyTooLarge => "LimitExceeded.BodySize",
            ErrorCode::BodyTimeout => "RequestTimeout.Body",
            ErrorCode::AuthFailure => "AuthFailure",
            ErrorCode::SignatureInvalid => "AuthFailure.SignatureFailure",
            ErrorCode::SignatureExpired => "AuthFailure.SignatureExpire",
            ErrorCode::StreamNotFound => "ResourceNotFound.Stream",
            ErrorCode::StreamNotLive => "ResourceUnavailable.StreamNotExist",
            ErrorCode::DomainNotFound => "ResourceNotFound.Domain",
            ErrorCode::NotFound => "ResourceNotFound",
            ErrorCode::MethodNotAllowed => "UnsupportedOperation.Method",
            ErrorCode::RecordInterval => "InvalidParameter.RecordInterval",
            ErrorCode::StorageTime => "InvalidParameter.StorageTime",
            ErrorCode::VodFileName => "InvalidParameter.InvalidVodFileName",
            ErrorCode::FlowContinueDuration => "InvalidParameter.FlowContinueDuration",
            ErrorCode::SegmentLength => "InvalidParameter.SegmentLength",
            ErrorCode::ConfOutLimit => "InternalError.ConfOutLimit",
            ErrorCode::ConfInUsed => "FailedOperation.ConfInUsed",
            ErrorCode::ConfNotFound => "InvalidParameter.ConfNotFound",
            ErrorCode::TemplateNotFound => "ResourceNotFound.Template",
            ErrorCode::BuiltinTemplate => "UnsupportedOperation.BuiltinTemplate",
            ErrorCode::RuleAlreadyExist => "FailedOperation.RuleAlreadyExist",
            ErrorCode::RuleNotFound => "InternalError.RuleNotFound",
            ErrorCode::MediaNotFound => "ResourceNotFound.Media",
            ErrorCode::RangeNotSatisfiable => "InvalidParameter.Range",
            ErrorCode::NoTimeline => "FailedOperation.NoTimeline",
            ErrorCode::NoMediaInRange => "ResourceNotFound.NoMediaInRange",
            ErrorCode::LocatorNotFound => "ResourceNotFound.Locator",
            ErrorCode::TaskNotFound => "ResourceNotFound.TaskId",
            ErrorCode::CallbackNotFound => "ResourceNotFound.CallbackEvent",
            ErrorCode::CallbackTemplateNotFound => "ResourceNotFound.CallbackTemplate",
            ErrorCode::ForbidNotFound => "ResourceNotFound.Forbid",
            ErrorCode::CrossSiteRequest => "AuthFailure.CrossSiteRequest",
            ErrorCode::MaximumRunningTask => "LimitExceeded.MaximumRunningTask",
            ErrorCode::TaskStarted => "FailedOperation.TaskStarted",
            ErrorCode::StorageUnavailable => "ResourceUnavailable.Storage",
            ErrorCode::LeaseLost => "FailedOperation.LeaseLost",
            ErrorCode::SourceNotFound => "ResourceNotFound.Source",
            ErrorCode::SourceExists => "FailedOperation.SourceAlreadyExist",
            ErrorCode::SourceInConfig => "UnsupportedOperation.SourceInConfig",
            ErrorCode::Internal => "InternalError",
        }
    }

    /// The HTTP status for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameter
            | ErrorCode::DomainFormatError
            | ErrorCode::StreamFormatError
            | ErrorCode::InvalidBody
            | ErrorCode::RecordInterval
            | ErrorCode::StorageTime
            | ErrorCode::VodFileName
            | ErrorCode::FlowContinueDuration
            | ErrorCode::SegmentLength
            | ErrorCode::ConfOutLimit
            | ErrorCode::ConfNotFound
            | ErrorCode::BuiltinTemplate
            | ErrorCode::SourceInConfig
            | ErrorCode::NoTimeline
            | ErrorCode::MaximumRunningTask => 400,
            ErrorCode::ConfInUsed
            | ErrorCode::RuleAlreadyExist
            | ErrorCode::TaskStarted
            | ErrorCode::LeaseLost
            | ErrorCode::SourceExists => 409,
            ErrorCode::TemplateNotFound
            | ErrorCode::RuleNotFound
            | ErrorCode::MediaNotFound
            | ErrorCode::NoMediaInRange
            | ErrorCode::LocatorNotFound
            | ErrorCode::TaskNotFound
            | ErrorCode::CallbackNotFound
            | ErrorCode::CallbackTemplateNotFound
            | ErrorCode::ForbidNotFound
            | ErrorCode::SourceNotFound => 404,
            ErrorCode::RangeNotSatisfiable => 416,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::BodyTimeout => 408,
            ErrorCode::AuthFailure => 401,
            ErrorCode::SignatureInvalid | ErrorCode::SignatureExpired | ErrorCode::CrossSiteRequest => 403,
            ErrorCode::StreamNotFound | ErrorCode::DomainNotFound | ErrorCode::NotFound => 404,
            ErrorCode::StreamNotLive => 409,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::StorageUnavailable => 503,
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
    /// The bucket failed on `what`: logged (throttled by the caller's volume only), and
    /// a 503 the client may retry.
    pub fn storage(what: impl fmt::Display, cause: impl fmt::Display) -> Self {
        tracing::warn!(%cause, "storage: {what}");
        Error::new(ErrorCode::StorageUnavailable, format!("the storage bucket failed on {what}; try again"))
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
