//! `journalctl --output=json` (one JSON object per line) and the classic
//! syslog file fallback (`/var/log/syslog`, `/var/log/messages`).

use crate::ParseError;
use crate::time::rfc3339_from_micros;
use crate::validate::PRIORITY_NAMES;
use serde::Serialize;
use serde_json::Value;

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// RFC 3339 (journal: UTC from `__REALTIME_TIMESTAMP`; syslog: as written
    /// in the file, which for the traditional format has no year or zone).
    pub timestamp: Option<String>,
    /// Syslog priority 0–7 when known.
    pub priority: Option<u8>,
    /// Its name (`err`, `info`…).
    pub priority_name: Option<String>,
    /// The systemd unit (`_SYSTEMD_UNIT`, or `UNIT` for systemd's own messages).
    pub unit: Option<String>,
    /// `SYSLOG_IDENTIFIER` / the syslog tag (`sshd`, `kernel`).
    pub identifier: Option<String>,
    /// Process id.
    pub pid: Option<u32>,
    /// Host name.
    pub hostname: Option<String>,
    /// The message.
    pub message: String,
}

/// A journal field: a string, an array of bytes (non-UTF-8 data), an array
/// of strings (the field was repeated; the first is taken) or null.
fn field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| b.min(255) as u8)
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => items.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn priority_name(p: Option<u8>) -> Option<String> {
    p.and_then(|p| PRIORITY_NAMES.get(usize::from(p)))
        .map(|s| (*s).to_owned())
}

/// Parses `journalctl --output=json` output. Blank lines and a trailing
/// `-- No entries --` are skipped; any other non-JSON line is an error.
pub fn parse_journal_json(text: &str) -> Result<Vec<LogEntry>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("-- ") {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| ParseError::new(format!("journal line {}: {e}", i + 1)))?;
        let priority = field(&v, "PRIORITY").and_then(|p| p.trim().parse::<u8>().ok());
        out.push(LogEntry {
            timestamp: field(&v, "__REALTIME_TIMESTAMP")
                .and_then(|t| t.parse::<u64>().ok())
                .map(rfc3339_from_micros),
            priority,
            priority_name: priority_name(priority),
            unit: field(&v, "_SYSTEMD_UNIT").or_else(|| field(&v, "UNIT")),
            identifier: field(&v, "SYSLOG_IDENTIFIER").or_else(|| field(&v, "_COMM")),
            pid: field(&v, "_PID")
                .or_else(|| field(&v, "SYSLOG_PID"))
                .and_then(|p| p.parse().ok()),
            hostname: field(&v, "_HOSTNAME"),
            message: field(&v, "MESSAGE").unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Parses one syslog line, RFC 3339 (`2024-05-02T10:11:12.123+00:00 host
/// tag[pid]: msg`, rsyslog's default on Debian 12) or traditional (`May  2
/// 10:11:12 host tag[pid]: msg`). Unrecognised lines become a bare message.
pub fn parse_syslog_line(line: &str) -> LogEntry {
    let bare = || LogEntry {
        timestamp: None,
        priority: None,
        priority_name: None,
        unit: None,
        identifier: None,
        pid: None,
        hostname: None,
        message: line.to_owned(),
    };
    let (timestamp, rest) = if line.len() > 19
        && line.as_bytes().get(4) == Some(&b'-')
        && line.as_bytes().get(10) == Some(&b'T')
    {
        match line.split_once(' ') {
            Some((ts, rest)) => (ts.to_owned(), rest),
            None => return bare(),
        }
    } else if line.len() > 16 && line.as_bytes()[..3].iter().all(u8::is_ascii_alphabetic) {
        // "May  2 10:11:12" is 15 bytes.
        match line.get(..15) {
            Some(ts) if line.as_bytes().get(15) == Some(&b' ') => (ts.to_owned(), &line[16..]),
            _ => return bare(),
        }
    } else {
        return bare();
    };
    let Some((host, rest)) = rest.split_once(' ') else {
        return bare();
    };
    let (tag, message) = match rest.split_once(": ") {
        Some((tag, msg)) if !tag.contains(' ') => (Some(tag), msg),
        _ => (None, rest),
    };
    let (identifier, pid) = match tag {
        Some(t) => match t.strip_suffix(']').and_then(|t| t.split_once('[')) {
            Some((name, pid)) => (Some(name.to_owned()), pid.parse().ok()),
            None => (Some(t.to_owned()), None),
        },
        None => (None, None),
    };
    LogEntry {
        timestamp: Some(timestamp),
        priority: None,
        priority_name: None,
        unit: None,
        identifier,
        pid,
        hostname: Some(host.to_owned()),
        message: message.to_owned(),
    }
}

/// Parses the lines of a syslog file (see [`parse_syslog_line`]).
pub fn parse_syslog(text: &str) -> Vec<LogEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_syslog_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_json_lines() {
        let e = parse_journal_json(include_str!("../testdata/journal.jsonl")).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0].timestamp.as_deref(),
            Some("2024-05-02T09:51:12.123456Z")
        );
        assert_eq!(e[0].priority, Some(6));
        assert_eq!(e[0].priority_name.as_deref(), Some("info"));
        assert_eq!(e[0].unit.as_deref(), Some("ssh.service"));
        assert_eq!(e[0].identifier.as_deref(), Some("sshd"));
        assert_eq!(e[0].pid, Some(812));
        assert_eq!(e[0].hostname.as_deref(), Some("nas01"));
        assert!(e[0].message.starts_with("Accepted publickey"));
        assert_eq!(e[1].priority_name.as_deref(), Some("err"));
        // MESSAGE as a byte array with an invalid UTF-8 byte.
        assert_eq!(e[2].message, "ata1.00: \u{fffd}link down");
        assert_eq!(e[2].unit, None);
        // systemd's own messages name the unit in UNIT.
        assert_eq!(e[3].unit.as_deref(), Some("apt-daily.service"));
    }

    #[test]
    fn journal_edge_cases() {
        assert!(parse_journal_json("").unwrap().is_empty());
        assert!(parse_journal_json("-- No entries --\n").unwrap().is_empty());
        assert!(parse_journal_json("{\"MESSAGE\":\"x\"}\nnot json\n").is_err());
        let e = parse_journal_json(r#"{"MESSAGE":null,"PRIORITY":"9","_PID":["5","6"]}"#).unwrap();
        assert_eq!(e[0].message, "");
        assert_eq!(e[0].priority, Some(9));
        assert_eq!(e[0].priority_name, None);
        assert_eq!(e[0].pid, Some(5));
    }

    #[test]
    fn syslog_both_formats() {
        let e = parse_syslog(include_str!("../testdata/syslog.txt"));
        assert_eq!(e.len(), 4);
        assert_eq!(
            e[0].timestamp.as_deref(),
            Some("2024-05-02T10:11:12.123456+00:00")
        );
        assert_eq!(e[0].hostname.as_deref(), Some("nas01"));
        assert_eq!(e[0].identifier.as_deref(), Some("sshd"));
        assert_eq!(e[0].pid, Some(812));
        assert!(e[0].message.starts_with("Accepted publickey"));
        assert_eq!(e[2].timestamp.as_deref(), Some("May  2 10:11:14"));
        assert_eq!(e[2].identifier.as_deref(), Some("kernel"));
        assert_eq!(e[2].pid, None);
        assert_eq!(e[3].identifier.as_deref(), Some("CRON"));
        assert_eq!(e[3].pid, Some(2211));
        let odd = parse_syslog_line("random text");
        assert_eq!(odd.message, "random text");
        assert_eq!(odd.timestamp, None);
    }
}
