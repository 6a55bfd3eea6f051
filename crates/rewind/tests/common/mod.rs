//! Test harness: a real `rewind serve` process on free loopback ports, real ffmpeg
//! pushes, and media fixtures made by ffmpeg once per test binary.
#![allow(dead_code)]

pub mod fake_camera;
pub mod postgres;
pub mod receiver;
pub mod rtsp;
pub mod s3;
pub mod tencent;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running server process; killed on drop.
pub struct TestServer {
    pub child: Child,
    pub rtmp: String,
    pub http: String,
    pub dir: tempfile::TempDir,
    pub log: Arc<Mutex<String>>,
    /// With `TEST_DATABASE=postgres`: the PostgreSQL this server (and its
    /// restarts) use instead of SQLite.
    pub pg: Option<Arc<postgres::Postgres>>,
    /// With `TEST_STORAGE=s3`: the S3 server this server (and its restarts) keep
    /// their bytes in instead of the local folder.
    pub s3: Option<Arc<s3::S3>>,
    /// The config's `api_key`, which `get` and `send` carry.
    pub api_key: Option<String>,
}

/// A config line that keeps the server's own defaults (the timeline on for every
/// stream) instead of the tests' (off unless a test asks).
pub const FIRST_RUN: &str = "# first run: the server's defaults";

/// Whether this run keeps recordings in S3 (`TEST_STORAGE=s3`, set by scripts/test).
pub fn on_s3() -> bool {
    std::env::var("TEST_STORAGE").as_deref() == Ok("s3")
}

