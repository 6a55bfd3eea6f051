//! Forbidden streams: a stream whose publish every node refuses until a resume time
//! (the cloud's `ForbidLiveStream`). The only SQL on `stream_forbid`. The publish path
//! reads one row by primary key per publish, so a forbid made on any node applies on
//! every node at its next publish, without a reload.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::StreamId;
use sqlx::Row;

/// Longest forbid the cloud takes (90 days), and its default (7 days).
pub const MAX_SECS: i64 = 90 * 86_400;
/// A forbid without a resume time lasts this long.
pub const DEFAULT_SECS: i64 = 7 * 86_400;
/// Longest reason kept (bytes), as the cloud's limit.
pub const MAX_REASON: usize = 2048;

/// A stream's forbid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbid {
    /// The stream.
    pub id: StreamId,
    /// Why, as the operator wrote it.
    pub reason: String,
    /// Publishing is allowed again from this Unix second.
    pub resume_at_unix: i64,
    /// When it was set (Unix seconds).
    pub created_at_unix: i64,
}

/// The forbid store.
#[derive(Clone, Debug)]
pub struct StreamForbids {
    db: Db,
}

fn of_row(r: &sqlx::any::AnyRow) -> Result<Forbid> {
    let (d, a, s): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
    Ok(Forbid {
        id: StreamId::new(&d, &a, &s)?,
        reason: r.try_get(3)?,
        resume_at_unix: r.try_get(4)?,
        created_at_unix: r.try_get(5)?,
    })
}

/// Checks a forbid's resume time and reason: the resume time is in the future and at
/// most `MAX_SECS` away (`None`: the default), the reason at most `MAX_REASON` bytes.
pub fn check(resume_at_unix: Option<i64>, reason: &str, now_unix: i64) -> Result<i64> {
    let resume = resume_at_unix.unwrap_or(now_unix + DEFAULT_SECS);
    if resume <= now_unix {
        return Err(Error::new(ErrorCode::InvalidParameter, "resume_at must be in the future"));
    }
    if resume - now_unix > MAX_SECS {
        return Err(Error::new(ErrorCode::InvalidParameter, "resume_at must be at most 90 days from now"));
    }
    if reason.len() > MAX_REASON {
        return Err(Error::new(ErrorCode::InvalidParameter, "reason must be at most 2048 bytes"));
    }
    Ok(resume)
}

impl StreamForbids {
    /// The store on `db`.
    pub fn new(db: Db) -> Self {
        StreamForbids { db }
    }

    /// Forbids `id` until `resume_at_unix` (replacing a forbid it had).
    pub async fn forbid(
        &self,
        id: &StreamId,
        reason: &str,
        resume_at_unix: i64,
        now_unix: i64,
    ) -> Result<Forbid> {
        sqlx::query(
            "INSERT INTO stream_forbid (id, domain, app, stream, reason, resume_at_unix, created_at_unix)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, resume_at_unix = excluded.resume_at_unix,
               created_at_unix = excluded.created_at_unix",
        )
        .bind(id.to_string())
        .bind(&id.domain)
        .bind(&id.app)
        .bind(&id.stream)
        .bind(reason)
        .bind(resume_at_unix)
        .bind(now_unix)
        .execute(self.db.pool())
        .await?;
        Ok(Forbid { id: id.clone(), reason: reason.to_string(), resume_at_unix, created_at_unix: now_unix })
    }

    /// Lifts `id`'s forbid; false when it had none in force.
    pub async fn lift(&self, id: &StreamId, now_unix: i64) -> Result<bool> {
        let had = self.active(id, now_unix).await?.is_some();
        sqlx::query("DELETE FROM stream_forbid WHERE id = $1")
            .bind(id.to_string())
            .execute(self.db.pool())
            .await?;
        Ok(had)
    }

    /// `id`'s forbid in force at `now_unix`, if any.
    pub async fn active(&self, id: &StreamId, now_unix: i64) -> Result<Option<Forbid>> {
        let row = sqlx::query(
            "SELECT domain, app, stream, reason, resume_at_unix, created_at_unix FROM stream_forbid
             WHERE id = $1 AND resume_at_unix > $2",
        )
        .bind(id.to_string())
        .bind(now_unix)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(of_row).transpose()
    }

    /// Every forbid in force at `now_unix`, by stream id (a read: ended rows stay until
    /// the stream is forbidden or lifted again, and are never in force).
    pub async fn list(&self, now_unix: i64) -> Result<Vec<Forbid>> {
        let rows = sqlx::query(
            "SELECT domain, app, stream, reason, resume_at_unix, created_at_unix FROM stream_forbid
             WHERE resume_at_unix > $1 ORDER BY id",
        )
        .bind(now_unix)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(of_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_times_are_checked() {
        assert_eq!(check(None, "", 100).unwrap(), 100 + DEFAULT_SECS);
        assert_eq!(check(Some(101), "x", 100).unwrap(), 101);
        assert!(check(Some(100), "", 100).is_err());
        assert!(check(Some(100 + MAX_SECS + 1), "", 100).is_err());
        assert!(check(Some(200), &"r".repeat(MAX_REASON + 1), 100).is_err());
    }

    #[tokio::test]
    async fn a_forbid_holds_until_its_resume_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let f = StreamForbids::new(db);
        let id = StreamId::new("d.example", "live", "cam").unwrap();
        assert_eq!(f.active(&id, 10).await.unwrap(), None);
        f.forbid(&id, "noise", 100, 10).await.unwrap();
        assert_eq!(f.active(&id, 99).await.unwrap().unwrap().reason, "noise");
        assert_eq!(f.active(&id, 100).await.unwrap(), None);
        assert_eq!(f.list(50).await.unwrap().len(), 1);
        f.forbid(&id, "again", 200, 60).await.unwrap();
        assert_eq!(f.active(&id, 150).await.unwrap().unwrap().reason, "again");
        assert!(f.lift(&id, 150).await.unwrap());
        assert!(!f.lift(&id, 150).await.unwrap());
        assert_eq!(f.active(&id, 150).await.unwrap(), None);
        f.forbid(&id, "old", 100, 10).await.unwrap();
        assert!(f.list(100).await.unwrap().is_empty());
    }
}
