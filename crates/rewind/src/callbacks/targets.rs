//! Callback templates and rules (the cloud's `CreateLiveCallbackTemplate` and
//! `CreateLiveCallbackRule`, `/v1/callback-templates`, `/v1/callback-rules`): a template
//! has a URL per kind of event and one signing key; a rule binds a domain's app (or every
//! app: `''`) to a template. The only SQL on `callback_template` and `callback_rule`.
//!
//! Lookups (`decide`) read an in-memory copy, never the database: they run on the
//! recording path. Every node reloads it when the configuration counter moves.

use crate::config::Callback;
use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::stream_id::{StreamId, check_domain};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::RwLock;

/// Most callback templates, as the cloud's quota.
pub const MAX_TEMPLATES: usize = 50;

/// Kinds of event a template has a URL for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A publish started (`event_type` 1).
    StreamBegin,
    /// A publish ended (`event_type` 0).
    StreamEnd,
    /// A file finished (`event_type` 100).
    Record,
    /// A recording's status changed (`event_type` 332).
    RecordStatus,
}

impl EventKind {
    /// The kind of an `event_type`, if rewind sends it.
    pub fn of(event_type: i64) -> Option<EventKind> {
        match event_type {
            super::event::STREAM_BEGIN => Some(EventKind::StreamBegin),
            super::event::STREAM_END => Some(EventKind::StreamEnd),
            super::event::RECORD => Some(EventKind::Record),
            super::event::STATUS => Some(EventKind::RecordStatus),
            _ => None,
        }
    }
}

/// A callback template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackTemplate {
    /// Id, given by rewind.
    #[serde(default)]
    pub template_id: i64,
    /// Name (letters, digits, `_`, `-`; ≤ 255 bytes).
    pub name: String,
    /// Description (≤ 1024 bytes).
    #[serde(default)]
    pub description: String,
    /// Where stream begin events go (`''`: none).
    #[serde(default)]
    pub stream_begin_url: String,
    /// Where stream end events go.
    #[serde(default)]
    pub stream_end_url: String,
    /// Where record (finished file) events go.
    #[serde(default)]
    pub record_url: String,
    /// Where recording status events go.
    #[serde(default)]
    pub record_status_url: String,
    /// The signing key of every URL (`sign = MD5(key + t)`).
    #[serde(default)]
    pub callback_key: String,
    /// When it was made (Unix seconds).
    #[serde(skip_deserializing)]
    pub created_at_unix: i64,
    /// When it last changed (Unix seconds).
    #[serde(skip_deserializing)]
    pub updated_at_unix: i64,
}

impl CallbackTemplate {
    /// The URL for `kind` (`''`: none).
    pub fn url(&self, kind: EventKind) -> &str {
        match kind {
            EventKind::StreamBegin => &self.stream_begin_url,
            EventKind::StreamEnd => &self.stream_end_url,
            EventKind::Record => &self.record_url,
            EventKind::RecordStatus => &self.record_status_url,
        }
    }

    /// Checks the fields an operator sets.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::new(ErrorCode::InvalidParameter, m));
        if self.name.is_empty() || self.name.len() > 255 {
            return bad("name must be 1 to 255 bytes".into());
        }
        if !self.name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            return bad("name may hold only letters, digits, _ and -".into());
        }
        if self.description.len() > 1024 {
            return bad("description must be at most 1024 bytes".into());
        }
        for (field, url) in [
            ("stream_begin_url", &self.stream_begin_url),
            ("stream_end_url", &self.stream_end_url),
            ("record_url", &self.record_url),
            ("record_status_url", &self.record_status_url),
        ] {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return bad(format!("{field} must be empty or an http:// or https:// URL"));
            }
            if url.len() > 2048 {
                return bad(format!("{field} must be at most 2048 bytes"));
            }
        }
        if self.callback_key.len() > 256 {
            return bad("callback_key must be at most 256 bytes".into());
        }
        Ok(())
    }
}

/// A callback rule: `domain`'s `app` (`''`: every app) uses `template_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackRule {
    /// Domain.
    pub domain: String,
    /// App (`''`: every app).
    pub app: String,
    /// The callback template.
    pub template_id: i64,
    /// When it was made (Unix seconds).
    pub created_at_unix: i64,
    /// When it last changed (Unix seconds).
    pub updated_at_unix: i64,
}

#[derive(Debug, Default)]
struct Snapshot {
    templates: Vec<CallbackTemplate>,
    rules: Vec<CallbackRule>,
}

/// The callback templates and rules.
#[derive(Debug)]
pub struct CallbackTargets {
    db: Db,
    // std RwLock: held only to copy or swap, never across an await.
    now: RwLock<Snapshot>,
}

const TEMPLATE_COLUMNS: &str = "template_id, name, description, stream_begin_url, stream_end_url, record_url, \
                                record_status_url, callback_key, created_at_unix, updated_at_unix";

