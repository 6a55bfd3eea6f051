//! Bit-level reading of H.264/H.265 parameter sets (RBSP with Exp-Golomb codes).

use crate::codec::CodecError;

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`) from a NAL unit.
pub fn rbsp_from_nal(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits MSB-first; every read past the end is an error, never a panic.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    fn short() -> CodecError {
        CodecError::Truncated("parameter set")
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, CodecError> {
        let byte = *self.data.get(self.pos / 8).ok_or_else(Self::short)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(b == 1)
    }

    /// `n` ≤ 32 bits as an unsigned number.
    pub fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()? as u64;
        }
        Ok(v as u32)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        if self.pos + n > self.data.len() * 8 {
            return Err(Self::short());
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned Exp-Golomb `ue(v)`.
    pub fn ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::Invalid("Exp-Golomb code longer than 32 bits"));
            }
        }
        let rest = self.bits(zeros)? as u64;
        Ok(((1u64 << zeros) - 1 + rest) as u32)
    }

    /// Signed Exp-Golomb `se(v)`.
    pub fn se(&mut self) -> Result<i32, CodecError> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 → 0, 1, 2, 3
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        let mut r = BitReader::new(&[0b0100_1100]);
        assert_eq!(r.se().unwrap(), 1);
        assert_eq!(r.se().unwrap(), -1);
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut r = BitReader::new(&[0]);
        assert!(r.ue().is_err());
    }

    #[test]
    fn emulation_prevention_removed() {
        assert_eq!(rbsp_from_nal(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
