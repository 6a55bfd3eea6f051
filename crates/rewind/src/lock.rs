//! Locking a std `Mutex` without poisoning.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, also after a panic in another holder: the std mutexes here guard short,
/// non-awaiting updates, so a panicking holder cannot leave them half done in a way
/// the next holder must not see.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