impl TestServer {
    /// Starts `rewind serve` with `config` (TOML) in a fresh data folder.
    pub fn start(config: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, config)
    }

    /// Starts with an existing data folder (restarts).
    pub fn start_in(dir: tempfile::TempDir, config: &str) -> TestServer {
        Self::start_with(dir, config, None)
    }

    /// Starts with the process's open-file limit (soft and hard) set to `nofile`.
    pub fn start_with_file_limit(config: &str, nofile: u64) -> TestServer {
        Self::start_with(tempfile::tempdir().unwrap(), config, Some(nofile))
    }

    /// Starts one node of a cluster: on the PostgreSQL and the S3 server its peers use.
    pub fn start_shared(config: &str, pg: &Arc<postgres::Postgres>, s3: &Arc<s3::S3>) -> TestServer {
        Self::start_on(tempfile::tempdir().unwrap(), config, None, Some(pg.clone()), Some(s3.clone()))
    }

    fn start_with(dir: tempfile::TempDir, config: &str, nofile: Option<u64>) -> TestServer {
        // The same tests run against PostgreSQL when asked (scripts/test runs both).
        let pg = (std::env::var("TEST_DATABASE").as_deref() == Ok("postgres")
            && !config.contains("database_url"))
        .then(|| Arc::new(postgres::Postgres::start()));
        let s3 = (on_s3() && !config.contains("[storage]")).then(|| Arc::new(s3::S3::start()));
        Self::start_on(dir, config, nofile, pg, s3)
    }

    fn start_on(
        dir: tempfile::TempDir,
        config: &str,
        nofile: Option<u64>,
        pg: Option<Arc<postgres::Postgres>>,
        s3: Option<Arc<s3::S3>>,
    ) -> TestServer {
        let mut config = match &pg {
            Some(pg) => format!("database_url = \"{}\"\n{config}", pg.url),
            None => config.to_string(),
        };
        if let Some(s3) = s3.as_ref().filter(|_| !config.contains("[storage]")) {
            config.push_str(&s3.config());
        }
        // The server archives every stream into its timeline by default (a first run
        // records); the tests keep the timeline off unless they ask for it, or for the
        // defaults themselves (FIRST_RUN).
        if !config.contains("[timeline]") && !config.contains(FIRST_RUN) {
            config.push_str("\n[timeline]\nrecord_all = false\n");
        }
        let config = config.as_str();
        // reqwest is built with TLS but no crypto provider of its own (the server picks
        // ring): the tests' HTTP clients need it installed too.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cfg = dir.path().join("rewind.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut cmd = serve_command(&cfg, &dir.path().join("data"));
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit between fork and exec, which is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn rewind");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("rewind ready")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line.clone());
                }
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("server did not start; log:\n{}", log.lock().unwrap()));
        let field = |k: &str| ready.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap().to_string();
        let api_key = config.lines().find_map(|l| {
            let v = l.strip_prefix("api_key")?.trim_start().strip_prefix('=')?.trim();
            Some(v.trim_matches('"').to_string())
        });
        TestServer { child, rtmp: field("rtmp="), http: field("http="), dir, log, pg, s3, api_key }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn push_url(&self, app_stream: &str) -> String {
        format!("rtmp://{}/{}", self.rtmp, app_stream)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.log().contains(needle))
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, None).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let c = reqwest::Client::new();
        let mut req = c.request(method.parse().unwrap(), self.url(path));
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    pub async fn metric(&self, line_prefix: &str) -> u64 {
        let text = reqwest::get(self.url("/metrics")).await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(line_prefix).map(|v| v.trim().parse::<f64>().unwrap() as u64))
            .unwrap_or_else(|| panic!("metric {line_prefix} missing"))
    }

    /// Polls `GET /v1/streams/{sid}` until `pred` holds.
    pub async fn wait_stream(
        &self,
        sid: &str,
        timeout: Duration,
        pred: impl Fn(u16, &serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, v) = self.get(&format!("/v1/streams/{sid}")).await;
            if pred(s, &v) {
                return v;
            }
            assert!(Instant::now() < deadline, "stream {sid} never matched; last: {s} {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL (a crash) and waits for it.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts a new server on this one's data folder (after it stopped or was killed).
    pub fn restart(mut self, config: &str) -> TestServer {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let pg = self.pg.take();
        let s3 = self.s3.take();
        drop(self);
        TestServer::start_on(dir, config, None, pg, s3)
    }

    /// Sends SIGTERM and waits for the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `rewind serve` with `config` on `data_dir`, on free loopback ports.
pub fn serve_command(config: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rewind"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log", "info,rewind=debug"])
        // The timeline's space guard looks at the machine's real disk, which a test
        // machine may have nearly full: off in the end-to-end tests (unit-tested).
        .env("REWIND_TIMELINE__MIN_FREE_PERCENT", "0")
        .stdin(Stdio::null());
    cmd
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Fixtures live in cargo's temporary folder for tests: made once, shared by every test
/// binary and run, never left in /tmp.
fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures-v1");
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is required (the test command installs it)");
    assert!(out.status.success(), "ffmpeg {:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
}

/// A media fixture made once: "av" (H.264 320x240 25 fps + AAC 44.1 kHz stereo),
/// "av160" (the same at 160x120),
/// "video" (H.264 only), "video160" (H.264 only, 160x120), "audio" (AAC 48 kHz mono
/// only); `secs` long, 1 s GOP.
pub fn fixture(kind: &str, secs: u32) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap();
    let path = fixtures_dir().join(format!("{kind}-{secs}.flv"));
    if path.exists() {
        return path;
    }
    // Made under a temporary name and renamed: a run killed midway leaves no torn fixture,
    // and test processes running side by side (nextest) never rename each other's.
    let part = path.with_extension(format!("part{}.flv", std::process::id()));
    let t = secs.to_string();
    let v = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"];
    let venc = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-preset", "veryfast"];
    let p = part.to_str().unwrap();
    match kind {
        "av" | "av160" => {
            let mut a: Vec<&str> = v.to_vec();
            if kind == "av160" {
                a[3] = "testsrc=size=160x120:rate=25";
            }
            a.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", &t]);
            a.extend(venc);
            a.extend(["-c:a", "aac", "-ac", "2", "-f", "flv", p]);
            ffmpeg(&a);
        }
        "video" | "video160" => {
            let mut a: Vec<&str> = v.to_vec();
            if kind == "video160" {
                a[3] = "testsrc=size=160x120:rate=25";
            }
            a.extend(["-t", &t]);
            a.extend(venc);
            a.extend(["-f", "flv", p]);
            ffmpeg(&a);
        }
        "audio" => ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &t,
            "-c:a",
            "aac",
            "-ac",
            "1",
            "-f",
            "flv",
            p,
        ]),
        k => panic!("unknown fixture {k}"),
    }
    std::fs::rename(&part, &path).unwrap();
    path
}

