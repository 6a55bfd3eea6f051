//! Comparing secrets (API key, push signatures) without timing hints.

use md5::{Digest, Md5};

/// True when `given` equals `secret`. Both are hashed to a fixed length first, and every
/// byte is compared, so neither the length nor the first differing byte shows in the time.
pub fn same(given: &str, secret: &str) -> bool {
    let (a, b) = (Md5::digest(given.as_bytes()), Md5::digest(secret.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_only_when_equal() {
        assert!(super::same("k3y", "k3y"));
        assert!(!super::same("k3y", "k3z"));
        assert!(!super::same("k3", "k3y"));
        assert!(!super::same("", "k3y"));
    }
}
