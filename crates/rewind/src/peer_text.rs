//! Text a peer chose (a stream name, a command's argument), made fit for a log line:
//! escaped, so it cannot forge lines or terminal sequences, and cut, so a peer within
//! the rate limits cannot write megabytes of log (issue 29: 1.27 MiB in 20 s before).

use std::fmt;

/// Bytes of a peer's text kept in a log line.
pub const MAX_BYTES: usize = 200;

/// A peer's text as a log line shows it: at most `MAX_BYTES` of it, escaped, with how
/// long it really was when cut.
pub struct PeerText<'a>(pub &'a str);

impl fmt::Display for PeerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut end = s.len().min(MAX_BYTES);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}", s[..end].escape_debug())?;
        if end < s.len() {
            write!(f, "…({} bytes)", s.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_hostile_text_is_cut_and_escaped() {
        assert_eq!(PeerText("cam1").to_string(), "cam1");
        assert_eq!(PeerText("a\nb\u{1b}[2J").to_string(), "a\\nb\\u{1b}[2J");
        let long = "é".repeat(1000);
        let shown = PeerText(&long).to_string();
        assert!(shown.ends_with("…(2000 bytes)"), "{shown}");
        assert!(shown.len() <= MAX_BYTES + 20, "{}", shown.len());
    }
}