/// Starts `ffmpeg -re -i FILE -c copy -f flv URL`.
pub fn ffmpeg_push(file: &Path, url: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg")
}

/// Waits for a child with a timeout; returns (success, stderr).
pub fn wait_child(mut c: Child, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = c.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (s.success(), err);
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("child did not finish in {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tags of an FLV file.
pub fn flv_tags(path: &Path) -> Vec<rewind_media::flv::Tag> {
    let data = bytes::Bytes::from(std::fs::read(path).unwrap());
    rewind_media::flv::read_file(&data).unwrap()
}

/// Publishes `url` with our own client and sends every tag of `file` as fast as possible.
pub async fn rust_push(url: &str, file: &Path) -> anyhow::Result<()> {
    let mut p = rewind::push::client::Publisher::connect(url).await?;
    for t in flv_tags(file) {
        p.queue(t.kind, t.timestamp_ms, &t.body);
    }
    p.flush().await?;
    p.close().await?;
    Ok(())
}

/// `ffprobe -show_format -show_streams` as JSON.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Packets of one stream type (`v` or `a`): (pts in ms, dts in ms).
pub fn packets(path: &Path, kind: &str) -> Vec<(i64, i64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            kind,
            "-show_entries",
            "packet=pts_time,dts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let ms = |s: &str| (s.trim().parse::<f64>().unwrap_or(f64::NAN) * 1000.0).round() as i64;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split(',');
            (ms(it.next().unwrap_or("")), ms(it.next().unwrap_or("")))
        })
        .collect()
}

/// What `ffmpeg -v error -i F -f null -` prints (empty = decodes cleanly).
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        s.push_str(" (ffmpeg failed)");
    }
    s
}

/// Polls `GET /v1/media?…` until it lists `n` files.
pub async fn wait_media(
    srv: &TestServer,
    query: &str,
    n: usize,
    timeout: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let (s, v) = srv.get(&format!("/v1/media?{query}")).await;
        assert_eq!(s, 200, "{v}");
        let list = v["media"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} media files for {query:?}, have {}: {v}\nlog:\n{}",
            list.len(),
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Local path of a media record's file. When recordings go to S3, the file (an HLS
/// recording: its playlist and segments) is first downloaded through the API into a
/// folder of its own, so the tests check the bytes a user gets.
pub fn media_path(srv: &TestServer, m: &serde_json::Value) -> PathBuf {
    let root =
        if srv.s3.is_some() { srv.dir.path().join("fetched") } else { srv.dir.path().join("data/media") };
    let dir = root
        .join(m["domain"].as_str().unwrap())
        .join(m["app"].as_str().unwrap())
        .join(m["stream"].as_str().unwrap());
    let path = dir.join(m["file_name"].as_str().unwrap());
    if srv.s3.is_some() {
        let id = m["file_id"].as_str().unwrap();
        let port: u16 = srv.http.rsplit(':').next().unwrap().parse().unwrap();
        let (status, body) = s3::request(port, "GET", &format!("/v1/media/{id}/content"));
        if status != 200 {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &body).unwrap();
            if m["format"] == "hls" {
                for uri in
                    String::from_utf8_lossy(&body).lines().filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let (status, seg) = s3::request(port, "GET", &format!("/v1/media/{id}/{uri}"));
                    assert_eq!(status, 200, "segment {uri} of {id}");
                    let p = dir.join(uri);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, seg).unwrap();
                }
            }
        }
    }
    path
}

