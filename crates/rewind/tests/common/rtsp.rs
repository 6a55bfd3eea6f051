//! A real RTSP server for the tests (GStreamer's gst-rtsp-server, `rtsp_server.py`;
//! the test command installs it), on a free loopback port, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `rtsp_server.py`.
pub struct RtspServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    args: Vec<String>,
}

/// The Python that has GStreamer's bindings: Debian's own (`python3-gi`), which a
/// `python3` earlier on PATH (pyenv, a venv) may hide.
fn python() -> String {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import gi; gi.require_version('GstRtspServer', '1.0')"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p.into();
        }
    }
    panic!(
        "no python3 with GstRtspServer (scripts/test-tools installs gir1.2-gst-rtsp-server-1.0 and python3-gi)"
    )
}

impl RtspServer {
    /// Starts on a free port with the script's `args` (`--auth digest`, `--tcp-only`…).
    pub fn start(args: &[&str]) -> RtspServer {
        let port = super::receiver::free_port();
        let mut s = RtspServer { child: None, port, args: args.iter().map(|a| a.to_string()).collect() };
        s.up();
        s
    }

    /// A server that is not started yet, on a free port (`up` starts it).
    pub fn not_started(args: &[&str]) -> RtspServer {
        RtspServer {
            child: None,
            port: super::receiver::free_port(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Starts (again) on the same port; returns once it listens.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "already running");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/rtsp_server.py");
        let mut last = String::new();
        // The port may still be in TIME_WAIT from the previous run for a moment.
        for _ in 0..50 {
            let mut child = Command::new(python())
                .arg(script)
                .arg(self.port.to_string())
                .args(&self.args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            if line.trim() == "ready" {
                self.child = Some(child);
                return;
            }
            let _ = child.wait();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            last = err;
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the RTSP server did not start: {last}");
    }

    /// Kills it (a camera losing power).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `rtsp://[user:password@]127.0.0.1:PORT/path`.
    pub fn url(&self, creds: &str, path: &str) -> String {
        format!("rtsp://{creds}127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.down();
    }
}
