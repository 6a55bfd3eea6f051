//! Templates and rules (SPEC §3, §4): from the config file (read-only) and the API
//! (stored in the database), kept in memory so that matching a publish is at most five
//! hash look-ups whatever the number of rules.

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::recording::template::Template;
use crate::stream_id::{StreamId, check_domain, check_name};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

/// Domain of a rule that matches every domain (lowest priority; beyond the seed).
pub const ANY_DOMAIN: &str = "*";

/// Where a template or rule comes from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Built into the server (template 0).
    Builtin,
    /// The configuration file.
    Config,
    /// The HTTP API.
    Api,
}

/// A rule: `(domain, app?, stream?) → template`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    /// Domain, or `*` for every domain.
    pub domain: String,
    /// App; empty = any.
    #[serde(default)]
    pub app: String,
    /// Stream; empty = any.
    #[serde(default)]
    pub stream: String,
    /// The template it binds.
    pub template_id: i64,
    /// When it was created (Unix seconds).
    #[serde(default)]
    pub created_at: i64,
    /// When it was last changed (Unix seconds).
    #[serde(default)]
    pub updated_at: i64,
}

type Key = (String, String, String);

/// Limits on the catalog (R-T3, R-R3).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most templates (not counting template 0).
    pub max_templates: usize,
    /// Most rules.
    pub max_rules: usize,
}

#[derive(Debug, Default)]
struct State {
    templates: BTreeMap<i64, TemplateEntry>,
    rules: HashMap<Key, (Rule, Source)>,
}

/// All templates and rules.
#[derive(Debug)]
pub struct Catalog {
    db: Db,
    limits: Limits,
    // std RwLock: read on every publish, written by the API; never held across an await.
    state: RwLock<State>,
    // Serializes API writes so "check, then insert" is atomic against other writes.
    writes: tokio::sync::Mutex<()>,
}

fn key(domain: &str, app: &str, stream: &str) -> Key {
    (domain.to_string(), app.to_string(), stream.to_string())
}

type TemplateEntry = (Arc<Template>, Source, i64, i64);

/// The templates and rules made through the API, as the database has them.
async fn read_api(db: &Db) -> anyhow::Result<(Vec<(i64, TemplateEntry)>, Vec<(Key, (Rule, Source))>)> {
    let rows = sqlx::query("SELECT template_id, body, created_at_unix, updated_at_unix FROM record_template")
        .fetch_all(db.pool())
        .await?;
    let mut templates = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let mut t: Template = serde_json::from_str(&r.try_get::<String, _>(1)?)?;
        t.template_id = id;
        templates.push((id, (Arc::new(t), Source::Api, r.try_get(2)?, r.try_get(3)?)));
    }
    let rows = sqlx::query(
        "SELECT domain, app, stream, template_id, created_at_unix, updated_at_unix FROM record_rule",
    )
    .fetch_all(db.pool())
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for r in rows {
        let rule = Rule {
            domain: r.try_get(0)?,
            app: r.try_get(1)?,
            stream: r.try_get(2)?,
            template_id: r.try_get(3)?,
            created_at: r.try_get(4)?,
            updated_at: r.try_get(5)?,
        };
        rules.push((key(&rule.domain, &rule.app, &rule.stream), (rule, Source::Api)));
    }
    Ok((templates, rules))
}

/// Checks a rule's triple.
pub fn validate_rule_key(domain: &str, app: &str, stream: &str) -> Result<()> {
    if domain != ANY_DOMAIN {
        check_domain(domain)?;
    }
    for (what, v) in [("app", app), ("stream", stream)] {
        if !v.is_empty() {
            check_name(what, v).map_err(|m| Error::new(ErrorCode::InvalidParameter, m))?;
        }
    }
    Ok(())
}

