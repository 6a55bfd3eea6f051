//! Push authentication (SPEC R-I5): `txTime` is the hex Unix expiry and
//! `txSecret = lower-hex MD5(key + streamName + txTime)`, with a primary and a backup key.

use crate::config::PushAuth;
use crate::ingest::publish_target::query_param;
use md5::{Digest, Md5};

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRefusal {
    /// `txSecret` or `txTime` is absent.
    Missing,
    /// `txTime` is not hex, or `txSecret` does not match either key.
    Invalid(String),
    /// `txTime` is in the past.
    Expired {
        /// The expiry the push carried (Unix seconds).
        expired_at: i64,
    },
}

impl AuthRefusal {
    /// Metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthRefusal::Missing => "auth_missing",
            AuthRefusal::Invalid(_) => "auth_invalid",
            AuthRefusal::Expired { .. } => "auth_expired",
        }
    }
    /// A sentence for the log and the RTMP status description.
    pub fn describe(&self) -> String {
        match self {
            AuthRefusal::Missing => "push authentication required: txSecret and txTime are missing".into(),
            AuthRefusal::Invalid(why) => format!("push authentication failed: {why}"),
            AuthRefusal::Expired { expired_at } => {
                format!("push authentication failed: txTime expired at Unix {expired_at}")
            }
        }
    }
}

/// `txSecret` for `key`, stream name and hex `tx_time`.
pub fn tx_secret(key: &str, stream: &str, tx_time: &str) -> String {
    let mut h = Md5::new();
    h.update(key.as_bytes());
    h.update(stream.as_bytes());
    h.update(tx_time.as_bytes());
    hex::encode(h.finalize())
}

/// Checks a push's query against the domain's keys at `now_unix`.
pub fn check(auth: &PushAuth, stream: &str, query: &str, now_unix: i64) -> Result<(), AuthRefusal> {
    let (Some(secret), Some(time)) = (query_param(query, "txSecret"), query_param(query, "txTime")) else {
        return Err(AuthRefusal::Missing);
    };
    let expiry = i64::from_str_radix(time, 16)
        .map_err(|_| AuthRefusal::Invalid(format!("txTime {time:?} is not a hexadecimal Unix time")))?;
    let secret = secret.to_ascii_lowercase();
    let ok = [&auth.primary_key, &auth.backup_key]
        .into_iter()
        .filter(|k| !k.is_empty())
        .any(|k| crate::secret::same(&tx_secret(k, stream, time), &secret));
    if !ok {
        return Err(AuthRefusal::Invalid("txSecret does not match the domain's keys".into()));
    }
    if expiry < now_unix {
        return Err(AuthRefusal::Expired { expired_at: expiry });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PushAuth {
        PushAuth { primary_key: "prim".into(), backup_key: "back".into() }
    }

    #[test]
    fn primary_and_backup_keys_accept() {
        let t = format!("{:X}", 2_000_000_000i64);
        for k in ["prim", "back"] {
            let q = format!("txSecret={}&txTime={t}", tx_secret(k, "cam1", &t));
            assert_eq!(check(&keys(), "cam1", &q, 1_900_000_000), Ok(()));
        }
    }

    #[test]
    fn refusals() {
        let t = format!("{:x}", 1_000i64);
        let good = tx_secret("prim", "cam1", &t);
        assert_eq!(check(&keys(), "cam1", "", 0), Err(AuthRefusal::Missing));
        assert!(matches!(
            check(&keys(), "cam1", &format!("txSecret={good}&txTime={t}"), 2_000),
            Err(AuthRefusal::Expired { expired_at: 1000 })
        ));
        assert!(matches!(
            check(&keys(), "cam2", &format!("txSecret={good}&txTime={t}"), 0),
            Err(AuthRefusal::Invalid(_))
        ));
        assert!(matches!(check(&keys(), "cam1", "txSecret=x&txTime=zz", 0), Err(AuthRefusal::Invalid(_))));
    }
}
