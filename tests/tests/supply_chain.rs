//! Supply chain: cargo-deny checks advisories, licences, bans and sources
//! (deny.toml). Advisories come from the live RustSec database when it can
//! be fetched, otherwise from the cached copy in deny/advisory-db.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// Where cargo-deny keeps the database of its default URL, under db-path.
const DEFAULT_DB_DIR: &str = "advisory-db-3157b0e258782691";

fn cargo_deny(args: &[&str]) -> Output {
    Command::new("cargo")
        .arg("deny")
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("cargo runs")
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=hub",
            "-c",
            "user.email=hub@example.nl",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Puts the cached advisory database where cargo-deny looks, as a git
/// repository (which is how cargo-deny reads it).
fn install_cached_database(fetch_output: &str) -> PathBuf {
    let target = fetch_output
        .lines()
        .find_map(|l| {
            l.split("Cloning into '")
                .nth(1)
                .and_then(|r| r.split('\'').next())
        })
        .map_or_else(
            || {
                Path::new(ROOT)
                    .join("target/advisory-dbs")
                    .join(DEFAULT_DB_DIR)
            },
            |p| Path::new(ROOT).join(p),
        );
    let _ = std::fs::remove_dir_all(&target);
    let source = Path::new(ROOT).join("deny/advisory-db");
    assert!(
        source.join("crates").is_dir(),
        "the cached advisory database is missing: {}",
        source.display()
    );
    copy_dir(&source, &target);
    git(&target, &["init", "-q"]);
    git(&target, &["add", "-A"]);
    git(&target, &["commit", "-q", "-m", "cached advisory database"]);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn cargo_deny_passes_advisories_licences_bans_and_sources() {
    let version = Command::new("cargo").args(["deny", "--version"]).output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "cargo-deny is not installed: run `bash .ci/services` or `cargo install cargo-deny --locked`"
    );
    let fetch = cargo_deny(&["fetch"]);
    let database = if fetch.status.success() {
        "the live RustSec database".to_owned()
    } else {
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&fetch.stdout),
            String::from_utf8_lossy(&fetch.stderr)
        );
        let path = install_cached_database(&output);
        format!(
            "the cached copy in deny/advisory-db (the live one could not be fetched), at {}",
            path.display()
        )
    };
    println!("advisories checked against {database}");
    let check = cargo_deny(&["--offline", "check"]);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "cargo deny check failed:\n{output}");
    for check in ["advisories ok", "bans ok", "licenses ok", "sources ok"] {
        assert!(output.contains(check), "`{check}` missing:\n{output}");
    }
}
