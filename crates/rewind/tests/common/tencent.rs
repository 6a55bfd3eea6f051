//! Tencent Cloud's own clients against a test server: the Python SDK (through
//! `tests/tencent/sdk_driver.py`, one process answering call after call) and `tccli`,
//! both from the venv `scripts/test-tools` installs under `target/tools/tencent`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The SecretId and SecretKey the tests configure.
pub const SECRET_ID: &str = "AKIDrewindTestKey0001";
/// The SecretKey of `SECRET_ID`.
pub const SECRET_KEY: &str = "rewindTestSecretKey0001";

/// The config section that turns the API on with the tests' key.
pub fn config() -> String {
    format!("[tencent_api]\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n")
}

fn venv() -> PathBuf {
    let tools = std::env::var_os("REWIND_TOOLS_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"), PathBuf::from);
    let v = tools.join("tencent");
    assert!(v.join("bin/tccli").exists(), "{} is missing: scripts/test-tools installs it", v.display());
    v
}

/// How a call is made (the SDK's choices a user can make).
#[derive(Clone, Debug)]
pub struct Way {
    /// `POST` or `GET`.
    pub method: &'static str,
    /// `TC3-HMAC-SHA256`, `HmacSHA256` or `HmacSHA1`.
    pub sign: &'static str,
    /// The TC3 body hash left out (`X-TC-Content-SHA256: UNSIGNED-PAYLOAD`).
    pub unsigned: bool,
    /// The key pair.
    pub secret_id: String,
    /// Its key.
    pub secret_key: String,
    /// Seconds the client's clock is off.
    pub skew: i64,
}

impl Default for Way {
    fn default() -> Self {
        Way {
            method: "POST",
            sign: "TC3-HMAC-SHA256",
            unsigned: false,
            secret_id: SECRET_ID.into(),
            secret_key: SECRET_KEY.into(),
            skew: 0,
        }
    }
}

/// The SDK, ready to call one server.
pub struct Sdk {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// An error as the SDK raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkError {
    /// `AuthFailure.SignatureFailure`, …
    pub code: String,
    /// The server's sentence.
    pub message: String,
}

impl Sdk {
    /// The SDK pointed at `http_addr` (host:port), as a user's `HttpProfile(endpoint=…)`.
    pub fn new(http_addr: &str) -> Sdk {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tencent/sdk_driver.py");
        let mut child = Command::new(venv().join("bin/python"))
            .arg(script)
            .arg(http_addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SDK's python");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Sdk { child, stdin, stdout }
    }

    /// Calls `action` of `service` (`live` or `vod`) the way `way` says.
    pub fn call_with(
        &mut self,
        way: &Way,
        service: &str,
        action: &str,
        params: Value,
    ) -> Result<Value, SdkError> {
        let req = json!({
            "service": service, "action": action, "params": params, "method": way.method, "sign": way.sign,
            "unsigned": way.unsigned, "secret_id": way.secret_id, "secret_key": way.secret_key, "skew": way.skew,
        });
        writeln!(self.stdin, "{req}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the SDK driver stopped (its stderr is in the test output)");
        let v: Value = serde_json::from_str(&line).unwrap();
        match v.get("ok") {
            Some(ok) => Ok(ok.clone()),
            None => Err(SdkError {
                code: v["error"]["code"].as_str().unwrap_or("").into(),
                message: v["error"]["message"].as_str().unwrap_or("").into(),
            }),
        }
    }

    /// A live action, POST JSON, TC3-signed.
    pub fn live(&mut self, action: &str, params: Value) -> Value {
        self.call_with(&Way::default(), "live", action, params.clone())
            .unwrap_or_else(|e| panic!("{action} {params}: {e:?}"))
    }

    /// A vod action, POST JSON, TC3-signed.
    pub fn vod(&mut self, action: &str, params: Value) -> Value {
        self.call_with(&Way::default(), "vod", action, params.clone())
            .unwrap_or_else(|e| panic!("{action} {params}: {e:?}"))
    }

    /// A live action expected to fail: its error.
    pub fn live_err(&mut self, action: &str, params: Value) -> SdkError {
        match self.call_with(&Way::default(), "live", action, params.clone()) {
            Ok(v) => panic!("{action} {params} succeeded: {v}"),
            Err(e) => e,
        }
    }
}

impl Drop for Sdk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tccli <service> <action> --endpoint http://<http_addr> <args>` with the tests'
/// key in its environment; its JSON answer, or its error text.
pub fn tccli(http_addr: &str, service: &str, action: &str, args: &[&str]) -> Result<Value, String> {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(venv().join("bin/tccli"))
        .args([service, action, "--endpoint", &format!("http://{http_addr}")])
        .args(args)
        .env("HOME", home.path())
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
        .env("TENCENTCLOUD_REGION", "ap-guangzhou")
        .output()
        .expect("tccli");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}
