//! Configuration: embedded defaults, then a TOML file, then `REWIND_*` environment
//! variables, then command-line flags — each later source overrides the earlier.
//! Every key is documented in docs/configuration.md; `rewind config` prints them.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder for the database and media (created if missing).
    pub data_dir: PathBuf,
    /// RTMP listen address.
    pub rtmp_addr: String,
    /// HTTP listen address (API, playback, metrics).
    pub http_addr: String,
    /// Database URL; empty means `sqlite://{data_dir}/rewind.db`.
    pub database_url: String,
    /// Domain used when a push's tcUrl host is an IP literal or `localhost`.
    pub default_domain: String,
    /// Log filter (`info`, `rewind=debug`, …), as `RUST_LOG`.
    pub log: String,
    /// When set, `/v1/…` requests must carry `Authorization: Bearer KEY` or `X-Api-Key: KEY`.
    pub api_key: String,
    /// RTMP ingest limits and timeouts.
    pub rtmp: RtmpConfig,
    /// HTTP connection limits and timeouts.
    pub http: HttpConfig,
    /// Per-stream fan-out settings.
    pub hub: HubConfig,
    /// Domains declared in the file (the API may add more, and overrides these).
    pub domains: Vec<DomainConfig>,
    /// Recording limits and switches.
    pub recording: RecordingConfig,
    /// Timeline archiving for every stream (templates can also turn it on per rule).
    pub timeline: TimelineConfig,
    /// The media library's disk budget.
    pub retention: RetentionConfig,
    /// Where recordings and the timeline keep their bytes: the local folder or an S3 bucket.
    pub storage: StorageConfig,
    /// This server's name and address among the nodes on one database.
    pub node: NodeConfig,
    /// Record and status callbacks: the global target and delivery policy.
    pub callbacks: CallbacksConfig,
    /// The Tencent-action-compatible API's credentials (none: that API is off).
    pub tencent_api: TencentApiConfig,
    /// Templates declared in the file (read-only; each needs a `template_id` ≥ 1).
    pub record_templates: Vec<crate::recording::template::Template>,
    /// Rules declared in the file (read-only); `domain = "*"` matches every domain.
    pub record_rules: Vec<crate::recording::catalog::Rule>,
    /// RTSP cameras declared in the file (read-only; the API may add more).
    pub sources: Vec<crate::sources::spec::SourceSpec>,
}

/// Callbacks (R-M3): where events go when a domain names no target of its own, and how
/// hard delivery tries. The defaults try 15 times over about 50 minutes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Global callback URL for domains without their own (empty: none).
    pub url: String,
    /// Signing key of the global URL (`sign = MD5(key + t)`).
    pub key: String,
    /// `appid` field of every event (the cloud account id it stands in for).
    pub appid: i64,
    /// Base of `video_url` in record events, e.g. `https://rec.example.com` (empty: the
    /// HTTP listen address).
    pub public_url: String,
    /// Tries before an event is given up and listed under `/v1/callbacks/failed`.
    pub max_attempts: u32,
    /// Wait after the first failure, milliseconds; each later wait doubles.
    pub first_retry_ms: u64,
    /// Longest wait between two tries, milliseconds.
    pub max_retry_ms: u64,
    /// A try with no answer within this many milliseconds failed.
    pub timeout_ms: u64,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            url: String::new(),
            key: String::new(),
            appid: 0,
            public_url: String::new(),
            max_attempts: 15,
            first_retry_ms: 10_000,
            max_retry_ms: 300_000,
            timeout_ms: 20_000,
            concurrency: 8,
        }
    }
}

/// The media library's disk budget (B-M5). Files also expire by their template's
/// `storage_time`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Most bytes the library may hold; past it the oldest files are deleted (0: none).
    pub disk_budget_bytes: u64,
    /// Or: most percent of the data volume's size (0: none). Bytes win when both are set.
    pub disk_budget_percent: f64,
    /// Bytes kept free for the database in `{data_dir}/reserve.bin`, released when the
    /// disk fills so what was recorded still enters the library and deletes still work.
    pub disk_reserve_bytes: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { disk_budget_bytes: 0, disk_budget_percent: 0.0, disk_reserve_bytes: 32 << 20 }
    }
}

