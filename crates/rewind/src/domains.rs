//! Domain settings: push authentication keys and callback targets.
//!
//! Two sources: the config file (read-only) and the API (stored in the database). An
//! API entry overrides the file's entry of the same name; deleting it brings the file's
//! back. Lookups on the publish path hit an in-memory copy, never the database.

use crate::config::{Callback, Config, PushAuth};
use crate::db::Db;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// What a domain is configured with.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DomainSettings {
    /// Push authentication; `None` accepts every push.
    #[serde(default)]
    pub push_auth: Option<PushAuth>,
    /// Callback target; `None` sends no callbacks (unless a global one is configured).
    #[serde(default)]
    pub callback: Option<Callback>,
}

/// Where a domain's settings come from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configuration file.
    Config,
    /// The HTTP API.
    Api,
}

/// All domains' settings.
#[derive(Debug)]
pub struct Domains {
    db: Db,
    from_config: BTreeMap<String, DomainSettings>,
    // std RwLock: held only to copy or replace an entry, never across an await.
    from_api: RwLock<BTreeMap<String, DomainSettings>>,
}

fn opt(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// The domains' settings made through the API, as the database has them.
async fn read_api(db: &Db) -> Result<BTreeMap<String, DomainSettings>> {
    let rows =
        sqlx::query("SELECT name, push_primary_key, push_backup_key, callback_url, callback_key FROM domain")
            .fetch_all(db.pool())
            .await?;
    let mut from_api = BTreeMap::new();
    for r in rows {
        let push_auth = opt(r.try_get(1)?).map(|primary_key| PushAuth {
            primary_key,
            backup_key: opt(r.try_get(2).ok().flatten()).unwrap_or_default(),
        });
        let callback = opt(r.try_get(3)?)
            .map(|url| Callback { url, key: opt(r.try_get(4).ok().flatten()).unwrap_or_default() });
        from_api.insert(r.try_get::<String, _>(0)?, DomainSettings { push_auth, callback });
    }
    Ok(from_api)
}

impl Domains {
    /// Loads the file's domains and the database's.
    pub async fn load(db: Db, cfg: &Config) -> Result<Self> {
        let from_config = cfg
            .domains
            .iter()
            .map(|d| {
                (
                    d.name.clone(),
                    DomainSettings { push_auth: d.push_auth.clone(), callback: d.callback.clone() },
                )
            })
            .collect();
        let from_api = read_api(&db).await?;
        Ok(Domains { db, from_config, from_api: RwLock::new(from_api) })
    }

    /// Reads the API's settings again (another node changed them).
    pub async fn reload(&self) -> Result<()> {
        let fresh = read_api(&self.db).await?;
        *self.from_api.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The settings in force for `name`, if any.
    pub fn get(&self, name: &str) -> Option<(DomainSettings, Source)> {
        let api = self.from_api.read().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = api.get(name) {
            return Some((s.clone(), Source::Api));
        }
        self.from_config.get(name).map(|s| (s.clone(), Source::Config))
    }

    /// Every domain with settings, by name.
    pub fn list(&self) -> Vec<(String, DomainSettings, Source)> {
        let api = self.from_api.read().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<String, (DomainSettings, Source)> =
            self.from_config.iter().map(|(k, v)| (k.clone(), (v.clone(), Source::Config))).collect();
        for (k, v) in api.iter() {
            out.insert(k.clone(), (v.clone(), Source::Api));
        }
        out.into_iter().map(|(k, (v, s))| (k, v, s)).collect()
    }

    /// Stores API settings for `name` (database first, then memory).
    pub async fn put(&self, name: &str, s: DomainSettings, now_unix: i64) -> Result<()> {
        let (pk, bk) = match &s.push_auth {
            Some(a) => (Some(a.primary_key.clone()), Some(a.backup_key.clone())),
            None => (None, None),
        };
        let (cu, ck) = match &s.callback {
            Some(c) => (Some(c.url.clone()), Some(c.key.clone())),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO domain (name, push_primary_key, push_backup_key, callback_url, callback_key, updated_at_unix)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET push_primary_key = excluded.push_primary_key,
               push_backup_key = excluded.push_backup_key, callback_url = excluded.callback_url,
               callback_key = excluded.callback_key, updated_at_unix = excluded.updated_at_unix",
        )
        .bind(name)
        .bind(pk)
        .bind(bk)
        .bind(cu)
        .bind(ck)
        .bind(now_unix)
        .execute(self.db.pool())
        .await?;
        self.from_api.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), s);
        crate::config_sync::changed(&self.db).await;
        Ok(())
    }

    /// Removes API settings for `name`; false if there were none.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM domain WHERE name = $1").bind(name).execute(self.db.pool()).await?;
        self.from_api.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        crate::config_sync::changed(&self.db).await;
        Ok(n.rows_affected() > 0)
    }
}
