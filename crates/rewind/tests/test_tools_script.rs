//! `scripts/test-tools`, the install part of the README's test command, run against a
//! PATH made for each case: the tools a case has are stubs, and `apt-get`, `sudo` and
//! `npm` are recorders that log how they were called (`apt-get install` puts the
//! package's commands on that PATH, as the real one would). So each case shows what the
//! script installs on a machine that lacks exactly those tools, without needing one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A made-up machine: a PATH of stub tools, a log of package-manager calls, and a
/// browser-test folder whose packages are already installed unless a case says not.
struct Machine {
    dir: tempfile::TempDir,
}

struct Run {
    ok: bool,
    stderr: String,
    /// One line per call of apt-get, sudo or npm: "apt-get install -y -qq ffmpeg".
    calls: Vec<String>,
}

const FAKE_APT: &str = r#"#!/bin/bash
echo "apt-get $*" >> "$CALLS"
[ "$1" = update ] && exit 0
if [ -n "${APT_FAILS:-}" ]; then
  echo "Reading package lists..."
  echo "nodejs : Conflicts: npm"
  echo "E: Unable to correct problems, you have held broken packages."
  exit 100
fi
for p in "$@"; do
  case $p in
    ffmpeg) cmds="ffmpeg ffprobe" ;;
    nodejs) cmds="node" ;;
    -*|install) cmds="" ;;
    *) cmds="$p" ;;
  esac
  for c in $cmds; do printf '#!/bin/true\n' > "$BIN/$c"; /bin/chmod +x "$BIN/$c"; done
done
"#;

/// A python3 that makes a venv whose pip records what it installs.
const FAKE_PYTHON_VENV: &str = "#!/bin/bash\necho \"python3 $*\" >> \"$CALLS\"\n[ \"$1 $2\" = '-m venv' ] || exit 0\n\
         /bin/mkdir -p \"$3/bin\"\nprintf '#!/bin/bash\\necho \"pip $*\" >> \"$CALLS\"\\n' > \"$3/bin/pip\"\n\
         /bin/chmod +x \"$3/bin/pip\"\n";

const FAKE_RECORDER: &str = "#!/bin/bash\necho \"${0##*/} $*\" >> \"$CALLS\"\n";

const FAKE_SUDO: &str = "#!/bin/bash\necho \"sudo $*\" >> \"$CALLS\"\nwhile [[ $1 == *=* ]]; do export \"$1\"; shift; done\nexec \"$@\"\n";