impl Catalog {
    /// Loads config templates/rules and the database's.
    pub async fn load(
        db: Db,
        limits: Limits,
        cfg_templates: &[Template],
        cfg_rules: &[Rule],
    ) -> anyhow::Result<Self> {
        let mut s = State::default();
        s.templates.insert(0, (Arc::new(Template::builtin()), Source::Builtin, 0, 0));
        for t in cfg_templates {
            anyhow::ensure!(
                t.template_id > 0,
                "record_templates: template_id must be 1 or more ({:?})",
                t.name
            );
            t.validate().map_err(|e| anyhow::anyhow!("record_templates {}: {}", t.template_id, e.message))?;
            anyhow::ensure!(
                s.templates.insert(t.template_id, (Arc::new(t.clone()), Source::Config, 0, 0)).is_none(),
                "record_templates: template_id {} appears twice",
                t.template_id
            );
        }
        for r in cfg_rules {
            validate_rule_key(&r.domain, &r.app, &r.stream)
                .map_err(|e| anyhow::anyhow!("record_rules: {}", e.message))?;
            anyhow::ensure!(
                s.templates.contains_key(&r.template_id),
                "record_rules: template_id {} is not defined",
                r.template_id
            );
            anyhow::ensure!(
                s.rules.insert(key(&r.domain, &r.app, &r.stream), (r.clone(), Source::Config)).is_none(),
                "record_rules: two rules for {}/{}/{}",
                r.domain,
                r.app,
                r.stream
            );
        }
        let (templates, rules) = read_api(&db).await?;
        for (id, entry) in templates {
            anyhow::ensure!(
                !s.templates.contains_key(&id),
                "template {id} is defined both in the config file and through the API; renumber the config file's"
            );
            s.templates.insert(id, entry);
        }
        s.rules.extend(rules);
        Ok(Catalog { db, limits, state: RwLock::new(s), writes: tokio::sync::Mutex::new(()) })
    }

