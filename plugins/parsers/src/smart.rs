//! `smartctl --json -a /dev/X` (smartmontools 7 JSON output).
//!
//! smartctl's exit status is a bit mask (bit 0 bad command line, bit 1
//! device open failed, bit 2 a SMART command failed, bit 3 disk failing,
//! bits 4–7 attribute/log warnings), so a non-zero status with valid JSON is
//! a normal report. [`classify`] turns one run into a [`DriveHealth`] that
//! always says what happened, never an error.

use serde::Serialize;
use serde_json::Value;

/// One ATA SMART attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    /// Attribute id.
    pub id: u64,
    /// Name (`Reallocated_Sector_Ct`).
    pub name: String,
    /// Normalized value.
    pub value: Option<u64>,
    /// Worst normalized value seen.
    pub worst: Option<u64>,
    /// Failure threshold.
    pub thresh: Option<u64>,
    /// Raw value.
    pub raw: Option<u64>,
    /// `FAILING_NOW`, `In_the_past` or empty.
    pub when_failed: String,
    /// Pre-failure attribute.
    pub prefailure: bool,
}

/// The useful part of a SMART report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmartReport {
    /// `ATA`, `NVMe`, `SCSI`.
    pub protocol: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Model family from the drive database.
    pub family: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// Capacity in bytes.
    pub capacity_bytes: Option<u64>,
    /// Rotation rate in rpm; 0 for SSDs.
    pub rotation_rate: Option<u64>,
    /// The drive supports SMART.
    pub smart_available: Option<bool>,
    /// SMART is enabled.
    pub smart_enabled: Option<bool>,
    /// The overall self-assessment passed (`None`: not reported).
    pub passed: Option<bool>,
    /// Current temperature, °C.
    pub temperature_c: Option<i64>,
    /// Power-on hours.
    pub power_on_hours: Option<u64>,
    /// Power cycles.
    pub power_cycles: Option<u64>,
    /// ATA: reallocated sectors (attribute 5 raw).
    pub reallocated_sectors: Option<u64>,
    /// ATA: pending sectors (attribute 197 raw).
    pub pending_sectors: Option<u64>,
    /// ATA: offline uncorrectable sectors (attribute 198 raw).
    pub offline_uncorrectable: Option<u64>,
    /// NVMe: percentage of rated endurance used.
    pub percentage_used: Option<u64>,
    /// NVMe: available spare, percent.
    pub available_spare: Option<u64>,
    /// NVMe: media and data integrity errors.
    pub media_errors: Option<u64>,
    /// NVMe: critical warning bit field (0 = none).
    pub critical_warning: Option<u64>,
    /// NVMe: unsafe shutdowns.
    pub unsafe_shutdowns: Option<u64>,
    /// ATA attributes that are failing now or failed in the past.
    pub failing_attributes: Vec<Attribute>,
    /// All ATA attributes.
    pub attributes: Vec<Attribute>,
    /// smartctl's exit status bit mask.
    pub exit_status: Option<u64>,
    /// smartctl's messages (warnings, errors).
    pub messages: Vec<String>,
}

/// What checking one disk gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DriveHealth {
    /// smartctl produced a report.
    Ok {
        /// The report.
        report: Box<SmartReport>,
        /// `healthy`, `warning` or `failing`.
        assessment: String,
    },
    /// smartctl is not installed on the device.
    SmartctlMissing {
        /// What to do about it.
        message: String,
    },
    /// smartctl could not open the device for lack of privileges.
    PermissionDenied {
        /// smartctl's message.
        message: String,
    },
    /// Anything else: no SMART support, unknown device type, garbage output.
    Error {
        /// What went wrong.
        message: String,
    },
}

