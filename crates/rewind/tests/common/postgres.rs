//! A real PostgreSQL server for one test: its own cluster in a temporary folder, on a
//! free loopback port, stopped (immediately) when dropped. The binaries are the
//! machine's (scripts/test-tools makes sure they are there); as root the server runs
//! as the `postgres` user, which PostgreSQL requires.

use std::path::PathBuf;
use std::process::Command;

/// A running PostgreSQL cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/rewind`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
}

/// Where `initdb` and `pg_ctl` are: on PATH, or Debian's versioned folder.
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("sh").args(["-c", "command -v initdb"]).output()
        && out.status.success()
    {
        // Often a link into the versioned folder, which also has createdb.
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        return p.parent().unwrap().to_path_buf();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test-tools installs it)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("initdb of a PostgreSQL under /usr/lib/postgresql")
}

fn as_server_user(bin: &std::path::Path, tool: &str) -> Command {
    // SAFETY: geteuid reads the process's id and has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// Initialises and starts a cluster with a database `rewind`.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let bin = bin_dir();
        let data = dir.path().join("pgdata");
        let mut init = as_server_user(&bin, "initdb");
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D"]).arg(&data);
        run(init, "initdb");
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            dir.path().display()
        );
        let mut start = as_server_user(&bin, "pg_ctl");
        start
            .args(["-D"])
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.path().join("log"))
            .args(["-w", "start"]);
        run(start, "pg_ctl start");
        let mut create = Command::new(bin.join("createdb"));
        create.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "rewind"]);
        run(create, "createdb");
        Postgres { url: format!("postgres://postgres@127.0.0.1:{port}/rewind"), port, dir, bin }
    }

    /// Stops the server (fast: open connections are cut, as in a crash of the server).
    pub fn stop(&self) {
        let mut stop = as_server_user(&self.bin, "pg_ctl");
        stop.args(["-D"]).arg(self.dir.path().join("pgdata")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
    }

    /// Starts it again after `stop`.
    pub fn restart(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut start = as_server_user(&self.bin, "pg_ctl");
        start
            .args(["-D"])
            .arg(self.dir.path().join("pgdata"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"]);
        run(start, "pg_ctl start");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
