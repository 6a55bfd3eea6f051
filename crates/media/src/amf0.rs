//! AMF0 values: decoding with depth and count limits, and encoding. AMF0 is both FLV's
//! script-data format (`onMetaData`) and RTMP's command format, so it lives here and the
//! RTMP crate re-exports it.

use bytes::{BufMut, BytesMut};

/// An AMF0 value that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AmfError(pub String);

/// Deepest nesting of objects/arrays we accept.
pub const MAX_DEPTH: usize = 16;
/// Most values (all levels together) in one message.
pub const MAX_VALUES: usize = 4096;

/// An AMF0 value.
#[derive(Clone, Debug, PartialEq)]
pub enum Amf0 {
    /// Number (a double).
    Number(f64),
    /// Boolean.
    Boolean(bool),
    /// String (short or long on the wire).
    String(String),
    /// Anonymous object: ordered properties.
    Object(Vec<(String, Amf0)>),
    /// Null.
    Null,
    /// Undefined.
    Undefined,
    /// ECMA array: ordered properties.
    EcmaArray(Vec<(String, Amf0)>),
    /// Strict array.
    StrictArray(Vec<Amf0>),
    /// Date: milliseconds since the epoch.
    Date(f64),
}

impl Amf0 {
    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0::String(s) => Some(s),
            _ => None,
        }
    }
    /// The number inside, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0> {
        match self {
            Amf0::Object(p) | Amf0::EcmaArray(p) => p.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Decoder<'a> {
    d: &'a [u8],
    values: usize,
}

fn err(m: &str) -> AmfError {
    AmfError(m.to_string())
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        if self.d.len() < n {
            return Err(err("value runs past the end of the message"));
        }
        let (a, b) = self.d.split_at(n);
        self.d = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<usize, AmfError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, AmfError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self, len: usize) -> Result<String, AmfError> {
        // `take` checks `len` against the bytes present: a claimed 4 GB string costs nothing.
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0)>, AmfError> {
        let mut props = Vec::new();
        loop {
            let klen = self.u16()?;
            if klen == 0 {
                if self.d.first() == Some(&9) {
                    self.d = &self.d[1..];
                    return Ok(props);
                }
                if self.d.is_empty() {
                    return Ok(props); // tolerated: some encoders omit the end marker at message end
                }
            }
            let key = self.string(klen)?;
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }
    fn value(&mut self, depth: usize) -> Result<Amf0, AmfError> {
        if depth > MAX_DEPTH {
            return Err(err("nesting deeper than 16"));
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(err("more than 4096 values in one message"));
        }
        let marker = self.take(1)?[0];
        Ok(match marker {
            0 => Amf0::Number(self.f64()?),
            1 => Amf0::Boolean(self.take(1)?[0] != 0),
            2 => {
                let n = self.u16()?;
                Amf0::String(self.string(n)?)
            }
            3 => Amf0::Object(self.properties(depth)?),
            5 => Amf0::Null,
            6 => Amf0::Undefined,
            8 => {
                self.u32()?; // approximate count; properties end with the end marker
                Amf0::EcmaArray(self.properties(depth)?)
            }
            10 => {
                let n = self.u32()?;
                if n > self.d.len() {
                    return Err(err("strict array longer than the message"));
                }
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Amf0::StrictArray(items)
            }
            11 => {
                let ms = self.f64()?;
                self.take(2)?; // time zone, unused
                Amf0::Date(ms)
            }
            12 => {
                let n = self.u32()?;
                Amf0::String(self.string(n)?)
            }
            m => return Err(AmfError(format!("unsupported marker {m}"))),
        })
    }
}

/// Decodes every value of a message body.
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0>, AmfError> {
    let mut d = Decoder { d: data, values: 0 };
    let mut out = Vec::new();
    while !d.d.is_empty() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

fn put_key(out: &mut BytesMut, k: &str) {
    out.put_u16(k.len().min(u16::MAX as usize) as u16);
    out.put_slice(&k.as_bytes()[..k.len().min(u16::MAX as usize)]);
}

/// Appends the encoding of `v`.
pub fn encode(v: &Amf0, out: &mut BytesMut) {
    match v {
        Amf0::Number(n) => {
            out.put_u8(0);
            out.put_f64(*n);
        }
        Amf0::Boolean(b) => {
            out.put_u8(1);
            out.put_u8(*b as u8);
        }
        Amf0::String(s) if s.len() <= u16::MAX as usize => {
            out.put_u8(2);
            put_key(out, s);
        }
        Amf0::String(s) => {
            out.put_u8(12);
            out.put_u32(s.len() as u32);
            out.put_slice(s.as_bytes());
        }
        Amf0::Object(p) | Amf0::EcmaArray(p) => {
            if matches!(v, Amf0::Object(_)) {
                out.put_u8(3);
            } else {
                out.put_u8(8);
                out.put_u32(p.len() as u32);
            }
            for (k, v) in p {
                put_key(out, k);
                encode(v, out);
            }
            out.put_slice(&[0, 0, 9]);
        }
        Amf0::Null => out.put_u8(5),
        Amf0::Undefined => out.put_u8(6),
        Amf0::StrictArray(items) => {
            out.put_u8(10);
            out.put_u32(items.len() as u32);
            for i in items {
                encode(i, out);
            }
        }
        Amf0::Date(ms) => {
            out.put_u8(11);
            out.put_f64(*ms);
            out.put_u16(0);
        }
    }
}

/// Encodes a sequence of values.
pub fn encode_all(values: &[Amf0]) -> BytesMut {
    let mut out = BytesMut::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

/// Builds an object from `(key, value)` pairs.
pub fn object<const N: usize>(props: [(&str, Amf0); N]) -> Amf0 {
    Amf0::Object(props.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let vals = vec![
            Amf0::String("connect".into()),
            Amf0::Number(1.0),
            object([("app", Amf0::String("live".into())), ("n", Amf0::Null)]),
            Amf0::EcmaArray(vec![("duration".into(), Amf0::Number(0.0))]),
            Amf0::StrictArray(vec![Amf0::Boolean(true)]),
        ];
        assert_eq!(decode_all(&encode_all(&vals)).unwrap(), vals);
    }

    #[test]
    fn huge_claimed_string_is_an_error() {
        assert!(decode_all(&[12, 0xff, 0xff, 0xff, 0xff, b'a']).is_err());
        assert!(decode_all(&[2, 0xff, 0xff, b'a']).is_err());
        assert!(decode_all(&[10, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let mut d = Vec::new();
        for _ in 0..100 {
            d.extend_from_slice(&[3, 0, 1, b'a']);
        }
        assert!(decode_all(&d).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all(&data);
        }
    }
}