fn u(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_u64()
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Parses smartctl JSON; `None` when the text is not a smartctl JSON object.
pub fn parse_smartctl(text: &str) -> Option<SmartReport> {
    let v: Value = serde_json::from_str(text).ok()?;
    let sc = v.get("smartctl")?;
    let messages: Vec<String> = sc
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|e| e.get("string").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let attributes: Vec<Attribute> = v
        .pointer("/ata_smart_attributes/table")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|a| {
                    Some(Attribute {
                        id: a.get("id")?.as_u64()?,
                        name: s(a, "name").unwrap_or_default(),
                        value: u(a, &["value"]),
                        worst: u(a, &["worst"]),
                        thresh: u(a, &["thresh"]),
                        raw: u(a, &["raw", "value"]),
                        when_failed: s(a, "when_failed").unwrap_or_default(),
                        prefailure: a
                            .pointer("/flags/prefailure")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let raw_of = |id: u64| attributes.iter().find(|a| a.id == id).and_then(|a| a.raw);
    let nvme = v.get("nvme_smart_health_information_log");
    let nv = |k: &str| nvme.and_then(|n| n.get(k)).and_then(Value::as_u64);
    Some(SmartReport {
        protocol: v
            .pointer("/device/protocol")
            .and_then(Value::as_str)
            .map(str::to_owned),
        model: s(&v, "model_name"),
        family: s(&v, "model_family"),
        serial: s(&v, "serial_number"),
        firmware: s(&v, "firmware_version"),
        capacity_bytes: u(&v, &["user_capacity", "bytes"])
            .or_else(|| u(&v, &["nvme_total_capacity"])),
        rotation_rate: u(&v, &["rotation_rate"]),
        smart_available: v
            .pointer("/smart_support/available")
            .and_then(Value::as_bool),
        smart_enabled: v.pointer("/smart_support/enabled").and_then(Value::as_bool),
        passed: v.pointer("/smart_status/passed").and_then(Value::as_bool),
        temperature_c: v.pointer("/temperature/current").and_then(Value::as_i64),
        power_on_hours: u(&v, &["power_on_time", "hours"]).or_else(|| nv("power_on_hours")),
        power_cycles: u(&v, &["power_cycle_count"]).or_else(|| nv("power_cycles")),
        reallocated_sectors: raw_of(5),
        pending_sectors: raw_of(197),
        offline_uncorrectable: raw_of(198),
        percentage_used: nv("percentage_used"),
        available_spare: nv("available_spare"),
        media_errors: nv("media_errors"),
        critical_warning: nv("critical_warning"),
        unsafe_shutdowns: nv("unsafe_shutdowns"),
        failing_attributes: attributes
            .iter()
            .filter(|a| !a.when_failed.is_empty())
            .cloned()
            .collect(),
        attributes,
        exit_status: u(sc, &["exit_status"]),
        messages,
    })
}

impl SmartReport {
    /// `failing` when the self-assessment failed or an attribute is failing
    /// now (or NVMe reports a critical warning); `warning` for reallocated,
    /// pending or uncorrectable sectors, NVMe media errors, spare below
    /// threshold, wear ≥ 90 %, or a past attribute failure; else `healthy`.
    pub fn assessment(&self) -> &'static str {
        let failing_now = self
            .failing_attributes
            .iter()
            .any(|a| a.when_failed == "FAILING_NOW");
        if self.passed == Some(false) || failing_now || self.critical_warning.unwrap_or(0) != 0 {
            return "failing";
        }
        let nonzero = |x: Option<u64>| x.unwrap_or(0) > 0;
        if nonzero(self.reallocated_sectors)
            || nonzero(self.pending_sectors)
            || nonzero(self.offline_uncorrectable)
            || nonzero(self.media_errors)
            || self.percentage_used.unwrap_or(0) >= 90
            || !self.failing_attributes.is_empty()
        {
            return "warning";
        }
        "healthy"
    }
}

/// Interprets one smartctl run (its exit code, stdout and stderr).
pub fn classify(exit_code: Option<i32>, stdout: &str, stderr: &str) -> DriveHealth {
    let denied = |m: &str| m.to_ascii_lowercase().contains("permission denied");
    if let Some(report) = parse_smartctl(stdout) {
        // Bit 1: the device could not be opened; the report is empty.
        let open_failed =
            report.exit_status.is_some_and(|s| s & 0b10 != 0) && report.model.is_none();
        if open_failed {
            let message = report
                .messages
                .first()
                .cloned()
                .unwrap_or_else(|| "smartctl could not open the device".to_owned());
            return if denied(&message) {
                DriveHealth::PermissionDenied {
                    message: format!("{message} (smartctl needs root: run it via sudo or as root)"),
                }
            } else {
                DriveHealth::Error { message }
            };
        }
        let assessment = report.assessment().to_owned();
        return DriveHealth::Ok {
            report: Box::new(report),
            assessment,
        };
    }
    let err = stderr.trim();
    let lower = err.to_ascii_lowercase();
    if exit_code == Some(127)
        || lower.contains("command not found")
        || lower.contains("smartctl: not found")
        || lower.contains("executable file not found")
    {
        return DriveHealth::SmartctlMissing {
            message: "smartctl is not installed on the device (package `smartmontools`)".to_owned(),
        };
    }
    if denied(err) || denied(stdout) {
        return DriveHealth::PermissionDenied {
            message: format!("{} (smartctl needs root)", first_line(err, stdout)),
        };
    }
    DriveHealth::Error {
        message: format!(
            "smartctl exited with {}: {}",
            exit_code.map_or_else(|| "no status".to_owned(), |c| c.to_string()),
            first_line(err, stdout)
        ),
    }
}

fn first_line<'a>(a: &'a str, b: &'a str) -> &'a str {
    a.lines()
        .chain(b.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ata_report() {
        let r = parse_smartctl(include_str!("../testdata/smartctl_ata.json")).unwrap();
        assert_eq!(r.protocol.as_deref(), Some("ATA"));
        assert_eq!(r.model.as_deref(), Some("Samsung SSD 860 EVO 500GB"));
        assert_eq!(r.serial.as_deref(), Some("S3Z1NB0K123456A"));
        assert_eq!(r.capacity_bytes, Some(500107862016));
        assert_eq!(r.passed, Some(true));
        assert_eq!(r.temperature_c, Some(33));
        assert_eq!(r.power_on_hours, Some(21734));
        assert_eq!(r.power_cycles, Some(61));
        assert_eq!(r.reallocated_sectors, Some(0));
        assert_eq!(r.attributes.len(), 8);
        assert!(r.failing_attributes.is_empty());
        assert_eq!(r.assessment(), "healthy");
        match classify(Some(0), include_str!("../testdata/smartctl_ata.json"), "") {
            DriveHealth::Ok { assessment, .. } => assert_eq!(assessment, "healthy"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nvme_report_with_nonzero_exit_status() {
        let text = include_str!("../testdata/smartctl_nvme.json");
        let r = parse_smartctl(text).unwrap();
        assert_eq!(r.protocol.as_deref(), Some("NVMe"));
        assert_eq!(r.capacity_bytes, Some(1000204886016));
        assert_eq!(r.percentage_used, Some(3));
        assert_eq!(r.available_spare, Some(100));
        assert_eq!(r.media_errors, Some(0));
        assert_eq!(r.power_on_hours, Some(9120));
        assert_eq!(r.unsafe_shutdowns, Some(37));
        assert_eq!(r.exit_status, Some(4));
        // Bit 2 (a SMART command failed) still gives a full report.
        assert!(matches!(
            classify(Some(4), text, ""),
            DriveHealth::Ok { .. }
        ));
    }

    #[test]
    fn failing_drive() {
        let text = include_str!("../testdata/smartctl_failing.json");
        let r = parse_smartctl(text).unwrap();
        assert_eq!(r.passed, Some(false));
        assert_eq!(r.reallocated_sectors, Some(1912));
        assert_eq!(r.pending_sectors, Some(8));
        assert_eq!(r.failing_attributes.len(), 1);
        assert_eq!(r.failing_attributes[0].name, "Reallocated_Sector_Ct");
        assert_eq!(r.assessment(), "failing");
    }

    #[test]
    fn permission_denied_json() {
        match classify(
            Some(2),
            include_str!("../testdata/smartctl_denied.json"),
            "",
        ) {
            DriveHealth::PermissionDenied { message } => {
                assert!(message.contains("Permission denied"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_smartctl_and_garbage() {
        assert!(matches!(
            classify(Some(127), "", "sh: 1: smartctl: not found"),
            DriveHealth::SmartctlMissing { .. }
        ));
        assert!(matches!(
            classify(Some(1), "", "bash: smartctl: command not found"),
            DriveHealth::SmartctlMissing { .. }
        ));
        assert!(matches!(
            classify(Some(2), "", "/dev/sda: Permission denied"),
            DriveHealth::PermissionDenied { .. }
        ));
        match classify(Some(1), "oops", "") {
            DriveHealth::Error { message } => assert!(message.contains("oops"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serialized_shape_is_tagged() {
        let h = classify(Some(127), "", "");
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["status"], "smartctl_missing");
        assert!(v["message"].as_str().unwrap().contains("smartmontools"));
    }
}
