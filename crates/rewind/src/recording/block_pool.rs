//! Fixed-size buffer blocks that recorders fill and write threads give back, so a
//! recording allocates nothing per write: a flushed block is written, cleared and reused
//! by whichever file needs one next.
//!
//! Overflow policy: at most `MAX_IDLE` blocks wait here; more are freed.

use crate::lock::lock;
use bytes::BytesMut;
use std::sync::Mutex;

/// Size of a block: ~60 ms of a 2 Mbps stream, so a file's last,
/// partly filled block wastes little.
pub const BLOCK_BYTES: usize = 16 * 1024;
/// Blocks kept for reuse (512 KiB): enough to skip the allocator between writes; a pool
/// sized for every block in flight (256) held ~4 MiB idle after each burst.
const MAX_IDLE: usize = 32;

static IDLE: Mutex<Vec<BytesMut>> = Mutex::new(Vec::new());

fn idle() -> std::sync::MutexGuard<'static, Vec<BytesMut>> {
    lock(&IDLE)
}

/// An empty block with `BLOCK_BYTES` of room (or more).
pub fn take() -> BytesMut {
    idle().pop().unwrap_or_else(|| BytesMut::with_capacity(BLOCK_BYTES))
}

/// Returns a block for reuse. Blocks that grew far past the size (a huge frame) are freed.
pub fn give(mut b: BytesMut) {
    if b.capacity() < BLOCK_BYTES || b.capacity() > 4 * BLOCK_BYTES {
        return;
    }
    b.clear();
    let mut idle = idle();
    if idle.len() < MAX_IDLE {
        idle.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_empty_and_oversized_ones_are_freed() {
        let mut b = take();
        b.extend_from_slice(b"abc");
        give(b);
        let again = take();
        assert!(again.is_empty() && again.capacity() >= BLOCK_BYTES);
        let huge = BytesMut::with_capacity(8 * BLOCK_BYTES);
        give(huge);
        assert!(idle().iter().all(|b| b.capacity() <= 4 * BLOCK_BYTES));
    }
}
