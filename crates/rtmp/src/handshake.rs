//! The RTMP handshake (simple form: S2 echoes C1, C2 echoes S1).
//!
//! Publishers (ffmpeg, OBS/librtmp) accept the simple form; we put zero in S1's version
//! field so clients that can verify the digest form know not to try.

use crate::error::RtmpError;

/// Size of C1/S1/C2/S2.
pub const PACKET_SIZE: usize = 1536;
/// The only RTMP version byte (C0/S0).
pub const VERSION: u8 = 3;

/// Given C0+C1 (1537 bytes), the server's S0+S1+S2. `random` fills S1.
pub fn server_reply(c0c1: &[u8], time_ms: u32, random: &[u8]) -> Result<Vec<u8>, RtmpError> {
    if c0c1.len() != 1 + PACKET_SIZE {
        return Err(RtmpError::Handshake("C0+C1 must be 1537 bytes".into()));
    }
    if c0c1[0] != VERSION {
        return Err(RtmpError::Handshake(format!("unsupported version byte {}", c0c1[0])));
    }
    let mut out = Vec::with_capacity(1 + 2 * PACKET_SIZE);
    out.push(VERSION);
    out.extend_from_slice(&time_ms.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend((0..PACKET_SIZE - 8).map(|i| random.get(i % random.len().max(1)).copied().unwrap_or(0)));
    out.extend_from_slice(&c0c1[1..]);
    Ok(out)
}

/// The client's C0+C1.
pub fn client_hello(time_ms: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + PACKET_SIZE);
    out.push(VERSION);
    out.extend_from_slice(&time_ms.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend((0..PACKET_SIZE - 8).map(|i| (i * 7 + 13) as u8));
    out
}

/// Given S0+S1+S2 (3073 bytes), the client's C2 (an echo of S1).
pub fn client_reply(s0s1s2: &[u8]) -> Result<Vec<u8>, RtmpError> {
    if s0s1s2.len() != 1 + 2 * PACKET_SIZE {
        return Err(RtmpError::Handshake("S0+S1+S2 must be 3073 bytes".into()));
    }
    if s0s1s2[0] != VERSION {
        return Err(RtmpError::Handshake(format!("unsupported version byte {}", s0s1s2[0])));
    }
    Ok(s0s1s2[1..1 + PACKET_SIZE].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_echoes_c1_and_client_echoes_s1() {
        let c = client_hello(5);
        let s = server_reply(&c, 9, &[1, 2, 3]).unwrap();
        assert_eq!(s.len(), 3073);
        assert_eq!(&s[1 + PACKET_SIZE..], &c[1..]);
        assert_eq!(client_reply(&s).unwrap(), s[1..1537].to_vec());
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut c = client_hello(0);
        c[0] = 6;
        assert!(server_reply(&c, 0, &[0]).is_err());
        assert!(server_reply(&c[..10], 0, &[0]).is_err());
    }
}
