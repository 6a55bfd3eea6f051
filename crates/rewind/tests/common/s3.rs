//! A real S3-compatible server for one test: moto's server mode (installed by
//! scripts/test-tools in its own venv) on a free loopback port, behind a small TCP
//! relay that a test can take down (connections cut, new ones refused) and bring back,
//! the way a bucket's endpoint fails. moto keeps objects in its process memory, so
//! the relay, not moto, is what goes down.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bucket every test server uses.
pub const BUCKET: &str = "rewind-test";
/// The key prefix the servers get (keys are checked under it).
pub const PREFIX: &str = "pfx";

/// A running moto server and its relay.
pub struct S3 {
    moto: Child,
    moto_port: u16,
    /// The port rewind is told: the relay's.
    pub port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

fn moto_server() -> PathBuf {
    let tools = std::env::var_os("REWIND_TOOLS_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"), PathBuf::from);
    let exe = tools.join("moto/bin/moto_server");
    assert!(exe.exists(), "{} is missing: scripts/test-tools installs it", exe.display());
    exe
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One blocking HTTP/1.0 request to `port`: (status, body). moto checks no signature,
/// but answers an object GET without any `Authorization` as an anonymous one (403).
pub fn request(port: u16, method: &str, path: &str) -> (u16, Vec<u8>) {
    request_with(port, method, path, b"")
}

/// `request` with a body.
pub fn request_with(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
    let len = body.len();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\nContent-Length: {len}\r\n\r\n")
        .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").map_or(out.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out[split..].to_vec())
}

impl S3 {
    /// Starts moto, makes the bucket, and starts the relay.
    pub fn start() -> S3 {
        let moto_port = free_port();
        let moto = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            // Small parts, so that tests make multipart uploads of small files.
            .env("S3_UPLOAD_PART_MIN_SIZE", "1024")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", moto_port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = request(moto_port, "PUT", &format!("/{BUCKET}"));
        assert_eq!(status, 200, "create bucket: {}", String::from_utf8_lossy(&body));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", moto_port)) else { continue };
                o.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        S3 { moto, moto_port, port, down, open }
    }

    /// The `[storage]` section that points a rewind at this server.
    pub fn config(&self) -> String {
        format!(
            "\n[storage]\nurl = \"s3://{BUCKET}/{PREFIX}\"\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\nallow_http = true\n",
            self.port
        )
    }

    /// The endpoint goes down: open connections are cut, new ones closed at once.
    pub fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The endpoint answers again (the objects are still there).
    pub fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Every key in the bucket (under the prefix, which is cut off).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = String::new();
        loop {
            let mut path = format!("/{BUCKET}?list-type=2&prefix={PREFIX}/");
            if !token.is_empty() {
                path.push_str(&format!("&continuation-token={token}"));
            }
            let (status, body) = request(self.moto_port, "GET", &path);
            assert_eq!(status, 200);
            let text = String::from_utf8_lossy(&body).to_string();
            for part in text.split("<Key>").skip(1) {
                let k = part.split("</Key>").next().unwrap();
                keys.push(k.strip_prefix(&format!("{PREFIX}/")).unwrap_or(k).to_string());
            }
            match text.split("<NextContinuationToken>").nth(1) {
                Some(t) => token = t.split('<').next().unwrap().to_string(),
                None => break,
            }
        }
        keys.sort();
        keys
    }

    /// Starts a multipart upload of `key` (without the prefix) and returns its id.
    pub fn start_multipart(&self, key: &str) -> String {
        let (status, body) = request(self.moto_port, "POST", &format!("/{BUCKET}/{PREFIX}/{key}?uploads"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let text = String::from_utf8_lossy(&body).to_string();
        text.split("<UploadId>").nth(1).unwrap().split("</UploadId>").next().unwrap().to_string()
    }

    /// Multipart uploads open in the bucket (their keys).
    pub fn open_multipart(&self) -> Vec<String> {
        let (status, body) = request(self.moto_port, "GET", &format!("/{BUCKET}?uploads"));
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&body).to_string();
        text.split("<Key>").skip(1).map(|p| p.split("</Key>").next().unwrap().to_string()).collect()
    }

    /// Puts an object (`key` without the prefix).
    pub fn put(&self, key: &str, body: &[u8]) {
        let (status, out) = request_with(self.moto_port, "PUT", &format!("/{BUCKET}/{PREFIX}/{key}"), body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    }

    /// The `[storage]` settings as the library takes them.
    pub fn storage_config(&self) -> rewind::config::StorageConfig {
        rewind::config::StorageConfig {
            url: format!("s3://{BUCKET}/{PREFIX}"),
            endpoint: format!("http://127.0.0.1:{}", self.port),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            allow_http: true,
            ..Default::default()
        }
    }

    /// Deletes an object (`key` without the prefix), as someone behind rewind's back.
    pub fn delete(&self, key: &str) {
        let (status, out) = request(self.moto_port, "DELETE", &format!("/{BUCKET}/{PREFIX}/{key}"));
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&out));
    }

    /// An object's bytes (`key` without the prefix), if it is there.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let (status, body) = request(self.moto_port, "GET", &format!("/{BUCKET}/{PREFIX}/{key}"));
        (status == 200).then_some(body)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.go_down();
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}