/// Timeline settings (SPEC §8).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TimelineConfig {
    /// Archive every stream into its timeline, whatever its rule's template says (on by
    /// default: a first run records every push, with the retention and space guard below).
    pub record_all: bool,
    /// Seconds of media per chunk for `record_all` streams (30–300, steps of 30).
    pub segment_length: u32,
    /// Seconds of timeline kept for `record_all` streams; 0 = forever.
    pub retention: u64,
    /// Free space kept on the data volume: below the smaller of this percent of the
    /// volume and `min_free_bytes`, the oldest chunks of every stream are deleted, so the
    /// timeline never fills a disk; 0 = no guard. The local folder only.
    pub min_free_percent: f64,
    /// The most free space the guard asks for, in bytes (a big disk need not keep 10 %
    /// of itself free); 0 = the percent alone.
    pub min_free_bytes: u64,
    /// Testing only: when non-zero, chunks seal after this many seconds instead of the
    /// `segment_length` in force (the API still validates 30 s and up).
    pub test_segment_length_secs: u32,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            record_all: true,
            segment_length: 30,
            retention: 7 * 86_400,
            min_free_percent: 10.0,
            min_free_bytes: 5 << 30,
            test_segment_length_secs: 0,
        }
    }
}

/// Recording settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Most templates (template 0 not counted).
    pub max_templates: usize,
    /// Most rules.
    pub max_rules: usize,
    /// Testing only: when non-zero, every file splits after this many seconds instead of
    /// its template's `record_interval` (the API still validates 60 s and up).
    pub test_record_interval_secs: u32,
    /// Most record tasks whose windows overlap on one stream.
    pub max_running_tasks: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            max_templates: 50,
            max_rules: 50,
            test_record_interval_secs: 0,
            max_running_tasks: 3,
        }
    }
}

/// RTMP ingest settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    /// Seconds a client has to finish the handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds a connection has, from accept, to start publishing (handshake,
    /// `connect`, `publish`); bytes trickling in do not extend it.
    pub publish_timeout_secs: u64,
    /// Seconds without a byte from the client before it is disconnected.
    pub idle_timeout_secs: u64,
    /// Most simultaneous RTMP connections; when all are taken, the longest-connected one
    /// that is not publishing is closed for a new one (publishers never are).
    pub max_connections: usize,
    /// Chunk size we announce and send with.
    pub chunk_size: u32,
    /// Largest RTMP message accepted, bytes (protocol maximum 16 MiB − 1).
    pub max_message_bytes: usize,
    /// Seconds to let publishers finish on shutdown before closing them.
    pub shutdown_grace_secs: u64,
    /// Publishers' sockets are read on a clock tick this many milliseconds apart, shared
    /// by all of them (once a publisher's rate is known), not on every packet: fewer
    /// wake-ups, at the cost of this much added live latency. 0: read on every arrival.
    pub read_batch_ms: u64,
}

