//! Streaming locators (B-P10): unguessable ids that stand for a stream, optionally a
//! time window and an expiry, so playback URLs can be handed out without the API key.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::timeline::window::{LATEST_SPAN, Window};
use rewind_media::Time90k;
use sqlx::Row;

/// A locator as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locator {
    /// The id in URLs (a random UUID).
    pub locator_id: String,
    /// `domain/app/stream`.
    pub stream_id: String,
    /// Playback never starts before this.
    pub start: Option<Time90k>,
    /// Playback never reaches past this.
    pub end: Option<Time90k>,
    /// Unix seconds after which the locator is gone.
    pub expires_at_unix: Option<i64>,
}

/// A new random locator id, formatted as a UUID (version 4).
pub fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Stores a locator.
pub async fn insert(db: &Db, l: &Locator, now_unix: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO locator (locator_id, stream_id, start_90k, end_90k, expires_at_unix, created_at_unix) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&l.locator_id)
    .bind(&l.stream_id)
    .bind(l.start.map(|t| t.0))
    .bind(l.end.map(|t| t.0))
    .bind(l.expires_at_unix)
    .bind(now_unix)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A live (unexpired) locator.
pub async fn get(db: &Db, id: &str, now_unix: i64) -> Result<Locator> {
    let row = sqlx::query(
        "SELECT locator_id, stream_id, start_90k, end_90k, expires_at_unix FROM locator WHERE locator_id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let l = match row {
        Some(r) => Locator {
            locator_id: r.try_get("locator_id")?,
            stream_id: r.try_get("stream_id")?,
            start: r.try_get::<Option<i64>, _>("start_90k")?.map(Time90k),
            end: r.try_get::<Option<i64>, _>("end_90k")?.map(Time90k),
            expires_at_unix: r.try_get("expires_at_unix")?,
        },
        None => return Err(Error::new(ErrorCode::LocatorNotFound, format!("no locator {id}"))),
    };
    if l.expires_at_unix.is_some_and(|e| e <= now_unix) {
        return Err(Error::new(ErrorCode::LocatorNotFound, format!("locator {id} has expired")));
    }
    Ok(l)
}

/// Deletes a locator; false if there was none.
pub async fn delete(db: &Db, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM locator WHERE locator_id = $1").bind(id).execute(db.pool()).await?;
    Ok(r.rows_affected() > 0)
}

impl Locator {
    /// A request's window narrowed to the locator's. Without times, the latest media
    /// before the locator's end (if it has one); `select` also keeps the result inside
    /// `bounds()`.
    pub fn clip(&self, w: Window) -> Window {
        let lo = |s: Time90k| self.start.map_or(s, |b| s.max(b));
        match (w, self.end) {
            (Window::Latest, None) => Window::Latest,
            (Window::Latest, Some(e)) => Window::Between(lo(e - LATEST_SPAN), e),
            (Window::From(s), None) => Window::From(lo(s)),
            (Window::From(s), Some(e)) => Window::Between(lo(s), e.max(lo(s))),
            (Window::Between(s, e), end) => {
                let e = end.map_or(e, |b| e.min(b));
                Window::Between(lo(s), e.max(lo(s)))
            }
        }
    }

    /// The locator's window as (from, to) limits.
    pub fn bounds(&self) -> (Option<Time90k>, Option<Time90k>) {
        (self.start, self.end)
    }

    /// Runs narrowed to the locator's window.
    pub fn clip_runs(&self, runs: &mut Vec<(Time90k, Time90k)>) {
        let lo = self.start.unwrap_or(Time90k(i64::MIN));
        let hi = self.end.unwrap_or(Time90k(i64::MAX));
        runs.retain_mut(|r| {
            r.0 = r.0.max(lo);
            r.1 = r.1.min(hi);
            r.0 < r.1
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn windows_are_narrowed() {
        let l = Locator {
            locator_id: String::new(),
            stream_id: String::new(),
            start: Some(Time90k(100)),
            end: Some(Time90k(200)),
            expires_at_unix: None,
        };
        assert_eq!(l.clip(Window::Latest), Window::Between(Time90k(100), Time90k(200)));
        assert_eq!(
            l.clip(Window::Between(Time90k(50), Time90k(150))),
            Window::Between(Time90k(100), Time90k(150))
        );
        assert_eq!(l.clip(Window::From(Time90k(150))), Window::Between(Time90k(150), Time90k(200)));
        let mut runs =
            vec![(Time90k(0), Time90k(120)), (Time90k(190), Time90k(300)), (Time90k(400), Time90k(500))];
        l.clip_runs(&mut runs);
        assert_eq!(runs, vec![(Time90k(100), Time90k(120)), (Time90k(190), Time90k(200))]);
    }
}
