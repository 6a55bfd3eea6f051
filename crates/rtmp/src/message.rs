//! RTMP message types, commands and the replies a server sends.

use crate::amf0::{self, Amf0, object};
use crate::error::RtmpError;
use bytes::Bytes;

/// Acknowledgement.
pub const MSG_ACK: u8 = 3;
/// User control message (stream begin, ping).
pub const MSG_USER_CONTROL: u8 = 4;
/// Window Acknowledgement Size.
pub const MSG_WINDOW_ACK_SIZE: u8 = 5;
/// Set Peer Bandwidth.
pub const MSG_SET_PEER_BANDWIDTH: u8 = 6;
/// Audio data (an FLV audio tag body).
pub const MSG_AUDIO: u8 = 8;
/// Video data (an FLV video tag body).
pub const MSG_VIDEO: u8 = 9;
/// Data message, AMF3-wrapped.
pub const MSG_DATA_AMF3: u8 = 15;
/// Command, AMF3-wrapped.
pub const MSG_COMMAND_AMF3: u8 = 17;
/// Data message (`@setDataFrame`, `onMetaData`).
pub const MSG_DATA_AMF0: u8 = 18;
/// Command (`connect`, `publish`, …).
pub const MSG_COMMAND_AMF0: u8 = 20;

/// Chunk stream for protocol control messages.
pub const CSID_CONTROL: u32 = 2;
/// Chunk stream we send command replies on.
pub const CSID_COMMAND: u32 = 3;

/// A decoded command message: `name`, transaction id, command object, arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// Command name (`connect`, `publish`, …).
    pub name: String,
    /// Transaction id the reply must carry.
    pub transaction_id: f64,
    /// The command object (often Null).
    pub object: Amf0,
    /// Remaining arguments.
    pub args: Vec<Amf0>,
}

/// Decodes a command message body (AMF0, or AMF3-wrapped with a leading 0 byte).
pub fn parse_command(type_id: u8, payload: &[u8]) -> Result<Command, RtmpError> {
    let body = if type_id == MSG_COMMAND_AMF3 { payload.get(1..).unwrap_or(&[]) } else { payload };
    let mut values = amf0::decode_all(body)?.into_iter();
    let name = match values.next() {
        Some(Amf0::String(s)) => s,
        _ => return Err(RtmpError::Command("command name is not a string".into())),
    };
    let transaction_id = values.next().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let object = values.next().unwrap_or(Amf0::Null);
    Ok(Command { name, transaction_id, object, args: values.collect() })
}

/// Decodes a data message body; `@setDataFrame` wrappers are removed, so the result
/// starts with the handler name (`onMetaData`).
pub fn parse_data(type_id: u8, payload: &[u8]) -> Result<Vec<Amf0>, RtmpError> {
    let body = if type_id == MSG_DATA_AMF3 { payload.get(1..).unwrap_or(&[]) } else { payload };
    let mut v = amf0::decode_all(body)?;
    if v.first().and_then(Amf0::as_str) == Some("@setDataFrame") {
        v.remove(0);
    }
    Ok(v)
}

/// A 4-byte big-endian payload (window sizes, chunk size, acks).
pub fn u32_payload(v: u32) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

/// Set Peer Bandwidth payload (limit type 2 = dynamic).
pub fn peer_bandwidth_payload(v: u32) -> Bytes {
    let mut b = v.to_be_bytes().to_vec();
    b.push(2);
    Bytes::from(b)
}

/// User control "Stream Begin" for `stream_id`.
pub fn stream_begin_payload(stream_id: u32) -> Bytes {
    let mut b = vec![0, 0];
    b.extend_from_slice(&stream_id.to_be_bytes());
    Bytes::from(b)
}

/// Encodes a command message body.
pub fn command(name: &str, transaction_id: f64, object: Amf0, args: Vec<Amf0>) -> Bytes {
    let mut v = vec![Amf0::String(name.into()), Amf0::Number(transaction_id), object];
    v.extend(args);
    amf0::encode_all(&v).freeze()
}

/// The `_result` of a successful `connect`.
pub fn connect_result(transaction_id: f64) -> Bytes {
    command(
        "_result",
        transaction_id,
        object([("fmsVer", Amf0::String("FMS/3,0,1,123".into())), ("capabilities", Amf0::Number(31.0))]),
        vec![object([
            ("level", Amf0::String("status".into())),
            ("code", Amf0::String("NetConnection.Connect.Success".into())),
            ("description", Amf0::String("Connection succeeded.".into())),
            ("objectEncoding", Amf0::Number(0.0)),
        ])],
    )
}

/// An `onStatus` message with `level` (`status`/`error`), `code` and `description`.
pub fn on_status(level: &str, code: &str, description: &str) -> Bytes {
    command(
        "onStatus",
        0.0,
        Amf0::Null,
        vec![object([
            ("level", Amf0::String(level.into())),
            ("code", Amf0::String(code.into())),
            ("description", Amf0::String(description.into())),
        ])],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_round_trip() {
        let body = command("publish", 5.0, Amf0::Null, vec![Amf0::String("cam1".into())]);
        let c = parse_command(MSG_COMMAND_AMF0, &body).unwrap();
        assert_eq!(c.name, "publish");
        assert_eq!(c.transaction_id, 5.0);
        assert_eq!(c.args[0].as_str(), Some("cam1"));
        assert!(parse_command(MSG_COMMAND_AMF0, &[0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn set_data_frame_is_unwrapped() {
        let body = amf0::encode_all(&[
            Amf0::String("@setDataFrame".into()),
            Amf0::String("onMetaData".into()),
            Amf0::EcmaArray(vec![("width".into(), Amf0::Number(320.0))]),
        ]);
        let v = parse_data(MSG_DATA_AMF0, &body).unwrap();
        assert_eq!(v[0].as_str(), Some("onMetaData"));
        assert_eq!(v[1].get("width").and_then(Amf0::as_f64), Some(320.0));
    }
}
