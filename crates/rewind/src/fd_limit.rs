//! The process's open-file limit: raised to its hard maximum at start, and split
//! between the two listeners so connections can never take the descriptors that
//! recordings, the database and the other listener need.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where allowed; returns the soft
/// limit in force afterwards.
pub fn raise() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write and read the struct we pass, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// Connection limits that fit `nofile` descriptors: the configured ones when they fit
/// in three quarters of it (the rest is for files, the database and sockets of our
/// own), else both scaled down in proportion. Returns (rtmp, http, lowered).
pub fn split(nofile: u64, rtmp: usize, http: usize) -> (usize, usize, bool) {
    let budget = (nofile.saturating_mul(3) / 4) as usize;
    let want = rtmp + http;
    if want <= budget {
        return (rtmp, http, false);
    }
    let r = (rtmp as u128 * budget as u128 / want as u128) as usize;
    (r.max(1), budget.saturating_sub(r).max(1), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fit_three_quarters_of_the_descriptors() {
        assert_eq!(split(1 << 20, 4096, 1024), (4096, 1024, false));
        let (r, h, lowered) = split(1024, 4096, 1024);
        assert!(lowered);
        assert_eq!(r + h, 768);
        assert_eq!((r, h), (614, 154));
        assert_eq!(split(4, 10, 10), (1, 2, true));
        assert!(raise() >= 16);
    }
}