    /// Reads the API's templates and rules again (another node changed them): the
    /// config file's stay as they are.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let _w = self.writes.lock().await;
        let (templates, rules) = read_api(&self.db).await?;
        let mut s = self.write();
        s.templates.retain(|_, e| e.1 != Source::Api);
        s.rules.retain(|_, e| e.1 != Source::Api);
        for (id, entry) in templates {
            if s.templates.contains_key(&id) {
                tracing::warn!(
                    template_id = id,
                    "template defined both in the config file and through the API; the config file's is used"
                );
                continue;
            }
            s.templates.insert(id, entry);
        }
        for (k, entry) in rules {
            s.rules.entry(k).or_insert(entry);
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The rule that wins for a stream (R-R2: domain+app+stream, domain+stream,
    /// domain+app, domain; then the `*` domain in the same order) and its template.
    pub fn match_stream(&self, id: &StreamId) -> Option<(Rule, Arc<Template>)> {
        let s = self.read();
        let (d, a, st) = (id.domain.as_str(), id.app.as_str(), id.stream.as_str());
        for dom in [d, ANY_DOMAIN] {
            for k in [key(dom, a, st), key(dom, "", st), key(dom, a, ""), key(dom, "", "")] {
                if let Some((rule, _)) = s.rules.get(&k)
                    && let Some((t, ..)) = s.templates.get(&rule.template_id)
                {
                    return Some((rule.clone(), t.clone()));
                }
            }
        }
        None
    }

    /// One template.
    pub fn template(&self, id: i64) -> Option<Arc<Template>> {
        self.read().templates.get(&id).map(|(t, ..)| t.clone())
    }

    /// Every template with its source and times, by id.
    pub fn templates(&self) -> Vec<(Arc<Template>, Source, i64, i64)> {
        self.read().templates.values().cloned().collect()
    }

    /// Every rule with its source, sorted by (domain, app, stream).
    pub fn rules(&self) -> Vec<(Rule, Source)> {
        let mut v: Vec<_> = self.read().rules.values().cloned().collect();
        v.sort_by(|a, b| (&a.0.domain, &a.0.app, &a.0.stream).cmp(&(&b.0.domain, &b.0.app, &b.0.stream)));
        v
    }

    fn editable(&self, id: i64) -> Result<()> {
        match self.read().templates.get(&id) {
            None => Err(Error::new(ErrorCode::TemplateNotFound, format!("template {id} does not exist"))),
            Some((_, Source::Builtin, ..)) => Err(Error::new(
                ErrorCode::BuiltinTemplate,
                "template 0 is built in and cannot be changed or deleted",
            )),
            Some((_, Source::Config, ..)) => Err(Error::new(
                ErrorCode::BuiltinTemplate,
                format!("template {id} is defined in the configuration file; change it there"),
            )),
            Some((_, Source::Api, ..)) => Ok(()),
        }
    }

    /// Creates a template (its id is assigned here).
    pub async fn create_template(&self, mut t: Template, now: i64) -> Result<Template> {
        let _w = self.writes.lock().await;
        let id = {
            let s = self.read();
            if s.templates.len() > self.limits.max_templates {
                return Err(Error::new(
                    ErrorCode::ConfOutLimit,
                    format!("at most {} templates (recording.max_templates)", self.limits.max_templates),
                ));
            }
            s.templates.keys().max().copied().unwrap_or(0)
        };
        // Another node may have made one this node has not reloaded yet.
        let stored: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(template_id), 0) FROM record_template")
            .fetch_one(self.db.pool())
            .await?;
        let id = id.max(stored) + 1;
        t.template_id = id;
        t.validate()?;
        sqlx::query("INSERT INTO record_template (template_id, body, created_at_unix, updated_at_unix) VALUES ($1, $2, $3, $3)")
            .bind(id)
            .bind(serde_json::to_string(&t).map_err(Error::internal)?)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        self.write().templates.insert(id, (Arc::new(t.clone()), Source::Api, now, now));
        crate::config_sync::changed(&self.db).await;
        Ok(t)
    }

    /// Applies a partial JSON change to an API template.
    pub async fn modify_template(&self, id: i64, patch: serde_json::Value, now: i64) -> Result<Template> {
        let _w = self.writes.lock().await;
        self.editable(id)?;
        let current = self.template(id).ok_or_else(|| Error::new(ErrorCode::TemplateNotFound, "gone"))?;
        let mut v = serde_json::to_value(&*current).map_err(Error::internal)?;
        merge(&mut v, patch);
        let mut t: Template =
            serde_json::from_value(v).map_err(|e| Error::new(ErrorCode::InvalidBody, e.to_string()))?;
        t.template_id = id;
        t.validate()?;
        sqlx::query("UPDATE record_template SET body = $1, updated_at_unix = $2 WHERE template_id = $3")
            .bind(serde_json::to_string(&t).map_err(Error::internal)?)
            .bind(now)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        if let Some(e) = self.write().templates.get_mut(&id) {
            e.0 = Arc::new(t.clone());
            e.3 = now;
        }
        crate::config_sync::changed(&self.db).await;
        Ok(t)
    }

    /// Deletes an API template that no rule uses.
    pub async fn delete_template(&self, id: i64) -> Result<()> {
        let _w = self.writes.lock().await;
        self.editable(id)?;
        if let Some((r, _)) = self.read().rules.values().find(|(r, _)| r.template_id == id) {
            return Err(Error::new(
                ErrorCode::ConfInUsed,
                format!(
                    "template {id} is bound to the rule {}/{}/{}; delete the rule first",
                    r.domain, r.app, r.stream
                ),
            ));
        }
        sqlx::query("DELETE FROM record_template WHERE template_id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        self.write().templates.remove(&id);
        crate::config_sync::changed(&self.db).await;
        Ok(())
    }

    /// Creates a rule.
    pub async fn create_rule(&self, mut r: Rule, now: i64) -> Result<Rule> {
        let _w = self.writes.lock().await;
        validate_rule_key(&r.domain, &r.app, &r.stream)?;
        {
            let s = self.read();
            if !s.templates.contains_key(&r.template_id) {
                return Err(Error::new(
                    ErrorCode::ConfNotFound,
                    format!("template {} does not exist", r.template_id),
                ));
            }
            if s.rules.contains_key(&key(&r.domain, &r.app, &r.stream)) {
                return Err(Error::new(
                    ErrorCode::RuleAlreadyExist,
                    format!(
                        "a rule for domain {:?}, app {:?}, stream {:?} already exists",
                        r.domain, r.app, r.stream
                    ),
                ));
            }
            if s.rules.len() >= self.limits.max_rules {
                return Err(Error::new(
                    ErrorCode::ConfOutLimit,
                    format!("at most {} rules (recording.max_rules)", self.limits.max_rules),
                ));
            }
        }
        r.created_at = now;
        r.updated_at = now;
        sqlx::query(
            "INSERT INTO record_rule (domain, app, stream, template_id, created_at_unix, updated_at_unix) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&r.domain)
        .bind(&r.app)
        .bind(&r.stream)
        .bind(r.template_id)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        self.write().rules.insert(key(&r.domain, &r.app, &r.stream), (r.clone(), Source::Api));
        crate::config_sync::changed(&self.db).await;
        Ok(r)
    }

    /// Deletes the rule of exactly this triple.
    pub async fn delete_rule(&self, domain: &str, app: &str, stream: &str) -> Result<()> {
        let _w = self.writes.lock().await;
        let k = key(domain, app, stream);
        match self.read().rules.get(&k) {
            None => {
                return Err(Error::new(
                    ErrorCode::RuleNotFound,
                    format!("no rule for domain {domain:?}, app {app:?}, stream {stream:?}"),
                ));
            }
            Some((_, Source::Config)) => {
                return Err(Error::new(
                    ErrorCode::BuiltinTemplate,
                    "this rule is defined in the configuration file",
                ));
            }
            _ => {}
        }
        sqlx::query("DELETE FROM record_rule WHERE domain = $1 AND app = $2 AND stream = $3")
            .bind(domain)
            .bind(app)
            .bind(stream)
            .execute(self.db.pool())
            .await?;
        self.write().rules.remove(&k);
        crate::config_sync::changed(&self.db).await;
        Ok(())
    }
}

/// JSON merge patch (RFC 7386, without null-deletes: null fields are ignored).
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    continue;
                }
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn catalog(rules: &[(&str, &str, &str, i64)]) -> (Catalog, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display())).await.unwrap();
        let templates: Vec<Template> = (1..=5)
            .map(|i| Template { template_id: i, name: format!("t{i}"), ..Template::default() })
            .collect();
        let cfg_rules: Vec<Rule> = rules
            .iter()
            .map(|(d, a, s, t)| Rule {
                domain: d.to_string(),
                app: a.to_string(),
                stream: s.to_string(),
                template_id: *t,
                created_at: 0,
                updated_at: 0,
            })
            .collect();
        let c = Catalog::load(db, Limits { max_templates: 50, max_rules: 50 }, &templates, &cfg_rules)
            .await
            .unwrap();
        (c, dir)
    }

    fn won(c: &Catalog, d: &str, a: &str, s: &str) -> Option<i64> {
        c.match_stream(&StreamId::new(d, a, s).unwrap()).map(|(r, _)| r.template_id)
    }

    #[tokio::test]
    async fn priority_table() {
        let (c, _d) = catalog(&[
            ("d", "live", "cam", 1),
            ("d", "", "cam", 2),
            ("d", "live", "", 3),
            ("d", "", "", 4),
            ("*", "", "", 5),
        ])
        .await;
        assert_eq!(won(&c, "d", "live", "cam"), Some(1), "domain+app+stream");
        assert_eq!(won(&c, "d", "other", "cam"), Some(2), "domain+stream");
        assert_eq!(won(&c, "d", "live", "x"), Some(3), "domain+app");
        assert_eq!(won(&c, "d", "other", "x"), Some(4), "domain");
        assert_eq!(won(&c, "e", "live", "cam"), Some(5), "any domain");
        let (c, _d) = catalog(&[("d", "", "", 4)]).await;
        assert_eq!(won(&c, "e", "live", "cam"), None);
    }

    #[tokio::test]
    async fn api_writes_persist_and_obey_limits() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = Db::open(&url).await.unwrap();
        let c = Catalog::load(db.clone(), Limits { max_templates: 2, max_rules: 1 }, &[], &[]).await.unwrap();
        let t = c.create_template(Template { name: "a".into(), ..Template::default() }, 10).await.unwrap();
        assert_eq!(t.template_id, 1);
        c.create_template(Template { name: "b".into(), ..Template::default() }, 10).await.unwrap();
        let e =
            c.create_template(Template { name: "c".into(), ..Template::default() }, 10).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfOutLimit);
        let rule = |t| Rule {
            domain: "d".into(),
            app: String::new(),
            stream: String::new(),
            template_id: t,
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(c.create_rule(rule(9), 10).await.unwrap_err().code, ErrorCode::ConfNotFound);
        c.create_rule(rule(1), 10).await.unwrap();
        assert_eq!(c.create_rule(rule(2), 10).await.unwrap_err().code, ErrorCode::RuleAlreadyExist);
        assert_eq!(c.delete_template(1).await.unwrap_err().code, ErrorCode::ConfInUsed);
        assert_eq!(c.delete_template(0).await.unwrap_err().code, ErrorCode::BuiltinTemplate);
        let reloaded = Catalog::load(db, Limits { max_templates: 2, max_rules: 1 }, &[], &[]).await.unwrap();
        assert_eq!(reloaded.templates().len(), 3);
        assert_eq!(won(&reloaded, "d", "a", "s"), Some(1));
        reloaded.delete_rule("d", "", "").await.unwrap();
        assert_eq!(reloaded.delete_rule("d", "", "").await.unwrap_err().code, ErrorCode::RuleNotFound);
        reloaded.delete_template(1).await.unwrap();
    }
}