/// Where bytes are kept (`../shared/API.md`, Storage and database). Empty or `file://`
/// `url`: the local folder. `s3://BUCKET[/PREFIX]`: an S3-compatible bucket, with a
/// local spool for what is not uploaded yet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `""` (`{data_dir}`), `file:///PATH`, or `s3://BUCKET[/PREFIX]`.
    pub url: String,
    /// S3 endpoint, e.g. `http://127.0.0.1:9000` (empty: AWS's, or `AWS_ENDPOINT_URL`).
    pub endpoint: String,
    /// S3 region (empty: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// S3 access key id (empty: `AWS_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// S3 secret access key (empty: `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`), as most self-hosted servers want;
    /// false: virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: bool,
    /// Media and chunk downloads answer with a redirect to a short-lived presigned URL
    /// instead of passing the bytes through rewind.
    pub presign: bool,
    /// Seconds a presigned URL stays valid.
    pub presign_secs: u64,
    /// Folder for bytes not uploaded yet (empty: `{data_dir}`).
    pub spool_dir: String,
    /// Most bytes waiting for upload; past it the oldest timeline chunks not uploaded
    /// are dropped (recording files never are).
    pub spool_max_bytes: u64,
    /// Seconds between two audits of one stream's objects against the index (one stream
    /// per audit, in turn; 0: never). See docs/design/storage.md.
    pub audit_interval_secs: u64,
    /// Testing only: when non-zero, files larger than this go up in parts of this size.
    pub test_part_bytes: u64,
    /// Testing only: when non-zero, the age (seconds) an object without a row must have
    /// before an audit removes it (else an hour).
    pub test_audit_grace_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: String::new(),
            endpoint: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
            allow_http: false,
            presign: false,
            presign_secs: 300,
            spool_dir: String::new(),
            spool_max_bytes: 8 << 30,
            audit_interval_secs: 3600,
            test_part_bytes: 0,
            test_audit_grace_secs: 0,
        }
    }
}

/// This server as a node (`../shared/API.md`, Nodes).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Its name among the nodes (empty: the host name).
    pub name: String,
    /// The HTTP base URL other nodes reach it on (empty: `http://` + the HTTP listen address).
    pub advertise_url: String,
}

/// HTTP listener settings: what a client that connects and says nothing may hold.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Most simultaneous HTTP connections; when all are taken, the longest-idle one is
    /// closed for a new one (one busy with a request is never closed for that).
    pub max_connections: usize,
    /// Seconds a connection has to send a whole request head, on a new connection and
    /// between keep-alive requests; then it is closed. Bytes trickling in do not extend it.
    pub header_read_timeout_secs: u64,
    /// Seconds a request has to send its whole body.
    pub body_read_timeout_secs: u64,
    /// Host names (without port) a request's `Host` may carry when no `api_key` is set,
    /// beside IP literals and `localhost`: a name no one configured is a DNS-rebinding
    /// page's, and is refused.
    pub allowed_hosts: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 1024,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            allowed_hosts: Vec::new(),
        }
    }
}

/// Hub (fan-out) settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// Frames a reader may fall behind before it loses frames (and is told so).
    pub reader_queue_frames: usize,
    /// Most bytes of the current GOP kept for new readers; past it new readers wait
    /// for the next keyframe.
    pub gop_cache_max_bytes: usize,
    /// Seconds of every live stream kept in memory for event clips' pre-roll (0: off;
    /// at most 60). Whole GOPs: at least this much is kept from a key frame.
    pub pre_roll_secs: u32,
    /// Most bytes all streams' pre-roll may hold together; past it a stream's pre-roll
    /// shrinks to its current GOP.
    pub pre_roll_budget_bytes: usize,
}

/// A domain declared in the configuration file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    /// The domain (push host).
    pub name: String,
    /// Push authentication keys.
    #[serde(default)]
    pub push_auth: Option<PushAuth>,
    /// Where record events are sent.
    #[serde(default)]
    pub callback: Option<Callback>,
}

/// Push authentication keys of a domain (`txSecret = MD5(key + stream + txTime)`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PushAuth {
    /// Primary key.
    pub primary_key: String,
    /// Backup key, accepted as well (for key rotation).
    #[serde(default)]
    pub backup_key: String,
}

/// Credentials of the Tencent-action-compatible API (`POST /` with `X-TC-Action`): the
/// SecretId/SecretKey pairs Tencent's SDKs and `tccli` sign with. No pair: that API is off.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TencentApiConfig {
    /// The first pair's SecretId (`AKID…`).
    pub secret_id: String,
    /// The first pair's SecretKey.
    pub secret_key: String,
    /// More pairs.
    pub keys: Vec<TencentKey>,
}

