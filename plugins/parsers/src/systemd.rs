//! `systemctl list-units --type=service --all --output=json` (systemd ≥ 249),
//! its plain-text table (older systemd), and `systemctl show --property=…`.

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// One unit row of `systemctl list-units`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Unit name (`cron.service`).
    pub unit: String,
    /// LOAD: `loaded`, `not-found`, `masked`, `error`…
    pub load: String,
    /// ACTIVE: `active`, `inactive`, `failed`, `activating`…
    pub active: String,
    /// SUB: `running`, `exited`, `dead`, `failed`…
    pub sub: String,
    /// DESCRIPTION.
    #[serde(default)]
    pub description: String,
}

/// True when the output looks like the JSON array systemd ≥ 249 prints.
pub fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('[')
}

/// Parses the `--output=json` array.
pub fn parse_list_units_json(text: &str) -> Result<Vec<Unit>, ParseError> {
    Ok(serde_json::from_str(text.trim())?)
}

/// Parses the plain-text table (with or without header and legend; the `●`
/// or `*` failure marker is dropped).
pub fn parse_list_units_text(text: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line
            .trim_start()
            .trim_start_matches(['●', '*'])
            .trim_start();
        if line.is_empty() {
            if !out.is_empty() {
                break; // the legend follows the first blank line
            }
            continue;
        }
        let mut rest = line;
        let mut f = Vec::with_capacity(4);
        for _ in 0..4 {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            f.push(&rest[..end]);
            rest = &rest[end..];
        }
        if f[0] == "UNIT" || f[3].is_empty() || !f[0].contains('.') {
            continue;
        }
        out.push(Unit {
            unit: f[0].to_owned(),
            load: f[1].to_owned(),
            active: f[2].to_owned(),
            sub: f[3].to_owned(),
            description: rest.trim().to_owned(),
        });
    }
    out
}

/// Parses `list-units` output in either format.
pub fn parse_list_units(text: &str) -> Result<Vec<Unit>, ParseError> {
    if looks_like_json(text) {
        parse_list_units_json(text)
    } else {
        Ok(parse_list_units_text(text))
    }
}

/// `systemctl show SERVICE --property=Id,Description,LoadState,ActiveState,
/// SubState,MainPID,ExecMainStartTimestamp,MemoryCurrent,NRestarts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// Full unit name.
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// `loaded`, `not-found`, `masked`…
    pub load_state: String,
    /// `active`, `inactive`, `failed`…
    pub active_state: String,
    /// `running`, `dead`…
    pub sub_state: String,
    /// Main process id; `None` when not running.
    pub main_pid: Option<u32>,
    /// When the main process started, as systemd prints it.
    pub started_at: Option<String>,
    /// Memory in use (cgroup accounting); `None` when not tracked.
    pub memory_bytes: Option<u64>,
    /// Automatic restarts since the unit was loaded.
    pub restarts: Option<u64>,
}

impl ServiceStatus {
    /// systemd knows no unit file for it.
    pub fn not_found(&self) -> bool {
        self.load_state == "not-found"
    }
}

/// The properties `get_service_status` asks for, in `--property=` form.
pub const SHOW_PROPERTIES: &str = "Id,Description,LoadState,ActiveState,SubState,MainPID,ExecMainStartTimestamp,MemoryCurrent,NRestarts";

/// Parses `systemctl show` `Key=Value` lines.
pub fn parse_show(text: &str) -> Result<ServiceStatus, ParseError> {
    let mut map = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            map.insert(k.trim(), v.trim());
        }
    }
    let get = |k: &str| {
        map.get(k)
            .copied()
            .filter(|v| !v.is_empty() && *v != "n/a" && *v != "[not set]")
    };
    let id = get("Id").ok_or_else(|| ParseError::new("systemctl show printed no Id"))?;
    Ok(ServiceStatus {
        id: id.to_owned(),
        description: get("Description").map(str::to_owned),
        load_state: get("LoadState").unwrap_or("unknown").to_owned(),
        active_state: get("ActiveState").unwrap_or("unknown").to_owned(),
        sub_state: get("SubState").unwrap_or("unknown").to_owned(),
        main_pid: get("MainPID")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0),
        started_at: get("ExecMainStartTimestamp").map(str::to_owned),
        // u64::MAX means "infinity"/not tracked.
        memory_bytes: get("MemoryCurrent")
            .and_then(|m| m.parse().ok())
            .filter(|m| *m != u64::MAX),
        restarts: get("NRestarts").and_then(|n| n.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_units_json() {
        let units =
            parse_list_units(include_str!("../testdata/systemctl_list_units.json")).unwrap();
        assert_eq!(units.len(), 6);
        assert_eq!(units[0].unit, "cron.service");
        assert_eq!(units[0].active, "active");
        assert_eq!(units[0].sub, "running");
        assert_eq!(units[3].active, "failed");
        assert_eq!(units[4].load, "not-found");
        assert_eq!(units[5].unit, "getty@tty1.service");
    }

    #[test]
    fn list_units_text_matches_json() {
        let mut json =
            parse_list_units(include_str!("../testdata/systemctl_list_units.json")).unwrap();
        let mut text =
            parse_list_units(include_str!("../testdata/systemctl_list_units.txt")).unwrap();
        json.sort_by(|a, b| a.unit.cmp(&b.unit));
        text.sort_by(|a, b| a.unit.cmp(&b.unit));
        assert_eq!(json, text);
        // --no-legend output without a header.
        let bare = parse_list_units_text("cron.service loaded active running Cron daemon\n");
        assert_eq!(bare[0].description, "Cron daemon");
        assert!(parse_list_units("[not json").is_err());
    }

    #[test]
    fn show_running_and_missing() {
        let s = parse_show(include_str!("../testdata/systemctl_show.txt")).unwrap();
        assert_eq!(s.id, "docker.service");
        assert_eq!(s.active_state, "active");
        assert_eq!(s.sub_state, "running");
        assert_eq!(s.main_pid, Some(1021));
        assert_eq!(s.started_at.as_deref(), Some("Thu 2024-05-02 08:00:03 UTC"));
        assert_eq!(s.memory_bytes, Some(91648000));
        assert_eq!(s.restarts, Some(0));
        assert!(!s.not_found());

        let m = parse_show(include_str!("../testdata/systemctl_show_missing.txt")).unwrap();
        assert!(m.not_found());
        assert_eq!(m.main_pid, None);
        assert_eq!(m.started_at, None);
        assert_eq!(m.memory_bytes, None);
        assert!(parse_show("").is_err());
        let inf = parse_show("Id=x.service\nMemoryCurrent=18446744073709551615\n").unwrap();
        assert_eq!(inf.memory_bytes, None);
    }
}
