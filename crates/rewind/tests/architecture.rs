//! Architecture invariants that a grep can keep (ARCHITECTURE.md): SQL lives only in the
//! store module of its table, object keys are named only in `storage::keys`, and every
//! publish goes through `ingest::lifecycle`.

use std::path::{Path, PathBuf};

fn sources() -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                let text = std::fs::read_to_string(&p).unwrap();
                // Unit tests may set up what they check.
                let code = text.split("#[cfg(test)]").next().unwrap().to_string();
                out.push((rel, code));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// The store modules: one per table (or aggregate), the only places with SQL.
const STORES: &[&str] = &[
    "db/migrations.rs",     // the schema
    "db/mod.rs",            // the pool
    "library/media.rs",     // media, media_stats
    "recording/journal.rs", // recording_file
    "recording/catalog.rs", // record_template, record_rule
    "timeline/index.rs",    // timeline_init, timeline_chunk, timeline_run, timeline_stream, timeline_hole
    "timeline/locator.rs",  // locator
    "tasks/store.rs",       // record_task
    "callbacks/outbox.rs",  // callback_outbox
    "callbacks/targets.rs", // callback_template, callback_rule
    "stream_forbids.rs",    // stream_forbid
    "publish_history.rs",   // publish_history
    "domains.rs",           // domain
    "registry.rs",          // stream (known streams)
    "nodes.rs",             // node
    "leases.rs",            // stream_lease, job_lease (and the fence read by timeline/index.rs)
    "config_sync.rs",       // config_version
    "sources/store.rs",     // rtsp_source, rtsp_source_status
];

#[test]
fn sql_lives_only_in_the_store_module_of_its_table() {
    let mut offenders = Vec::new();
    for (file, code) in sources() {
        if STORES.contains(&file.as_str()) {
            continue;
        }
        for needle in ["sqlx::query", ".pool()", "SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE "] {
            if code.contains(needle) {
                offenders.push(format!("{file}: {needle}"));
            }
        }
    }
    assert!(offenders.is_empty(), "SQL outside the store modules: {offenders:#?}");
}

#[test]
fn object_keys_are_named_only_in_storage_keys() {
    let mut offenders = Vec::new();
    for (file, code) in sources() {
        if file == "storage/keys.rs" {
            continue;
        }
        for needle in ["\"{}.m4s\"", "join(\"media\")", "join(\"timeline\")", "\"media/", "\"timeline/{}"] {
            if code.contains(needle) {
                offenders.push(format!("{file}: {needle}"));
            }
        }
    }
    assert!(offenders.is_empty(), "object keys built outside storage::keys: {offenders:#?}");
}

#[test]
fn every_publish_goes_through_the_lifecycle() {
    let mut offenders = Vec::new();
    for (file, code) in sources() {
        if file == "ingest/lifecycle.rs" {
            continue;
        }
        // A live session is made, and its recorders started for a publish, only there.
        for needle in ["Arc::new(LiveStream {", "registry.register(", "leases::acquire("] {
            if code.contains(needle) {
                offenders.push(format!("{file}: {needle}"));
            }
        }
    }
    assert!(offenders.is_empty(), "a publish started outside ingest::lifecycle: {offenders:#?}");
}