/// One SecretId/SecretKey pair.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TencentKey {
    /// The SecretId.
    pub secret_id: String,
    /// The SecretKey.
    pub secret_key: String,
}

impl TencentApiConfig {
    /// Every configured pair (those with both halves).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once((self.secret_id.as_str(), self.secret_key.as_str()))
            .chain(self.keys.iter().map(|k| (k.secret_id.as_str(), k.secret_key.as_str())))
            .filter(|(id, key)| !id.is_empty() && !key.is_empty())
    }
}

// The keys are never shown: `Debug` (what a log line would print) masks them.
impl std::fmt::Debug for TencentApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.pairs().map(|(id, _)| id).collect();
        f.debug_struct("TencentApiConfig").field("secret_ids", &ids).field("secret_keys", &"***").finish()
    }
}

impl std::fmt::Debug for TencentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentKey").field("secret_id", &self.secret_id).field("secret_key", &"***").finish()
    }
}

/// Callback target of a domain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// URL events are POSTed to.
    pub url: String,
    /// Signing key (`sign = MD5(key + t)`).
    #[serde(default)]
    pub key: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            rtmp_addr: "0.0.0.0:1935".into(),
            http_addr: "0.0.0.0:8080".into(),
            database_url: String::new(),
            default_domain: "default".into(),
            log: "info".into(),
            api_key: String::new(),
            rtmp: RtmpConfig::default(),
            http: HttpConfig::default(),
            hub: HubConfig::default(),
            domains: Vec::new(),
            recording: RecordingConfig::default(),
            timeline: TimelineConfig::default(),
            retention: RetentionConfig::default(),
            storage: StorageConfig::default(),
            node: NodeConfig::default(),
            callbacks: CallbacksConfig::default(),
            tencent_api: TencentApiConfig::default(),
            record_templates: Vec::new(),
            record_rules: Vec::new(),
            sources: Vec::new(),
        }
    }
}

impl Default for RtmpConfig {
    fn default() -> Self {
        RtmpConfig {
            handshake_timeout_secs: 10,
            publish_timeout_secs: 15,
            idle_timeout_secs: 30,
            max_connections: 4096,
            chunk_size: 4096,
            max_message_bytes: 0xff_ffff,
            shutdown_grace_secs: 5,
            read_batch_ms: 200,
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            reader_queue_frames: 512,
            gop_cache_max_bytes: 32 << 20,
            pre_roll_secs: 0,
            pre_roll_budget_bytes: 512 << 20,
        }
    }
}

