//! Wiring: builds the shared services, binds the listeners, runs until shutdown.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::domains::Domains;
use crate::metrics::Metrics;
use crate::recording::catalog::{Catalog, Limits};
use crate::registry::Registry;
use crate::{api, ingest};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a session or request handler may need, shared by `Arc`.
#[derive(Debug)]
pub struct Services {
    /// Configuration in force (fixed at start).
    pub config: Config,
    /// The clock.
    pub clock: SharedClock,
    /// The database.
    pub db: Db,
    /// Metrics.
    pub metrics: Metrics,
    /// Live and known streams.
    pub registry: Registry,
    /// Domain settings.
    pub domains: Domains,
    /// Record templates and rules.
    pub catalog: Catalog,
    /// Record tasks: the actor that starts and stops them.
    pub record_tasks: crate::tasks::runner::TaskRunner,
    /// Unsealed ends of the timelines being recorded.
    pub timelines: crate::timeline::live::LiveTimelines,
    /// Auto-splice HLS recordings waiting for a re-push.
    pub splices: crate::recording::splice::Splices,
    /// Wakes the callback sender.
    pub callbacks: crate::callbacks::Outbox,
    /// Callback templates and rules: where each kind of event goes.
    pub callback_targets: crate::callbacks::targets::CallbackTargets,
    /// Streams whose publish is refused until a resume time.
    pub forbids: crate::stream_forbids::StreamForbids,
    /// Every publish, started and ended.
    pub publishes: crate::publish_history::PublishHistory,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Background work (recorders) that shutdown waits for.
    pub tasks: TaskTracker,
    /// Connection slots of the RTMP listener.
    pub rtmp_slots: Arc<crate::conn_slots::ConnSlots>,
    /// Connection slots of the HTTP listener.
    pub http_slots: Arc<crate::conn_slots::ConnSlots>,
    /// Rate limit for log lines a peer can cause at will.
    pub noisy_logs: crate::log_throttle::LogThrottle,
    /// Disk space kept for the database, released when the disk fills.
    pub disk_reserve: crate::disk_reserve::DiskReserve,
    /// Where finished bytes are kept: the local folder or a bucket (with the upload queue).
    pub storage: Arc<crate::storage::Storage>,
    /// This server among the nodes on its database.
    pub node: crate::nodes::Identity,
    /// The stream leases this process holds (what its heartbeat renews).
    pub leases: crate::leases::Book,
    /// Whether another node was up at the last heartbeat: alone, nothing is ever asked
    /// of the cluster on a request's path.
    pub peers_up: std::sync::atomic::AtomicBool,
    /// RTSP cameras pulled as streams.
    pub sources: crate::sources::Sources,
}

impl Services {
    /// Root folder of recording files being written (and of finished ones not uploaded).
    pub fn media_root(&self) -> std::path::PathBuf {
        self.storage.root().join(crate::storage::keys::MEDIA)
    }
}

impl std::fmt::Debug for dyn crate::clock::Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({:?})", self.now())
    }
}

/// A started server.
pub struct Server {
    /// The services, for in-process tests.
    pub services: Arc<Services>,
    /// Where RTMP listens.
    pub rtmp_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    tracker: TaskTracker,
    http: tokio::task::JoinHandle<()>,
    _data_dir_lock: crate::data_dir_lock::DataDirLock,
}

