//! Checks for user-supplied values that end up as argv elements.
//!
//! The host hands every argv element to the remote program as one literal
//! argument, so none of this is about shell quoting; it is defence in depth
//! (no option injection, no surprises in logs) and gives callers a clear
//! invalid-input error instead of a confusing remote failure.

/// A systemd unit name (`nginx`, `getty@tty1.service`, `sys-devices-x.device`):
/// `^[A-Za-z0-9@._:-]+$`, at most 256 bytes, not starting with `-` or `.`.
pub fn unit_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err("a unit name must be 1 to 256 characters".to_owned());
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err(format!(
            "invalid unit name `{name}`: must not start with `-` or `.`"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | ':' | '-')))
    {
        return Err(format!(
            "invalid unit name `{name}`: character {c:?} is not allowed (allowed: A-Z a-z 0-9 @ . _ : -)"
        ));
    }
    Ok(())
}

/// Syslog priority names, index = level.
pub const PRIORITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// A journal priority given as a number 0–7 or a name (`err`, `warning`;
/// also `error`, `warn`, `emergency`, `critical`, `panic`); returns the level.
pub fn priority(p: &str) -> Result<u8, String> {
    let p = p.trim().to_ascii_lowercase();
    if let Ok(n) = p.parse::<u8>()
        && n <= 7
    {
        return Ok(n);
    }
    let alias = match p.as_str() {
        "emergency" | "panic" => Some(0),
        "critical" => Some(2),
        "error" => Some(3),
        "warn" => Some(4),
        _ => None,
    };
    alias
        .or_else(|| PRIORITY_NAMES.iter().position(|n| *n == p).map(|i| i as u8))
        .ok_or_else(|| {
            format!(
                "invalid priority `{p}`: use 0-7 or one of {}",
                PRIORITY_NAMES.join(", ")
            )
        })
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn clock(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    (parts.len() == 2 || parts.len() == 3) && parts.iter().all(|p| digits(p, 2))
}

fn date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3 && digits(parts[0], 4) && digits(parts[1], 2) && digits(parts[2], 2)
}

const TIME_UNITS: &[&str] = &[
    "us", "usec", "ms", "msec", "s", "sec", "second", "seconds", "m", "min", "minute", "minutes",
    "h", "hr", "hour", "hours", "d", "day", "days", "w", "week", "weeks", "month", "months", "y",
    "year", "years",
];

/// `N` followed by a unit (`30min`, `2h`), or `N unit` as two words.
fn span(s: &str) -> bool {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    !num.is_empty() && num.len() <= 9 && TIME_UNITS.contains(&unit.trim_start())
}

/// A `journalctl --since` value in a strict subset of systemd.time(7):
/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, `HH:MM[:SS]`, `today`,
/// `yesterday`, `now`, `-N<unit>` / `+N<unit>`, `N <unit> ago`, `@EPOCH`.
pub fn since(value: &str) -> Result<(), String> {
    let v = value.trim();
    let ok = v.len() <= 40
        && (matches!(v, "today" | "yesterday" | "now")
            || date(v)
            || clock(v)
            || v.split_once(' ').is_some_and(|(d, t)| date(d) && clock(t))
            || v.split_once('T').is_some_and(|(d, t)| date(d) && clock(t))
            || v.strip_prefix('@').is_some_and(|e| {
                !e.is_empty() && e.len() <= 12 && e.bytes().all(|b| b.is_ascii_digit())
            })
            || v.strip_prefix('-').is_some_and(span)
            || v.strip_prefix('+').is_some_and(span)
            || v.strip_suffix(" ago").is_some_and(span));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid `since` value `{value}`: use YYYY-MM-DD[ HH:MM[:SS]], HH:MM[:SS], today, \
             yesterday, now, -1h, -30min, `2 days ago` or @EPOCH"
        ))
    }
}

/// A free-text pattern (journal `--grep`, a container name filter…): 1–256
/// characters, no control characters.
pub fn pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.chars().count() > 256 {
        return Err("a pattern must be 1 to 256 characters".to_owned());
    }
    if p.chars().any(char::is_control) {
        return Err("a pattern must not contain control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        for ok in [
            "nginx",
            "ssh.service",
            "getty@tty1.service",
            "sys-devices-x.device",
            "a:b_c",
        ] {
            assert!(unit_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".hidden",
            "a b",
            "x;rm -rf /",
            "$(id)",
            "a/b",
            "ü",
            &"a".repeat(257),
        ] {
            assert!(unit_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priorities() {
        assert_eq!(priority("0"), Ok(0));
        assert_eq!(priority("7"), Ok(7));
        assert_eq!(priority("err"), Ok(3));
        assert_eq!(priority("WARNING"), Ok(4));
        assert_eq!(priority("error"), Ok(3));
        assert_eq!(priority("debug"), Ok(7));
        assert!(priority("8").is_err());
        assert!(priority("loud").is_err());
        assert!(priority("-1").is_err());
    }

    #[test]
    fn since_values() {
        for ok in [
            "today",
            "yesterday",
            "now",
            "2024-05-02",
            "2024-05-02 10:11",
            "2024-05-02 10:11:12",
            "2024-05-02T10:11:12",
            "10:11",
            "10:11:12",
            "-1h",
            "-30min",
            "+5m",
            "2 days ago",
            "1h ago",
            "@1714643472",
        ] {
            assert!(since(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "tomorrow-ish",
            "2024-5-2",
            "10:1",
            "-1 parsec",
            "--help",
            "-h",
            "; rm -rf /",
            "2024-05-02 10:11:12 UTC; id",
            "@",
            "1h",
            "-",
            "2 days",
            "@12a",
        ] {
            assert!(since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        assert!(pattern("error|fail").is_ok());
        assert!(
            pattern("-x").is_ok(),
            "passed as --grep=VALUE, so a leading dash is harmless"
        );
        assert!(pattern("").is_err());
        assert!(pattern("a\nb").is_err());
        assert!(pattern(&"x".repeat(300)).is_err());
    }
}
