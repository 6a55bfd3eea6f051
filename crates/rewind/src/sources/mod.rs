//! RTSP sources (issue 18): cameras rewind pulls for as long as they are enabled, each
//! published as a stream like a push. Declared in the file (`[[sources]]`, read-only)
//! or through `/v1/sources` (stored in the database). `Sources` keeps one puller task
//! per enabled source and brings the running set in line with the declarations
//! (`reconcile`) after every change — here through the API, on other nodes through
//! `config_sync`.

pub mod backoff;
pub mod puller;
pub mod spec;
pub mod status;
pub mod store;

use crate::db::Db;
use crate::error::{Error, ErrorCode, Result};
use crate::server::Services;
use serde::Serialize;
use spec::{Source, SourceSpec};
use status::{Phase, State, Status};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Where a source is declared.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `[[sources]]` in the file (changed only there).
    Config,
    /// `/v1/sources`.
    Api,
}

struct Entry {
    source: Source,
    origin: Origin,
    status: Arc<Status>,
    stop: CancellationToken,
}

/// Every declared source and its puller.
pub struct Sources {
    db: Db,
    default_domain: String,
    from_config: Vec<Source>,
    // std Mutex: held only to read or swap entries, never across an await.
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Serializes reconciliations (API calls and config polls may race).
    reconciling: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sources({} from the file)", self.from_config.len())
    }
}

/// A source as the API shows it: its declaration (password masked) and its status.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SourceView {
    source_id: String,
    url: String,
    domain: String,
    app: String,
    stream: String,
    transport: spec::Transport,
    enable: bool,
    rtp_timeout_secs: u64,
    origin: Origin,
    state: State,
    last_error: Option<String>,
    retries: u64,
    connected_at: Option<String>,
    node: Option<String>,
    note: Option<String>,
}

impl SourceView {
    /// The source's id.
    pub fn source_id(&self) -> &str {
        &self.source_id
    }
}