async fn read(db: &Db) -> Result<Snapshot> {
    // Only constants are formatted in: values are bound.
    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM callback_template ORDER BY template_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    let mut templates = Vec::with_capacity(rows.len());
    for r in rows {
        templates.push(CallbackTemplate {
            template_id: r.try_get(0)?,
            name: r.try_get(1)?,
            description: r.try_get(2)?,
            stream_begin_url: r.try_get(3)?,
            stream_end_url: r.try_get(4)?,
            record_url: r.try_get(5)?,
            record_status_url: r.try_get(6)?,
            callback_key: r.try_get(7)?,
            created_at_unix: r.try_get(8)?,
            updated_at_unix: r.try_get(9)?,
        });
    }
    let rows = sqlx::query(
        "SELECT domain, app, template_id, created_at_unix, updated_at_unix FROM callback_rule ORDER BY domain, app",
    )
    .fetch_all(db.pool())
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for r in rows {
        rules.push(CallbackRule {
            domain: r.try_get(0)?,
            app: r.try_get(1)?,
            template_id: r.try_get(2)?,
            created_at_unix: r.try_get(3)?,
            updated_at_unix: r.try_get(4)?,
        });
    }
    Ok(Snapshot { templates, rules })
}

fn template_not_found(id: i64) -> Error {
    Error::new(ErrorCode::CallbackTemplateNotFound, format!("callback template {id} does not exist"))
}

impl CallbackTargets {
    /// Loads the templates and rules from `db`.
    pub async fn load(db: Db) -> Result<Self> {
        let now = read(&db).await?;
        Ok(CallbackTargets { db, now: RwLock::new(now) })
    }

    /// Reads them again (another node changed them).
    pub async fn reload(&self) -> Result<()> {
        let fresh = read(&self.db).await?;
        *self.now.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    async fn changed(&self) -> Result<()> {
        self.reload().await?;
        crate::config_sync::changed(&self.db).await;
        Ok(())
    }

    /// What the rules say for `domain`'s `app` and an event of `kind`: `None` when no
    /// rule binds it (the domain's own target applies), `Some(None)` when its template
    /// has no URL for this kind (no event), else the target.
    pub fn decide(&self, domain: &str, app: &str, kind: EventKind) -> Option<Option<Callback>> {
        let s = self.now.read().unwrap_or_else(|p| p.into_inner());
        let rule = s
            .rules
            .iter()
            .find(|r| r.domain == domain && r.app == app)
            .or_else(|| s.rules.iter().find(|r| r.domain == domain && r.app.is_empty()))?;
        let t = s.templates.iter().find(|t| t.template_id == rule.template_id)?;
        let url = t.url(kind);
        Some((!url.is_empty()).then(|| Callback { url: url.to_string(), key: t.callback_key.clone() }))
    }

    /// Every template, by id.
    pub fn templates(&self) -> Vec<CallbackTemplate> {
        self.now.read().unwrap_or_else(|p| p.into_inner()).templates.clone()
    }

    /// One template.
    pub fn template(&self, id: i64) -> Result<CallbackTemplate> {
        let s = self.now.read().unwrap_or_else(|p| p.into_inner());
        s.templates.iter().find(|t| t.template_id == id).cloned().ok_or_else(|| template_not_found(id))
    }

    /// Every rule, by domain and app.
    pub fn rules(&self) -> Vec<CallbackRule> {
        self.now.read().unwrap_or_else(|p| p.into_inner()).rules.clone()
    }

    /// Makes a template; its id is returned in it.
    pub async fn create_template(&self, mut t: CallbackTemplate, now_unix: i64) -> Result<CallbackTemplate> {
        t.validate()?;
        self.reload().await?;
        if self.templates().len() >= MAX_TEMPLATES {
            return Err(Error::new(
                ErrorCode::ConfOutLimit,
                format!("at most {MAX_TEMPLATES} callback templates may exist"),
            ));
        }
        let row = sqlx::query(
            "INSERT INTO callback_template (name, description, stream_begin_url, stream_end_url, record_url, \
             record_status_url, callback_key, created_at_unix, updated_at_unix) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING template_id",
        )
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.stream_begin_url)
        .bind(&t.stream_end_url)
        .bind(&t.record_url)
        .bind(&t.record_status_url)
        .bind(&t.callback_key)
        .bind(now_unix)
        .fetch_one(self.db.pool())
        .await?;
        t.template_id = row.try_get(0)?;
        (t.created_at_unix, t.updated_at_unix) = (now_unix, now_unix);
        self.changed().await?;
        Ok(t)
    }