impl Machine {
    /// A machine that has `tools` (commands on PATH) and nothing else the tests need.
    fn with(tools: &[&str]) -> Machine {
        let m = Machine { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(m.bin()).unwrap();
        for t in tools {
            m.script(t, "#!/bin/true\n");
        }
        m.script("apt-get", FAKE_APT);
        m.script("sudo", FAKE_SUDO);
        if tools.contains(&"npm") {
            m.script("npm", FAKE_RECORDER);
        }
        // A python3 with GStreamer's RTSP server, unless a case removes it.
        m.script("gst-python", "#!/bin/true\n");
        // PostgreSQL's versioned folder, unless a case removes it.
        std::fs::create_dir_all(m.dir.path().join("pg/15/bin")).unwrap();
        m.script_at("pg/15/bin/initdb", "#!/bin/true\n");
        // schemathesis, moto and Tencent's SDK in their venvs, unless a case removes them.
        for (venv, exe, version) in [
            ("py", "schemathesis", "4.32.5"),
            ("moto", "moto_server", "5.2.6"),
            ("tencent", "tccli", "3.1.195"),
        ] {
            std::fs::create_dir_all(m.dir.path().join(format!("tools/{venv}/bin"))).unwrap();
            m.script_at(&format!("tools/{venv}/bin/{exe}"), "#!/bin/true\n");
            let pip = format!("#!/bin/bash\n[ \"$1\" = show ] && echo 'Version: {version}'\n");
            m.script_at(&format!("tools/{venv}/bin/pip"), &pip);
        }
        for dir in [m.browser(), m.console()] {
            std::fs::create_dir_all(dir.join("node_modules")).unwrap();
            std::fs::write(dir.join("package-lock.json"), "{}").unwrap();
            std::fs::write(dir.join("node_modules/.package-lock.json"), "{}").unwrap();
        }
        m
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn browser(&self) -> PathBuf {
        self.dir.path().join("browser")
    }

    fn console(&self) -> PathBuf {
        self.dir.path().join("console")
    }

    fn script(&self, name: &str, body: &str) {
        self.script_at(&format!("bin/{name}"), body);
    }

    fn script_at(&self, rel: &str, body: &str) {
        let p = self.dir.path().join(rel);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn has(&self, tool: &str) -> bool {
        self.bin().join(tool).exists()
    }

    /// Runs `scripts/test-tools` with `args` on this machine's PATH alone.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let calls = self.dir.path().join("calls");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-tools");
        let out = Command::new("/bin/bash")
            .arg(&script)
            .args(args)
            .env_clear()
            .env("PATH", self.bin())
            .env("CALLS", &calls)
            .env("BIN", self.bin())
            .env("REWIND_BROWSER_DIR", self.browser())
            .env("REWIND_CONSOLE_DIR", self.console())
            .env("REWIND_TOOLS_DIR", self.dir.path().join("tools"))
            .env("REWIND_PG_GLOB", self.dir.path().join("pg/*/bin/initdb"))
            .env("REWIND_GST_PYTHONS", self.bin().join("gst-python"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&calls).unwrap_or_default();
        Run {
            ok: out.status.success(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            calls: calls.lines().filter(|l| !l.starts_with("sudo ")).map(str::to_string).collect(),
        }
    }
}

const ALL: &[&str] = &["ffmpeg", "ffprobe", "chromium", "node", "npm", "python3"];

fn installs(run: &Run) -> Vec<String> {
    run.calls.iter().filter(|c| c.starts_with("apt-get install")).cloned().collect()
}

#[test]
fn a_machine_with_every_tool_installs_nothing() {
    let m = Machine::with(ALL);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.calls.is_empty(), "no package-manager call expected: {:?}", run.calls);
    assert!(run.stderr.contains("node is there"), "{}", run.stderr);
}

#[test]
fn a_missing_ffmpeg_is_installed_alone_and_node_is_left_alone() {
    let m = Machine::with(&["chromium", "node", "npm", "python3"]);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq ffmpeg"]);
    assert_eq!(run.calls.iter().filter(|c| c.starts_with("apt-get update")).count(), 1);
    assert!(m.has("ffmpeg") && m.has("ffprobe"));
    assert!(run.stderr.contains("node is there"), "{}", run.stderr);
}

#[test]
fn a_missing_ffprobe_alone_reinstalls_the_ffmpeg_package() {
    let m = Machine::with(&["ffmpeg", "chromium", "node", "npm", "python3"]);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq ffmpeg"]);
}

/// The machine of the bug report: Node.js and npm there, no ffmpeg, no Chromium. Each is
/// installed by its own apt call, one update for both, and nodejs/npm are never asked for.
#[test]
fn a_fresh_machine_with_its_own_node_gets_ffmpeg_and_chromium_each_on_their_own() {
    let m = Machine::with(&["node", "npm", "python3"]);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq ffmpeg", "apt-get install -y -qq chromium"]);
    assert_eq!(run.calls.iter().filter(|c| c.starts_with("apt-get update")).count(), 1);
    assert!(!run.calls.iter().any(|c| c.contains("nodejs") || c.contains(" npm")), "{:?}", run.calls);
}

#[test]
fn node_and_npm_are_installed_only_when_both_are_absent() {
    let m = Machine::with(&["ffmpeg", "ffprobe", "chromium", "python3"]);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq nodejs npm"]);
}

#[test]
fn a_node_without_npm_is_not_replaced_and_the_script_says_what_to_do() {
    let m = Machine::with(&["ffmpeg", "ffprobe", "chromium", "node", "python3"]);
    let run = m.run(&[], &[]);
    assert!(!run.ok);
    assert!(installs(&run).is_empty(), "{:?}", run.calls);
    assert!(run.stderr.contains("could not install npm"), "{}", run.stderr);
    assert!(run.stderr.contains("by hand"), "{}", run.stderr);
}

#[test]
fn a_failed_install_names_the_tool_the_reason_and_the_command_by_hand() {
    let m = Machine::with(&["ffmpeg", "ffprobe", "node", "npm", "python3"]);
    let run = m.run(&[], &[("APT_FAILS", "1")]);
    assert!(!run.ok);
    assert!(run.stderr.contains("could not install chromium"), "{}", run.stderr);
    assert!(run.stderr.contains("held broken packages"), "apt's reason expected: {}", run.stderr);
    assert!(run.stderr.contains("apt-get install -y chromium"), "{}", run.stderr);
    assert!(!m.has("chromium"));
}

#[test]
fn dry_run_says_what_it_would_install_and_calls_nothing() {
    let m = Machine::with(&["node", "npm", "python3"]);
    std::fs::remove_file(m.browser().join("node_modules/.package-lock.json")).unwrap();
    let run = m.run(&["--dry-run"], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.calls.is_empty(), "{:?}", run.calls);
    for what in ["would install ffmpeg", "would install chromium", "would install browser test packages"] {
        assert!(run.stderr.contains(what), "{what}: {}", run.stderr);
    }
    assert!(!m.has("ffmpeg") && !m.has("chromium"));
}

#[test]
fn browser_packages_are_installed_from_the_lock_file_when_absent_or_stale() {
    let m = Machine::with(ALL);
    std::fs::remove_file(m.browser().join("node_modules/.package-lock.json")).unwrap();
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.calls, ["npm ci --no-audit --no-fund --silent"]);

    // The lock file changed after the last install: install again.
    let m = Machine::with(ALL);
    let lock = std::fs::File::options().write(true).open(m.browser().join("package-lock.json")).unwrap();
    lock.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    let run = m.run(&[], &[]);
    assert_eq!(run.calls, ["npm ci --no-audit --no-fund --silent"]);
}

#[test]
fn console_build_packages_are_installed_when_absent() {
    let m = Machine::with(ALL);
    std::fs::remove_file(m.console().join("node_modules/.package-lock.json")).unwrap();
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stderr.contains("installing console build packages"), "{}", run.stderr);
    assert_eq!(run.calls, ["npm ci --no-audit --no-fund --silent"]);
}

#[test]
fn not_root_installs_through_sudo() {
    let m = Machine::with(&["chromium", "node", "npm", "python3"]);
    // EUID is read-only in bash: the script's own switch takes the non-root path as root.
    let run = m.run(&[], &[("REWIND_TOOLS_SUDO", "1")]);
    assert!(run.ok, "{}", run.stderr);
    let calls = std::fs::read_to_string(m.dir.path().join("calls")).unwrap();
    assert!(calls.contains("sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg"), "{calls}");
}

#[test]
fn a_missing_python_is_installed_with_venv() {
    let m = Machine::with(&["ffmpeg", "ffprobe", "chromium", "node", "npm"]);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq python3 python3-venv"]);
}

#[test]
fn schemathesis_goes_into_its_own_venv_when_missing() {
    let m = Machine::with(ALL);
    std::fs::remove_file(m.dir.path().join("tools/py/bin/schemathesis")).unwrap();
    m.script("python3", FAKE_PYTHON_VENV);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    let venv = m.dir.path().join("tools/py");
    assert!(run.calls.contains(&format!("python3 -m venv {}", venv.display())), "{:?}", run.calls);
    assert!(run.calls.contains(&"pip install -q schemathesis==4.32.5".to_string()), "{:?}", run.calls);
    assert!(installs(&run).is_empty(), "{:?}", run.calls);
}

#[test]
fn moto_goes_into_its_own_venv_when_missing_or_another_version() {
    let m = Machine::with(ALL);
    let run = m.run(&[], &[]);
    assert!(run.stderr.contains("moto is there"), "{}", run.stderr);
    // Another version in the venv: installed again, pinned.
    m.script_at("tools/moto/bin/pip", "#!/bin/bash\n[ \"$1\" = show ] && echo 'Version: 4.0.0'\n");
    m.script("python3", FAKE_PYTHON_VENV);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    let venv = m.dir.path().join("tools/moto");
    assert!(run.calls.contains(&format!("python3 -m venv {}", venv.display())), "{:?}", run.calls);
    assert!(run.calls.contains(&"pip install -q moto[s3,server]==5.2.6".to_string()), "{:?}", run.calls);
    assert!(!run.calls.iter().any(|c| c.contains("schemathesis")), "{:?}", run.calls);
    assert!(installs(&run).is_empty(), "{:?}", run.calls);
}

#[test]
fn tencents_sdk_and_tccli_go_into_their_own_venv_pinned_together() {
    let m = Machine::with(ALL);
    let run = m.run(&[], &[]);
    assert!(run.stderr.contains("tencentcloud-sdk-python-live is there"), "{}", run.stderr);
    std::fs::remove_file(m.dir.path().join("tools/tencent/bin/tccli")).unwrap();
    m.script("python3", FAKE_PYTHON_VENV);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    let venv = m.dir.path().join("tools/tencent");
    assert!(run.calls.contains(&format!("python3 -m venv {}", venv.display())), "{:?}", run.calls);
    let want = "pip install -q tencentcloud-sdk-python-live==3.1.195 tencentcloud-sdk-python-vod==3.1.194 \
                tencentcloud-sdk-python-common==3.1.195 tccli==3.1.189.1";
    assert!(run.calls.contains(&want.to_string()), "{:?}", run.calls);
    assert!(!run.calls.iter().any(|c| c.contains("moto") || c.contains("schemathesis")), "{:?}", run.calls);
    assert!(installs(&run).is_empty(), "{:?}", run.calls);
}

#[test]
fn postgresql_is_installed_only_when_its_server_binaries_are_missing() {
    let m = Machine::with(ALL);
    let run = m.run(&[], &[]);
    assert!(run.stderr.contains("postgresql is there"), "{}", run.stderr);
    std::fs::remove_dir_all(m.dir.path().join("pg")).unwrap();
    // apt's postgresql puts initdb in the versioned folder.
    let apt = FAKE_APT.replace(
        "    *) cmds=\"$p\" ;;",
        "    postgresql) /bin/mkdir -p \"$BIN/../pg/15/bin\"; printf '#!/bin/true\\n' > \"$BIN/../pg/15/bin/initdb\"; /bin/chmod +x \"$BIN/../pg/15/bin/initdb\"; cmds=\"\" ;;\n    *) cmds=\"$p\" ;;",
    );
    m.script("apt-get", &apt);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(installs(&run), ["apt-get install -y -qq postgresql"]);
}

#[test]
fn gstreamers_rtsp_server_is_installed_only_when_python_cannot_load_it() {
    let m = Machine::with(ALL);
    let run = m.run(&[], &[]);
    assert!(run.stderr.contains("GStreamer's RTSP server is there"), "{}", run.stderr);
    // Without the bindings (or an encoder) the check fails until apt installs them.
    m.script("gst-python", "#!/bin/bash\n[ -f \"$BIN/gst-installed\" ]\n");
    let apt = FAKE_APT.replace(
        "    *) cmds=\"$p\" ;;",
        "    gir1.2-gst-rtsp-server-1.0) cmds=\"gst-installed\" ;;\n    gstreamer1.0-*|python3-gi) cmds=\"\" ;;\n    *) cmds=\"$p\" ;;",
    );
    m.script("apt-get", &apt);
    let run = m.run(&[], &[]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        installs(&run),
        [
            "apt-get install -y -qq gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
          gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly python3-gi"
        ]
    );
    // Installed but still not loadable: a clear failure.
    std::fs::remove_file(m.bin().join("gst-installed")).unwrap();
    m.script("apt-get", FAKE_APT);
    let run = m.run(&[], &[]);
    assert!(!run.ok && run.stderr.contains("cannot load GstRtspServer"), "{}", run.stderr);
}