/// Opens the database, binds both listeners and starts serving.
pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
    // Before anything reads the folder: recovery must never run beside a live server.
    let data_dir_lock = crate::data_dir_lock::DataDirLock::acquire(&config.data_dir)?;
    let nofile = crate::fd_limit::raise();
    let (rtmp_max, http_max, lowered) =
        crate::fd_limit::split(nofile, config.rtmp.max_connections, config.http.max_connections);
    if lowered {
        tracing::warn!(
            nofile,
            rtmp_max_connections = rtmp_max,
            http_max_connections = http_max,
            "the open-file limit is too low for rtmp.max_connections + http.max_connections: both lowered to fit (raise the limit, e.g. LimitNOFILE in systemd)"
        );
    }
    let storage = Arc::new(crate::storage::Storage::open(&config.data_dir, &config.storage)?);
    let db = Db::open(&config.database_url()).await.context("opening the database")?;
    let domains = Domains::load(db.clone(), &config).await?;
    let limits =
        Limits { max_templates: config.recording.max_templates, max_rules: config.recording.max_rules };
    let catalog = Catalog::load(db.clone(), limits, &config.record_templates, &config.record_rules).await?;
    let rtmp = TcpListener::bind(&config.rtmp_addr)
        .await
        .with_context(|| format!("binding RTMP on {}", config.rtmp_addr))?;
    let http = TcpListener::bind(&config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    let node = crate::nodes::Identity::resolve(&config.node, http.local_addr()?);
    let sources = crate::sources::Sources::new(db.clone(), &config)?;
    let callback_targets = crate::callbacks::targets::CallbackTargets::load(db.clone()).await?;
    let services = Arc::new(Services {
        node,
        leases: Default::default(),
        peers_up: Default::default(),
        registry: Registry::new(db.clone()),
        metrics: Metrics::default(),
        timelines: Default::default(),
        record_tasks: Default::default(),
        callbacks: Default::default(),
        callback_targets,
        forbids: crate::stream_forbids::StreamForbids::new(db.clone()),
        publishes: crate::publish_history::PublishHistory::new(db.clone()),
        splices: Default::default(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
        rtmp_slots: crate::conn_slots::ConnSlots::new(rtmp_max),
        http_slots: crate::conn_slots::ConnSlots::new(http_max),
        noisy_logs: crate::log_throttle::LogThrottle::new(Duration::from_secs(10), 5),
        disk_reserve: crate::disk_reserve::DiskReserve::new(
            &config.data_dir,
            config.retention.disk_reserve_bytes,
        ),
        storage,
        clock,
        db,
        domains,
        catalog,
        sources,
        config,
    });
    if let Err(e) = services.disk_reserve.ensure() {
        tracing::warn!(error = %e, "could not make the disk reserve (reserve.bin)");
    }
    // Interrupted recordings are finished before new ones start.
    match crate::recording::recovery::recover_all(&services).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(files = n, "finished recordings interrupted by a crash"),
        Err(e) => tracing::error!(error = %e, "crash recovery of recordings failed"),
    }
    match crate::timeline::recovery::run(&services).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(chunks = n, "re-indexed timeline chunks interrupted by a crash"),
        Err(e) => tracing::error!(error = %e, "crash recovery of the timeline failed"),
    }
    let clash = crate::nodes::announce(
        &services.db,
        &services.node.name,
        &services.node.advertise_url,
        services.clock.now_unix(),
    )
    .await
    .context("announcing this node")?;
    if let Some(other) = clash {
        tracing::warn!(node = %services.node.name, other = %other.advertise_url, "another node with this name was up a moment ago: give each node its own [node] name");
    }
    crate::storage::uploads::abort_leftovers(&services.storage).await;
    queue_spool(&services).await;
    let rtmp_addr = rtmp.local_addr()?;
    let http_addr = http.local_addr()?;
    let tracker = TaskTracker::new();
    tracker.spawn(ingest::rtmp_server::serve(services.clone(), rtmp, tracker.clone()));
    tracker.spawn(crate::timeline::retention::run(services.clone()));
    tracker.spawn(crate::tasks::runner::run(services.clone()));
    tracker.spawn(crate::library::retention::run(services.clone()));
    tracker.spawn(crate::callbacks::sender::run(services.clone()));
    tracker.spawn(crate::nodes::run(services.clone()));
    tracker.spawn(crate::config_sync::run(services.clone()));
    tracker.spawn(crate::storage::audit::run(services.clone()));
    if let Err(e) = services.sources.reconcile(&services).await {
        tracing::error!(error = %e, "could not start the RTSP sources; started at the next configuration change");
    }
    let svc = services.clone();
    tracker.spawn(crate::storage::uploads::run(
        services.storage.clone(),
        services.shutdown.clone(),
        move |key, bytes| crate::timeline::retention::drop_unuploaded(svc.clone(), key, bytes),
    ));
    let listener = api::http_server::HttpListener {
        listener: http,
        router: api::router(services.clone()),
        slots: services.http_slots.clone(),
        header_read_timeout: Duration::from_secs(services.config.http.header_read_timeout_secs),
        body_read_timeout: Duration::from_secs(services.config.http.body_read_timeout_secs),
        shutdown: services.shutdown.clone(),
    };
    let grace = Duration::from_secs(services.config.rtmp.shutdown_grace_secs);
    let http = tokio::spawn(api::http_server::serve(listener, grace));
    warn_if_open(&services.config, http_addr);
    tracing::info!(rtmp = %rtmp_addr, http = %http_addr, data_dir = %services.config.data_dir.display(), "rewind ready");
    Ok(Server { services, rtmp_addr, http_addr, tracker, http, _data_dir_lock: data_dir_lock })
}

/// At start-up, with a bucket: every finished file still in the spool (uploads a stop or
/// a crash cut short) is queued again. Files being written are hidden and left alone;
/// a file the index does not name yet (a recording that recovery parked) waits for it.
async fn queue_spool(svc: &Services) {
    use crate::storage::keys;
    let s = &svc.storage;
    if !s.is_remote() {
        return;
    }
    let mut queued = 0usize;
    for (key, len) in crate::storage::spool::files_under(s.root(), s.root()).await {
        let known = if key.is_chunk() {
            crate::timeline::index::is_sealed_chunk(&svc.db, &key).await.map_err(anyhow::Error::from)
        } else {
            match keys::media_rel_path(&key) {
                Some(rel) => {
                    crate::library::media::has_file_at(&svc.db, &rel).await.map_err(anyhow::Error::from)
                }
                None => Ok(false),
            }
        };
        match known {
            Ok(true) => {
                s.uploads.push(key, len);
                queued += 1;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(%key, error = %e, "could not tell whether a spooled file is final"),
        }
    }
    if queued > 0 {
        tracing::info!(
            files = queued,
            bytes = s.uploads.spool_bytes(),
            "uploading what the spool still holds"
        );
    }
}

/// An API anyone on the network can use is worth a line at every start.
fn warn_if_open(config: &Config, http: SocketAddr) {
    if config.api_key.is_empty() && !http.ip().is_loopback() {
        tracing::warn!(
            %http,
            "the API is open: no api_key is set and HTTP listens beyond this machine; anyone who can reach it can change settings and delete recordings (set api_key, or http_addr = \"127.0.0.1:8080\"; see docs/configuration.md)"
        );
    }
}

impl Server {
    /// Stops accepting, closes publishers (their hubs flush to readers), waits up to
    /// `rtmp.shutdown_grace_secs` for sessions, and closes the database.
    pub async fn shutdown(self) {
        self.services.shutdown.cancel();
        self.tracker.close();
        let grace = Duration::from_secs(self.services.config.rtmp.shutdown_grace_secs);
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("some sessions did not finish within the shutdown grace period");
        }
        // Publishers are closed, so recorders see their hubs end and finish their files.
        self.services.tasks.close();
        if tokio::time::timeout(grace * 2, self.services.tasks.wait()).await.is_err() {
            tracing::warn!("some recordings did not finish within the shutdown grace period");
        }
        let _ = tokio::time::timeout(grace * 2, self.http).await;
        self.services.db.close().await;
        tracing::info!("rewind stopped");
    }
}
