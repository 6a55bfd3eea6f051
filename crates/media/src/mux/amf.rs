//! The few AMF0 encodings FLV script data needs (kept here so the media crate does not
//! depend on the RTMP crate).

use bytes::{BufMut, BytesMut};

/// A value of an `onMetaData` array.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// AMF0 number.
    Number(f64),
    /// AMF0 boolean.
    Bool(bool),
    /// AMF0 string (long string past 65535 bytes).
    Str(String),
    /// AMF0 strict array of numbers.
    Numbers(Vec<f64>),
    /// AMF0 object.
    Object(Vec<(&'static str, Value)>),
}

/// Appends a property key.
pub fn key(out: &mut BytesMut, k: &str) {
    out.put_u16(k.len() as u16);
    out.put_slice(k.as_bytes());
}

/// Appends a value.
pub fn value(out: &mut BytesMut, v: &Value) {
    match v {
        Value::Number(n) => {
            out.put_u8(0);
            out.put_f64(*n);
        }
        Value::Bool(b) => {
            out.put_u8(1);
            out.put_u8(*b as u8);
        }
        Value::Str(s) if s.len() <= u16::MAX as usize => {
            out.put_u8(2);
            key(out, s);
        }
        Value::Str(s) => {
            out.put_u8(12);
            out.put_u32(s.len() as u32);
            out.put_slice(s.as_bytes());
        }
        Value::Numbers(ns) => {
            out.put_u8(10);
            out.put_u32(ns.len() as u32);
            for n in ns {
                out.put_u8(0);
                out.put_f64(*n);
            }
        }
        Value::Object(props) => {
            out.put_u8(3);
            for (k, v) in props {
                key(out, k);
                value(out, v);
            }
            out.put_slice(&[0, 0, 9]);
        }
    }
}
