//! The source tree's layers, checked: every `crate::…` path in `src/` points to the file's own
//! layer or one below it, and only `storage/sqlite/` knows SQLite's driver. From the bottom:
//! `core/` (pure), `storage/`, `engine/`, `adapters/`, `config.rs`, `cli/`, and
//! `lib.rs`/`main.rs` on top. The short names `lib.rs` re-exports
//! (`crate::domain`, `crate::grpc`, …) count as the layer their module lives in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// A layer's rank: a file may import its own rank or a lower one.
fn rank(layer: &str) -> Option<u8> {
    Some(match layer {
        "core" => 0,
        "storage" => 1,
        "engine" => 2,
        "adapters" => 3,
        "config" => 4,
        "cli" => 5,
        "root" => 6,
        _ => return None,
    })
}

/// The layer a `crate::NAME` path names.
fn layer_of_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "core" | "domain" | "conversation" | "desk" | "hours" | "stats" | "inbound" => "core",
        "storage" => "storage",
        "engine" => "engine",
        "adapters" | "grpc" | "health" | "http" | "metrics" | "outbound" | "rest" | "server"
        | "throttle" | "webhook" => "adapters",
        "config" => "config",
        "cli" | "admin_cli" | "cli_output" | "simulate" | "students" => "cli",
        // Items defined in lib.rs itself (Daemon, StartError, …).
        _ => return None,
    })
}

/// The layer a file under `src/` belongs to.
fn layer_of_file(rel: &Path) -> &'static str {
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    match first {
        "core" => "core",
        "storage" => "storage",
        "engine" => "engine",
        "adapters" => "adapters",
        "cli" => "cli",
        "config.rs" => "config",
        _ => "root",
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every module name that follows `crate::`, including inside `use crate::{a::…, b, …}`.
fn crate_paths(src: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: the first word after `{` or a `,` at depth 0.
            let mut depth = 0;
            let mut expect_name = true;
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if expect_name && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if expect_name && !word.is_empty() => {
                        names.push(std::mem::take(&mut word));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
            if !word.is_empty() {
                names.push(word);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(word);
        }
    }
    names
}

#[test]
fn no_import_runs_back_up_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let from = layer_of_file(rel);
        let text = std::fs::read_to_string(file).unwrap();
        for name in crate_paths(&text) {
            let Some(to) = layer_of_name(&name) else {
                continue;
            };
            if rank(to) > rank(from) {
                wrong.push(format!(
                    "{} ({from}) uses crate::{name} ({to})",
                    rel.display()
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports that run back up the layers:\n{}",
        wrong.join("\n")
    );
}

/// One storage interface, a backend per folder (issue 15): each SQL driver is named only inside
/// its backend's folder (`rusqlite` in `storage/sqlite/`, `tokio_postgres` in
/// `storage/postgres/`), and nothing outside `storage/` reaches into a backend's folder.
#[test]
fn only_each_backend_knows_its_driver() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let in_sqlite = rel.starts_with("storage/sqlite");
        if !in_sqlite && text.contains("rusqlite") {
            wrong.push(format!("{} names rusqlite", rel.display()));
        }
        let in_postgres = rel.starts_with("storage/postgres");
        if !in_postgres && (text.contains("tokio_postgres") || text.contains("tokio-postgres")) {
            wrong.push(format!("{} names tokio_postgres", rel.display()));
        }
        if !rel.starts_with("storage") && text.contains("storage::sqlite") {
            wrong.push(format!("{} reaches into storage::sqlite", rel.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_path_scanner_reads_groups_and_plain_paths() {
    let names = crate_paths(
        "use crate::{\n    desk::{self, Caller},\n    domain::Address,\n};\nlet x = crate::engine::Engine::new;",
    );
    assert_eq!(names, ["desk", "domain", "engine"]);
}
