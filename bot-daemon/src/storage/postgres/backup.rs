//! `bot-daemon backup` on PostgreSQL: PostgreSQL's own `pg_dump`, run for the operator after
//! checking that it can read this server (a `pg_dump` older than the server refuses to dump
//! it, and one that is found but too old is the usual surprise on a host with several client
//! versions). The dump is one consistent snapshot (`pg_dump` reads in one repeatable-read
//! transaction) taken while the daemons keep serving; its custom format restores with
//! `pg_restore --dbname … FILE` into an empty database.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use super::conn::Conn;
use crate::storage::{without_password, StoreError};

/// What a backup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBackup {
    /// The server's version (`server_version`).
    pub server_version: String,
    /// The `pg_dump` that ran, and its version line.
    pub pg_dump: PathBuf,
    /// `pg_dump (PostgreSQL) 15.18 …`.
    pub pg_dump_version: String,
    /// The dump's size in bytes.
    pub bytes: u64,
}

/// The major version in `pg_dump --version`'s line (`pg_dump (PostgreSQL) 15.18 (Debian …)`).
fn major_of(line: &str) -> Option<u32> {
    line.split_whitespace()
        .find_map(|w| w.split('.').next()?.parse::<u32>().ok())
}

/// Every `pg_dump` this host has: on `PATH`, and Debian's per-version directories.
fn candidates() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("pg_dump"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        for d in dirs.filter_map(Result::ok) {
            let p = d.path().join("bin/pg_dump");
            if p.is_file() {
                found.push(p);
            }
        }
    }
    found
}

fn version_of(pg_dump: &Path) -> Option<String> {
    let out = Command::new(pg_dump).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The password in `url`, if any, and `url` without it (given to `pg_dump` through
/// `PGPASSWORD`, never on its command line where `ps` would show it).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, pass)) => (
                format!("{scheme}://{user}@{host}{tail}"),
                Some(pass.to_string()),
            ),
            None => (url.to_string(), None),
        },
        None => (url.to_string(), None),
    }
}

/// Dumps the database at `url` to the new file `dest` with a `pg_dump` at least as new as the
/// server. Blocking.
///
/// # Errors
/// `dest` exists ([`StoreError::Conflict`]); the server cannot be reached; no suitable
/// `pg_dump` ([`StoreError::Unavailable`], saying which version to install); `pg_dump` failed
/// (its message).
pub fn backup(url: &str, dest: &Path) -> Result<PgBackup, StoreError> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; choose a new file",
            dest.display()
        )));
    }
    let mut conn = Conn::connect(url)?;
    let row = conn.client().query_one(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
        &[],
    )?;
    let server_version: String = row.get(0);
    let server_num: i32 = row.get(1);
    let server_major = u32::try_from(server_num / 10_000).unwrap_or(0);
    drop(conn);
    let mut seen = Vec::new();
    let mut best: Option<(u32, PathBuf, String)> = None;
    for p in candidates() {
        let Some(line) = version_of(&p) else { continue };
        let Some(major) = major_of(&line) else {
            continue;
        };
        seen.push(format!("{} ({line})", p.display()));
        if major >= server_major && best.as_ref().is_none_or(|(m, _, _)| major < *m) {
            best = Some((major, p, line));
        }
    }
    let Some((_, pg_dump, pg_dump_version)) = best else {
        return Err(StoreError::Unavailable(format!(
            "the server runs PostgreSQL {server_version}, and pg_dump {server_major} or newer is \
             needed to dump it; found {}. Install it (Debian: apt-get install \
             postgresql-client-{server_major}) and run backup again",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        )));
    };
    let (bare_url, password) = split_password(url);
    let mut cmd = Command::new(&pg_dump);
    cmd.args(["--format=custom", "--no-owner", "--file"])
        .arg(dest)
        .arg("--dbname")
        .arg(&bare_url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .map_err(|e| StoreError::Unavailable(format!("running {}: {e}", pg_dump.display())))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(dest);
        return Err(StoreError::Unavailable(format!(
            "{} could not dump {}: {}",
            pg_dump.display(),
            without_password(url),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(PgBackup {
        server_version,
        pg_dump,
        pg_dump_version,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_line_gives_its_major() {
        assert_eq!(
            major_of("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_of("nothing"), None);
    }

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://desk:s3cret@db:5432/chat?sslmode=require"),
            (
                "postgres://desk@db:5432/chat?sslmode=require".to_string(),
                Some("s3cret".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://desk@db/chat"),
            ("postgres://desk@db/chat".to_string(), None)
        );
    }
}
