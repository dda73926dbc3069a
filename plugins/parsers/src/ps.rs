//! `ps -eo pid,user:32,pcpu,pmem,rss,comm --sort=-pcpu`.

use crate::ParseError;
use serde::Serialize;

/// One process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Owner (name, or uid when the name is unknown).
    pub user: String,
    /// CPU share over the process's lifetime, percent of one CPU.
    pub cpu_percent: f64,
    /// Resident memory as a share of physical memory, percent.
    pub mem_percent: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Executable name (`comm`, at most 15 characters; may contain spaces).
    pub command: String,
}

/// Parses the output of `ps -eo pid,user,pcpu,pmem,rss,comm` (header line
/// optional). Order is kept, so `--sort` decides it.
pub fn parse_ps(text: &str) -> Result<Vec<Process>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("PID") {
            continue;
        }
        let bad = || ParseError::new(format!("unexpected ps line: `{trimmed}`"));
        // Five whitespace-separated fields, then the command (which may
        // contain spaces) as the rest of the line.
        let mut rest = trimmed;
        let mut fields = Vec::with_capacity(5);
        for _ in 0..5 {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).ok_or_else(bad)?;
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let command = rest.trim();
        out.push(Process {
            pid: fields[0].parse().map_err(|_| bad())?,
            user: fields[1].to_owned(),
            cpu_percent: fields[2].parse().map_err(|_| bad())?,
            mem_percent: fields[3].parse().map_err(|_| bad())?,
            rss_bytes: fields[4]
                .parse::<u64>()
                .map_err(|_| bad())?
                .saturating_mul(1024),
            command: command.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_real_sample() {
        let ps = parse_ps(include_str!("../testdata/ps.txt")).unwrap();
        assert!(ps.len() > 10);
        assert_eq!(ps[0].pid, 17785);
        assert_eq!(ps[0].user, "root");
        assert_eq!(ps[0].cpu_percent, 62.9);
        assert_eq!(ps[0].mem_percent, 2.0);
        assert_eq!(ps[0].rss_bytes, 511928 * 1024);
        assert_eq!(ps[0].command, "rustc");
        // Sorted by CPU, as ps printed it.
        assert!(ps.windows(2).all(|w| w[0].cpu_percent >= w[1].cpu_percent));
    }

    #[test]
    fn ps_command_with_spaces_and_bad_lines() {
        let ps =
            parse_ps("  PID USER %CPU %MEM RSS COMMAND\n  42 www-data 1.5 0.3 2048 Web Content\n")
                .unwrap();
        assert_eq!(ps[0].command, "Web Content");
        assert_eq!(ps[0].rss_bytes, 2048 * 1024);
        assert!(parse_ps("abc root 1 1 1 x\n").is_err());
        assert!(parse_ps("12 root\n").is_err());
    }
}