impl Sources {
    /// Checks the file's sources (ids and streams unique).
    pub fn new(db: Db, cfg: &crate::config::Config) -> anyhow::Result<Sources> {
        let mut from_config: Vec<Source> = Vec::new();
        for s in &cfg.sources {
            let s = Source::check(s, &cfg.default_domain)
                .map_err(|e| anyhow::anyhow!("sources: {}", e.message))?;
            if let Some(o) = from_config.iter().find(|o| o.source_id == s.source_id || o.stream == s.stream) {
                anyhow::bail!("sources: {} and {} are the same source or stream", o.source_id, s.source_id);
            }
            from_config.push(s);
        }
        Ok(Sources {
            db,
            default_domain: cfg.default_domain.clone(),
            from_config,
            entries: Mutex::new(BTreeMap::new()),
            reconciling: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts, restarts and stops pullers so that every enabled declaration (file and
    /// database) has one running with what it declares now.
    pub async fn reconcile(&self, svc: &Arc<Services>) -> Result<()> {
        let _one = self.reconciling.lock().await;
        let mut wanted: BTreeMap<String, (Source, Origin)> =
            self.from_config.iter().map(|s| (s.source_id.clone(), (s.clone(), Origin::Config))).collect();
        for spec in store::list(&self.db).await? {
            match Source::check(&spec, &self.default_domain) {
                Ok(s) => {
                    wanted.entry(s.source_id.clone()).or_insert((s, Origin::Api));
                }
                Err(e) => {
                    tracing::warn!(source_id = ?spec.source_id, error = %e.message, "a stored source does not check: skipped")
                }
            }
        }
        let mut entries = self.lock();
        entries.retain(|id, e| {
            let keep = wanted.get(id).is_some_and(|(s, _)| *s == e.source);
            if !keep {
                e.stop.cancel();
            }
            keep
        });
        for (id, (source, origin)) in wanted {
            if entries.contains_key(&id) {
                continue;
            }
            let status = Arc::new(Status::default());
            let stop = svc.shutdown.child_token();
            if source.enable {
                svc.tasks.spawn(puller::run(svc.clone(), source.clone(), status.clone(), stop.clone()));
            } else {
                status.update(|p| p.state = State::Disabled);
            }
            entries.insert(id, Entry { source, origin, status, stop });
        }
        Ok(())
    }

    /// Every source, by id.
    pub async fn list(&self) -> Result<Vec<SourceView>> {
        let entries: Vec<_> =
            self.lock().values().map(|e| (e.source.clone(), e.origin, e.status.clone())).collect();
        let mut out = Vec::with_capacity(entries.len());
        for (s, o, st) in entries {
            out.push(self.view(&s, o, &st).await?);
        }
        Ok(out)
    }

    /// One source.
    pub async fn get(&self, id: &str) -> Result<SourceView> {
        let (s, o, st) = self.entry(id)?;
        self.view(&s, o, &st).await
    }

    fn entry(&self, id: &str) -> Result<(Source, Origin, Arc<Status>)> {
        self.lock()
            .get(id)
            .map(|e| (e.source.clone(), e.origin, e.status.clone()))
            .ok_or_else(|| Error::new(ErrorCode::SourceNotFound, format!("no source {id}")))
    }

    async fn view(&self, s: &Source, origin: Origin, st: &Status) -> Result<SourceView> {
        use std::sync::atomic::Ordering::Relaxed;
        // Pulled here: this node knows best; else as the pulling node last wrote it.
        let phase = if !s.enable || st.here.load(Relaxed) {
            st.phase()
        } else {
            store::status(&self.db, &s.source_id).await?.unwrap_or_default()
        };
        let Phase { state, last_error, retries, connected_at_unix, note, node } = phase;
        Ok(SourceView {
            source_id: s.source_id.clone(),
            url: s.url.masked(),
            domain: s.stream.domain.clone(),
            app: s.stream.app.clone(),
            stream: s.stream.stream.clone(),
            transport: s.transport,
            enable: s.enable,
            rtp_timeout_secs: s.rtp_timeout_secs,
            origin,
            state: if s.enable { state } else { State::Disabled },
            last_error,
            retries,
            connected_at: connected_at_unix.map(|t| {
                crate::wire_time::rfc3339_ms(rewind_media::Time90k(t * rewind_media::time::TICKS_PER_SECOND))
            }),
            node,
            note,
        })
    }

    /// Declares a source through the API.
    pub async fn create(&self, svc: &Arc<Services>, spec: &SourceSpec) -> Result<SourceView> {
        let s = Source::check(spec, &self.default_domain)?;
        self.check_free(&s, None)?;
        if !store::put(&self.db, &s.spec(), false, svc.clock.now_unix()).await? {
            return Err(exists(&s.source_id));
        }
        self.changed(svc).await?;
        self.get(&s.source_id).await
    }

    /// Changes a source made through the API (a changed URL reconnects).
    pub async fn update(&self, svc: &Arc<Services>, id: &str, spec: &SourceSpec) -> Result<SourceView> {
        if spec.source_id.as_deref().is_some_and(|given| given != id) {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                "source_id in the body differs from the path's",
            ));
        }
        self.api_entry(id)?;
        let mut spec = spec.clone();
        spec.source_id = Some(id.into());
        let s = Source::check(&spec, &self.default_domain)?;
        self.check_free(&s, Some(id))?;
        store::put(&self.db, &s.spec(), true, svc.clock.now_unix()).await?;
        self.changed(svc).await?;
        self.get(id).await
    }

    /// Deletes a source made through the API: its pull stops.
    pub async fn delete(&self, svc: &Arc<Services>, id: &str) -> Result<()> {
        self.api_entry(id)?;
        store::delete(&self.db, id).await?;
        self.changed(svc).await
    }

    fn api_entry(&self, id: &str) -> Result<()> {
        match self.entry(id)?.1 {
            Origin::Api => Ok(()),
            Origin::Config => Err(Error::new(
                ErrorCode::SourceInConfig,
                format!("source {id} is declared in the configuration file: change it there"),
            )),
        }
    }

    /// A new or changed source must not take another one's id or stream.
    fn check_free(&self, s: &Source, except: Option<&str>) -> Result<()> {
        let entries = self.lock();
        for (id, e) in entries.iter().filter(|(id, _)| Some(id.as_str()) != except) {
            if *id == s.source_id {
                return Err(exists(id));
            }
            if e.source.stream == s.stream {
                return Err(Error::new(
                    ErrorCode::SourceExists,
                    format!("stream {} is already pulled by source {id}", s.stream),
                ));
            }
        }
        Ok(())
    }

    async fn changed(&self, svc: &Arc<Services>) -> Result<()> {
        crate::config_sync::changed(&self.db).await;
        self.reconcile(svc).await
    }

    /// Appends the per-source metrics.
    pub fn render_metrics(&self, text: &mut String) {
        let entries: Vec<(String, Arc<Status>)> =
            self.lock().iter().map(|(id, e)| (id.clone(), e.status.clone())).collect();
        status::render_metrics(text, entries.iter().map(|(id, s)| (id.as_str(), &**s)));
    }
}

fn exists(id: &str) -> Error {
    Error::new(ErrorCode::SourceExists, format!("source {id} already exists"))
}
