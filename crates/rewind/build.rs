//! Embeds the web console's built assets (`console/dist`, committed: building rewind
//! needs no Node.js) into the binary as a table of (path, bytes, gzipped bytes).

use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.extension().is_none_or(|x| x != "gz") {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((format!("/{rel}"), p));
        }
    }
}

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from("/// The console's files: (path, bytes, gzip of them when built).\n");
    code.push_str("pub static FILES: &[ConsoleFile] = &[\n");
    for (rel, path) in files {
        let gz = PathBuf::from(format!("{}.gz", path.display()));
        let gz = if gz.exists() {
            format!("Some(include_bytes!({:?}))", gz.display().to_string())
        } else {
            "None".into()
        };
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?}), {gz}),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("console_files.rs");
    std::fs::write(out, code).unwrap();
}
