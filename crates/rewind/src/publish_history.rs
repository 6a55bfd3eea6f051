//! The history of publishes: one row per publish session, written when it starts and
//! when it ends (the cloud's `DescribeLiveStreamPublishedList`, `GET
//! /v1/streams/{sid}/publishes`). The only SQL on `publish_history`. A node's heartbeat
//! moves `last_seen_unix` of its open rows in one statement, so a publish cut by a crash
//! ends, as far as the history knows, at its node's last heartbeat.

use crate::db::Db;
use crate::error::Result;
use crate::stream_id::StreamId;
use sqlx::Row;

/// One publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// The publish session.
    pub session_id: String,
    /// The stream.
    pub id: StreamId,
    /// The node that took it.
    pub node: String,
    /// The publisher's address.
    pub peer: String,
    /// The push URL's query.
    pub stream_param: String,
    /// When it started (Unix seconds).
    pub started_at_unix: i64,
    /// When it ended; `None` while it is open (live, or cut by a crash: see `last_seen_unix`).
    pub ended_at_unix: Option<i64>,
    /// The last time its node said it was live.
    pub last_seen_unix: i64,
    /// Why it ended, when known.
    pub stop_reason: Option<String>,
}

impl Publish {
    /// When it ended as far as is known: its end, else its node's last word on it.
    pub fn end_unix(&self) -> i64 {
        self.ended_at_unix.unwrap_or(self.last_seen_unix)
    }
}

/// What a history search asks.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Domain (required by the cloud; `None` = every domain).
    pub domain: Option<String>,
    /// App, exactly.
    pub app: Option<String>,
    /// Stream: this text anywhere in the name.
    pub stream_contains: Option<String>,
    /// Exactly this stream.
    pub stream: Option<String>,
    /// Publishes that started before this (Unix seconds)…
    pub started_before_unix: Option<i64>,
    /// …and were still live at or after this.
    pub live_at_or_after_unix: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// The history store.
#[derive(Clone, Debug)]
pub struct PublishHistory {
    db: Db,
}

const COLUMNS: &str = "session_id, domain, app, stream, node, peer, stream_param, started_at_unix, \
                       ended_at_unix, last_seen_unix, stop_reason";

