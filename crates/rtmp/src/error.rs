//! Why an RTMP connection had to be closed.

/// A protocol violation or an exceeded limit. Each closes the one connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtmpError {
    /// The handshake bytes are not RTMP.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A chunk header or chunk stream rule was broken.
    #[error("chunk stream: {0}")]
    Chunk(String),
    /// An AMF0 value could not be decoded.
    #[error("AMF0: {0}")]
    Amf(String),
    /// A well-formed message that breaks the command protocol.
    #[error("command: {0}")]
    Command(String),
}

impl RtmpError {
    /// A short label for metrics (`handshake`, `chunk`, `amf`, `command`).
    pub fn kind(&self) -> &'static str {
        match self {
            RtmpError::Handshake(_) => "handshake",
            RtmpError::Chunk(_) => "chunk",
            RtmpError::Amf(_) => "amf",
            RtmpError::Command(_) => "command",
        }
    }
}

impl From<rewind_media::amf0::AmfError> for RtmpError {
    fn from(e: rewind_media::amf0::AmfError) -> Self {
        RtmpError::Amf(e.0)
    }
}