/// Waits until a server with a bucket has uploaded everything it finished (its spool
/// holds nothing waiting); at once without one. Every recorder must have ended first: a
/// recorder queues its files after their rows are written (and the timeline seals its
/// last chunk on its own), so an empty spool alone could come before the last file.
pub async fn wait_uploaded(srv: &TestServer) {
    if srv.s3.is_none() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (metric, what) in [
        ("rewind_recorders_active ", "recorders never ended"),
        ("rewind_storage_spool_bytes ", "bytes never left the spool"),
    ] {
        loop {
            let left = srv.metric(metric).await;
            if left == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{left} {what}; log:\n{}", srv.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every file (and folder) the server keeps under its media root, relative to it: the
/// local folder, and with a bucket the bucket's keys too (after the spool drained;
/// folders of keys implied), so that a test compares the library with all it stores.
pub async fn stored_media_tree(srv: &TestServer) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>, spool: bool) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() {
                walk(root, &p, out, spool);
                // With a bucket, the spool's folders come and go with its files.
                if spool && !out.iter().any(|o| o.starts_with(&format!("{rel}/"))) {
                    continue;
                }
            }
            out.push(rel);
        }
    }
    wait_uploaded(srv).await;
    let mut out = Vec::new();
    let root = srv.dir.path().join("data/media");
    walk(&root, &root, &mut out, srv.s3.is_some());
    if let Some(s3) = &srv.s3 {
        for k in s3.keys() {
            let Some(rel) = k.strip_prefix("media/") else { continue };
            let parts: Vec<&str> = rel.split('/').collect();
            for n in 1..parts.len() {
                out.push(parts[..n].join("/"));
            }
            out.push(rel.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether any byte of a media record is still kept (local folder or bucket).
pub async fn is_stored(srv: &TestServer, m: &serde_json::Value) -> bool {
    let rel = format!(
        "{}/{}/{}/{}",
        m["domain"].as_str().unwrap(),
        m["app"].as_str().unwrap(),
        m["stream"].as_str().unwrap(),
        m["file_name"].as_str().unwrap()
    );
    let folder = rel.strip_suffix(".m3u8").map(|f| format!("{f}/"));
    stored_media_tree(srv)
        .await
        .iter()
        .any(|p| *p == rel || folder.as_ref().is_some_and(|f| p.starts_with(f.as_str())))
}

/// Sizes of the timeline chunk files of a stream (`domain/app/stream`), wherever the
/// server keeps them (local folder, spool or bucket).
pub fn chunk_sizes(srv: &TestServer, sid: &str) -> Vec<u64> {
    let dir = srv.dir.path().join("data/timeline").join(sid);
    let mut sizes: Vec<u64> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".m4s"))
                // Uploaded and unlinked since the listing: the bucket has it (listed after).
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(s3) = &srv.s3 {
        let prefix = format!("timeline/{sid}/");
        sizes.extend(
            s3.keys().iter().filter(|k| k.starts_with(&prefix)).map(|k| s3.get(k).unwrap().len() as u64),
        );
    }
    sizes
}

/// Span of the media in a file, in seconds: from the earliest decode time to the end of
/// the latest packet, for stream type `kind` (`v`, `a`) or both (`""`).
pub fn media_span(path: &Path, kind: &str) -> f64 {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error"]);
    if !kind.is_empty() {
        cmd.args(["-select_streams", kind]);
    }
    let out = cmd
        .args(["-show_entries", "packet=pts_time,dts_time,duration_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let pts: f64 = it.next()?.trim().parse().ok()?;
            let dts: f64 = it.next()?.trim().parse().ok()?;
            let dur: f64 = it.next().and_then(|d| d.trim().parse().ok()).unwrap_or(0.0);
            Some((dts, pts.max(dts) + dur))
        })
        .fold((f64::MAX, 0.0f64), |(lo, hi), (s, e)| (lo.min(s), hi.max(e)))
        .pipe(|(lo, hi)| hi - lo)
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// availableMedia of `sid` at full precision, from an hour ago to an hour ahead.
pub async fn available_now(srv: &TestServer, sid: &str) -> (u16, serde_json::Value) {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let q = format!(
        "/v1/streams/{sid}/availableMedia?precision=full&startTime={}&endTime={}",
        fmt(now - time::Duration::hours(1)),
        fmt(now + time::Duration::hours(1))
    );
    srv.get(&q).await
}