    /// Replaces template `t.template_id`'s fields.
    pub async fn update_template(&self, mut t: CallbackTemplate, now_unix: i64) -> Result<CallbackTemplate> {
        t.validate()?;
        let n = sqlx::query(
            "UPDATE callback_template SET name = $2, description = $3, stream_begin_url = $4, stream_end_url = $5, \
             record_url = $6, record_status_url = $7, callback_key = $8, updated_at_unix = $9 WHERE template_id = $1",
        )
        .bind(t.template_id)
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.stream_begin_url)
        .bind(&t.stream_end_url)
        .bind(&t.record_url)
        .bind(&t.record_status_url)
        .bind(&t.callback_key)
        .bind(now_unix)
        .execute(self.db.pool())
        .await?;
        if n.rows_affected() == 0 {
            return Err(template_not_found(t.template_id));
        }
        self.changed().await?;
        let stored = self.template(t.template_id)?;
        t.created_at_unix = stored.created_at_unix;
        t.updated_at_unix = now_unix;
        Ok(t)
    }

    /// Deletes a template no rule uses.
    pub async fn delete_template(&self, id: i64) -> Result<()> {
        self.reload().await?;
        self.template(id)?;
        if let Some(r) = self.rules().into_iter().find(|r| r.template_id == id) {
            return Err(Error::new(
                ErrorCode::ConfInUsed,
                format!("callback template {id} is used by the callback rule of {}/{}", r.domain, r.app),
            ));
        }
        sqlx::query("DELETE FROM callback_template WHERE template_id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        self.changed().await
    }

    /// Binds `domain`'s `app` (`''`: every app) to template `template_id`.
    pub async fn create_rule(
        &self,
        domain: &str,
        app: &str,
        template_id: i64,
        now_unix: i64,
    ) -> Result<CallbackRule> {
        check_domain(domain)?;
        if !app.is_empty() {
            StreamId::new(domain, app, "s")?;
        }
        self.reload().await?;
        self.template(template_id)?;
        if self.rules().iter().any(|r| r.domain == domain && r.app == app) {
            return Err(Error::new(
                ErrorCode::RuleAlreadyExist,
                format!("{domain}/{app} already has a callback rule; delete it first"),
            ));
        }
        sqlx::query(
            "INSERT INTO callback_rule (domain, app, template_id, created_at_unix, updated_at_unix) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(domain)
        .bind(app)
        .bind(template_id)
        .bind(now_unix)
        .execute(self.db.pool())
        .await?;
        self.changed().await?;
        Ok(CallbackRule {
            domain: domain.into(),
            app: app.into(),
            template_id,
            created_at_unix: now_unix,
            updated_at_unix: now_unix,
        })
    }

    /// Removes `domain`'s `app` rule.
    pub async fn delete_rule(&self, domain: &str, app: &str) -> Result<()> {
        let n = sqlx::query("DELETE FROM callback_rule WHERE domain = $1 AND app = $2")
            .bind(domain)
            .bind(app)
            .execute(self.db.pool())
            .await?;
        if n.rows_affected() == 0 {
            return Err(Error::new(ErrorCode::RuleNotFound, format!("{domain}/{app} has no callback rule")));
        }
        self.changed().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str) -> CallbackTemplate {
        CallbackTemplate {
            name: name.into(),
            stream_begin_url: "http://h/begin".into(),
            record_url: "http://h/record".into(),
            callback_key: "k".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn rules_pick_a_url_per_kind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let c = CallbackTargets::load(db.clone()).await.unwrap();
        let t = c.create_template(template("all"), 5).await.unwrap();
        let u = c.create_template(template("cams"), 5).await.unwrap();
        assert_ne!(t.template_id, u.template_id);
        assert_eq!(c.decide("d.example", "live", EventKind::Record), None);
        c.create_rule("d.example", "", t.template_id, 6).await.unwrap();
        c.create_rule("d.example", "cams", u.template_id, 6).await.unwrap();
        let got = c.decide("d.example", "live", EventKind::StreamBegin).unwrap().unwrap();
        assert_eq!((got.url.as_str(), got.key.as_str()), ("http://h/begin", "k"));
        assert_eq!(c.decide("d.example", "live", EventKind::StreamEnd), Some(None));
        let mut v = u.clone();
        v.record_url = "http://h/cams".into();
        c.update_template(v, 7).await.unwrap();
        assert_eq!(c.decide("d.example", "cams", EventKind::Record).unwrap().unwrap().url, "http://h/cams");
        assert_eq!(c.delete_template(u.template_id).await.unwrap_err().code, ErrorCode::ConfInUsed);
        assert_eq!(
            c.create_rule("d.example", "cams", t.template_id, 8).await.unwrap_err().code,
            ErrorCode::RuleAlreadyExist
        );
        assert_eq!(
            c.create_rule("d.example", "x", 999, 8).await.unwrap_err().code,
            ErrorCode::CallbackTemplateNotFound
        );
        c.delete_rule("d.example", "cams").await.unwrap();
        c.delete_template(u.template_id).await.unwrap();
        // Another node sees what this one made after a reload.
        let other = CallbackTargets::load(db).await.unwrap();
        assert_eq!(other.rules().len(), 1);
        assert_eq!(other.templates().len(), 1);
        let bad = CallbackTemplate { record_url: "ftp://x".into(), ..template("bad") };
        assert_eq!(c.create_template(bad, 9).await.unwrap_err().code, ErrorCode::InvalidParameter);
        let bad = template("no spaces allowed");
        assert_eq!(c.create_template(bad, 9).await.unwrap_err().code, ErrorCode::InvalidParameter);
    }
}