fn of_row(r: &sqlx::any::AnyRow) -> Result<Publish> {
    let (d, a, s): (String, String, String) = (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    Ok(Publish {
        session_id: r.try_get(0)?,
        id: StreamId::new(&d, &a, &s)?,
        node: r.try_get(4)?,
        peer: r.try_get(5)?,
        stream_param: r.try_get(6)?,
        started_at_unix: r.try_get(7)?,
        ended_at_unix: r.try_get(8)?,
        last_seen_unix: r.try_get(9)?,
        stop_reason: r.try_get(10)?,
    })
}

/// `%`, `_` and `\` taken literally in a LIKE pattern.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl PublishHistory {
    /// The store on `db`.
    pub fn new(db: Db) -> Self {
        PublishHistory { db }
    }

    /// A publish started.
    pub async fn started(&self, p: &Publish) -> Result<()> {
        sqlx::query(
            "INSERT INTO publish_history (session_id, domain, app, stream, node, peer, stream_param, started_at_unix, \
             last_seen_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(&p.session_id)
        .bind(&p.id.domain)
        .bind(&p.id.app)
        .bind(&p.id.stream)
        .bind(&p.node)
        .bind(&p.peer)
        .bind(&p.stream_param)
        .bind(p.started_at_unix)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A publish ended, for `reason`.
    pub async fn ended(&self, session_id: &str, now_unix: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE publish_history SET ended_at_unix = $2, last_seen_unix = $2, stop_reason = $3 WHERE session_id = $1",
        )
        .bind(session_id)
        .bind(now_unix)
        .bind(reason)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// `node` is alive at `now_unix` with its open publishes (one statement a heartbeat).
    pub async fn still_live(&self, node: &str, now_unix: i64) -> Result<()> {
        sqlx::query(
            "UPDATE publish_history SET last_seen_unix = $2 WHERE node = $1 AND ended_at_unix IS NULL",
        )
        .bind(node)
        .bind(now_unix)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The publishes `q` asks for, newest first, and how many match in all.
    pub async fn search(&self, q: &Query) -> Result<(Vec<Publish>, i64)> {
        let mut filter = String::from(" WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let arg = |f: &mut String, sql: &str, v: String, b: &mut Vec<String>| {
            b.push(v);
            f.push_str(&sql.replace('?', &format!("${}", b.len())));
        };
        if let Some(d) = &q.domain {
            arg(&mut filter, " AND domain = ?", d.clone(), &mut binds);
        }
        if let Some(a) = &q.app {
            arg(&mut filter, " AND app = ?", a.clone(), &mut binds);
        }
        if let Some(s) = &q.stream {
            arg(&mut filter, " AND stream = ?", s.clone(), &mut binds);
        }
        if let Some(s) = &q.stream_contains {
            arg(&mut filter, " AND stream LIKE ? ESCAPE '\\'", format!("%{}%", like_escaped(s)), &mut binds);
        }
        let n = binds.len();
        if let Some(t) = q.started_before_unix {
            ints.push(t);
            filter.push_str(&format!(" AND started_at_unix < ${}", n + ints.len()));
        }
        if let Some(t) = q.live_at_or_after_unix {
            ints.push(t);
            filter.push_str(&format!(" AND COALESCE(ended_at_unix, last_seen_unix) >= ${}", n + ints.len()));
        }
        let count_sql = format!("SELECT COUNT(*) FROM publish_history{filter}");
        // The filter holds only placeholders; values are bound.
        let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
        for b in &binds {
            count = count.bind(b);
        }
        for i in &ints {
            count = count.bind(*i);
        }
        let total: i64 = count.fetch_one(self.db.pool()).await?.try_get(0)?;
        let list_sql = format!(
            "SELECT {COLUMNS} FROM publish_history{filter} ORDER BY started_at_unix DESC, session_id LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        );
        let mut list = sqlx::query(sqlx::AssertSqlSafe(list_sql));
        for b in &binds {
            list = list.bind(b);
        }
        for i in &ints {
            list = list.bind(*i);
        }
        let rows = list.fetch_all(self.db.pool()).await?;
        Ok((rows.iter().map(of_row).collect::<Result<_>>()?, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(session: &str, stream: &str, start: i64) -> Publish {
        Publish {
            session_id: session.into(),
            id: StreamId::new("d.example", "live", stream).unwrap(),
            node: "n1".into(),
            peer: "127.0.0.1:5000".into(),
            stream_param: "".into(),
            started_at_unix: start,
            ended_at_unix: None,
            last_seen_unix: start,
            stop_reason: None,
        }
    }

    #[tokio::test]
    async fn publishes_are_found_by_name_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let h = PublishHistory::new(db);
        h.started(&publish("s1", "cam_1", 100)).await.unwrap();
        h.ended("s1", 160, "the publisher closed").await.unwrap();
        h.started(&publish("s2", "camX2", 200)).await.unwrap();
        h.still_live("n1", 260).await.unwrap();
        let all = Query { limit: 10, ..Default::default() };
        let (rows, total) = h.search(&all).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(rows[0].session_id, "s2");
        assert_eq!((rows[0].ended_at_unix, rows[0].end_unix()), (None, 260));
        assert_eq!((rows[1].end_unix(), rows[1].stop_reason.as_deref()), (160, Some("the publisher closed")));
        // `_` is a letter here, not a wildcard.
        let q = Query { stream_contains: Some("m_".into()), ..all.clone() };
        assert_eq!(h.search(&q).await.unwrap().1, 1);
        let q = Query { stream_contains: Some("cam".into()), ..all.clone() };
        assert_eq!(h.search(&q).await.unwrap().1, 2);
        // Live within [170, 180): only s1 ended before 170, s2 started after 180.
        let q = Query { live_at_or_after_unix: Some(170), started_before_unix: Some(180), ..all.clone() };
        assert_eq!(h.search(&q).await.unwrap().1, 0);
        let q = Query { live_at_or_after_unix: Some(150), started_before_unix: Some(250), ..all.clone() };
        assert_eq!(h.search(&q).await.unwrap().1, 2);
        let q = Query { offset: 1, limit: 1, ..all };
        let (rows, total) = h.search(&q).await.unwrap();
        assert_eq!((rows.len(), rows[0].session_id.as_str(), total), (1, "s1", 2));
    }
}
