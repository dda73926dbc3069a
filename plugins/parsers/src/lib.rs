//! Parsers for the output of the programs toolhost plugins run on devices.
//!
//! Pure Rust with no WIT bindings, so the tests run natively
//! (`cargo test -p toolhost-parsers`) while the `system`, `network` and
//! `utility` plugins link the same code into their wasm components. Every
//! parser takes the program's stdout as text and returns serializable types;
//! failures are [`ParseError`]s naming what did not parse, never panics.
//!
//! The test samples under `testdata/` were captured on a Debian 12 machine
//! (`/proc`, `ip -j`, `ss`, `df`, `ps`, `lsblk`, `grep -H`) or written in the
//! documented upstream formats (smartctl `--json`, `journalctl
//! --output=json`, `systemctl list-units --output=json` / `show`, `docker
//! network ls --format '{{json .}}'` / `inspect`).

// Tests unwrap freely: a panic is exactly the failure report wanted there.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod devinfo;
pub mod df;
pub mod docker;
pub mod ip;
pub mod journal;
pub mod lsblk;
pub mod procfs;
pub mod ps;
pub mod smart;
pub mod ss;
pub mod systemd;
pub mod time;
pub mod validate;

use std::fmt;

/// Output that did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl ParseError {
    /// A parse error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError(format!("invalid JSON: {e}"))
    }
}

/// Splits `grep -H -s '' FILE...` output (`path:line` per line) into the
/// lines of each file, in the order the files appeared.
///
/// Paths are split at the first `:`, so they must not contain one (none of
/// the `/proc`, `/sys` and `/etc` paths the plugins read do).
pub fn split_grep_h(output: &str) -> Vec<(String, Vec<String>)> {
    let mut files: Vec<(String, Vec<String>)> = Vec::new();
    for line in output.lines() {
        let Some((path, rest)) = line.split_once(':') else {
            continue;
        };
        match files.last_mut() {
            Some((p, lines)) if p == path => lines.push(rest.to_owned()),
            _ => files.push((path.to_owned(), vec![rest.to_owned()])),
        }
    }
    files
}

/// The lines `split_grep_h` found for `path`, joined with newlines, or
/// `None` when grep printed nothing for it (missing, unreadable or empty).
pub fn grep_h_file(files: &[(String, Vec<String>)], path: &str) -> Option<String> {
    files
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, lines)| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_h_groups_lines_by_file() {
        let files = split_grep_h(include_str!("../testdata/grep_H.txt"));
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/os-release",
                "/proc/sys/kernel/osrelease",
                "/proc/meminfo",
                "/proc/uptime",
                "/proc/cpuinfo",
                "/proc/filesystems",
                "/proc/1/cgroup",
            ]
        );
        assert_eq!(
            grep_h_file(&files, "/proc/sys/kernel/osrelease").as_deref(),
            Some("6.18.44-fc-v657")
        );
        assert!(grep_h_file(&files, "/sys/class/dmi/id/product_name").is_none());
    }
}