/// Values given on the command line (each overrides file and environment).
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--rtmp-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtmp_addr: Option<String>,
    /// `--http-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Config {
    /// Loads defaults ← `file` ← `REWIND_*` env (`__` nests: `REWIND_RTMP__IDLE_TIMEOUT_SECS`) ← flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            f = f.merge(Toml::file(path));
        }
        f = f.merge(Env::prefixed("REWIND_").split("__")).merge(Serialized::defaults(overrides));
        let c: Config = f.extract()?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> anyhow::Result<()> {
        crate::stream_id::check_domain(&self.default_domain)
            .map_err(|e| anyhow::anyhow!("default_domain: {}", e.message))?;
        for d in &self.domains {
            crate::stream_id::check_domain(&d.name).map_err(|e| anyhow::anyhow!("domains: {}", e.message))?;
        }
        if self.rtmp.handshake_timeout_secs == 0
            || self.rtmp.publish_timeout_secs == 0
            || self.rtmp.idle_timeout_secs == 0
            || self.http.header_read_timeout_secs == 0
            || self.http.body_read_timeout_secs == 0
        {
            anyhow::bail!("timeouts (rtmp.*_timeout_secs, http.*_timeout_secs) must be at least 1 second");
        }
        if self.rtmp.max_connections == 0 || self.http.max_connections == 0 {
            anyhow::bail!("rtmp.max_connections and http.max_connections must be at least 1");
        }
        if self.rtmp.read_batch_ms > 1000 {
            anyhow::bail!("rtmp.read_batch_ms must be 0 to 1000");
        }
        if !(128..=65536).contains(&self.rtmp.chunk_size) {
            anyhow::bail!("rtmp.chunk_size must be 128..=65536");
        }
        if self.hub.reader_queue_frames < 16 {
            anyhow::bail!("hub.reader_queue_frames must be at least 16");
        }
        if !(0.0..=100.0).contains(&self.retention.disk_budget_percent) {
            anyhow::bail!("retention.disk_budget_percent must be 0 to 100");
        }
        if self.hub.pre_roll_secs > 60 {
            anyhow::bail!("hub.pre_roll_secs must be 0 to 60");
        }
        let cb = &self.callbacks;
        if !(cb.url.is_empty() || cb.url.starts_with("http://") || cb.url.starts_with("https://")) {
            anyhow::bail!("callbacks.url must be an http:// or https:// URL");
        }
        if cb.max_attempts == 0 || cb.concurrency == 0 || cb.timeout_ms == 0 {
            anyhow::bail!("callbacks.max_attempts, concurrency and timeout_ms must be at least 1");
        }
        if !(0.0..=50.0).contains(&self.timeline.min_free_percent) {
            anyhow::bail!("timeline.min_free_percent must be 0 to 50");
        }
        let sl = self.timeline.segment_length;
        if !(30..=300).contains(&sl) || !sl.is_multiple_of(30) {
            anyhow::bail!("timeline.segment_length must be 30 to 300 seconds in steps of 30, not {sl}");
        }
        crate::storage::Location::parse(&self.storage.url)?;
        let n = &self.node.name;
        if n.len() > 63
            || n.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
        {
            anyhow::bail!(
                "node.name must be up to 63 of letters, digits, - _ . (empty: the host name), not {n:?}"
            );
        }
        let u = &self.node.advertise_url;
        if !(u.is_empty() || u.starts_with("http://") || u.starts_with("https://")) {
            anyhow::bail!("node.advertise_url must be an http:// or https:// URL, not {u:?}");
        }
        if self.storage.presign_secs == 0 || self.storage.presign_secs > 7 * 24 * 3600 {
            anyhow::bail!("storage.presign_secs must be 1 to 604800 (a week, S3's limit)");
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}/rewind.db?mode=rwc", self.data_dir.display())
        } else {
            self.database_url.clone()
        }
    }

    /// The default configuration as commented-free TOML (for `rewind config`).
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "http_addr = \"127.0.0.1:1\"\nrtmp_addr = \"127.0.0.1:2\"\n[rtmp]\nidle_timeout_secs = 7\n\
             [[domains]]\nname = \"push.example\"\npush_auth = { primary_key = \"k\" }\n",
        )
        .unwrap();
        let o = Overrides { http_addr: Some("127.0.0.1:3".into()), ..Default::default() };
        let c = Config::load(Some(&path), &o).unwrap();
        assert_eq!(c.http_addr, "127.0.0.1:3");
        assert_eq!(c.rtmp_addr, "127.0.0.1:2");
        assert_eq!(c.rtmp.idle_timeout_secs, 7);
        assert_eq!(c.domains[0].push_auth.as_ref().unwrap().primary_key, "k");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "htp_addr = \"x\"\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());
        std::fs::write(&path, "default_domain = \"Bad Domain\"\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());
        std::fs::write(&path, "[rtmp]\nread_batch_ms = 1001\n").unwrap();
        assert!(Config::load(Some(&path), &Overrides::default()).is_err());
        std::fs::write(&path, "[rtmp]\nread_batch_ms = 0\n").unwrap();
        assert_eq!(Config::load(Some(&path), &Overrides::default()).unwrap().rtmp.read_batch_ms, 0);
    }
}
