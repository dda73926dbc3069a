//! The bundled `system` plugin: read-only health of a device's operating
//! system, gathered over the host's `ssh` capability.
//!
//! Tools: `get_system_info` (CPU, memory, load, uptime, disks, network
//! counters, top processes), `get_drive_health` (lsblk + smartctl --json),
//! `get_system_logs` (journalctl JSON, syslog fallback), `list_services`,
//! `get_service_status` (systemctl) and `list_processes` (ps). Every program
//! it runs is listed in [`PROGRAMS`]; parsing lives in `toolhost-parsers`.

use serde::Deserialize;
use std::time::{Duration, Instant};
use toolhost_parsers::{
    self as parsers, ParseError, df, journal, lsblk, procfs, ps, smart, systemd, validate,
};
use toolhost_plugin::ssh::{self, Output};
use toolhost_plugin::{
    Capability, Guest, PluginInfo, ToolError, ToolInfo, ToolOutput, Value, json, parse_args,
};

/// Every program this plugin runs (argv[0]); declared as `Capability::Ssh`.
pub const PROGRAMS: &[&str] = &[
    "grep",
    "df",
    "ps",
    "lsblk",
    "smartctl",
    "journalctl",
    "tail",
    "systemctl",
];

/// Pause between the two `/proc/stat` samples `get_system_info` takes.
const CPU_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
/// Most processes `get_system_info` lists.
const MAX_TOP_PROCESSES: u32 = 50;
/// Default for `get_system_info.top_processes`.
const DEFAULT_TOP_PROCESSES: u32 = 5;
/// Most log lines `get_system_logs` returns.
const MAX_LOG_LINES: u32 = 1000;
/// Default for `get_system_logs.lines`.
const DEFAULT_LOG_LINES: u32 = 100;
/// Most processes `list_processes` returns.
const MAX_PROCESSES: u32 = 500;
/// Default for `list_processes.limit`.
const DEFAULT_PROCESSES: u32 = 20;
/// Syslog files tried, in order, when journalctl is missing.
const SYSLOG_FILES: &[&str] = &["/var/log/syslog", "/var/log/messages"];

struct System;

fn device_prop() -> Value {
    json!({"type": "string", "minLength": 1, "description": "Device id or name from the registry."})
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

impl Guest for System {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "system",
            env!("CARGO_PKG_VERSION"),
            "Operating-system health of a device: resources, drives, logs, services, processes.",
        )
        .capability(Capability::Ssh(PROGRAMS.iter().map(|p| (*p).to_owned()).collect()))
        .tool(
            ToolInfo::new(
                "get_system_info",
                "CPU usage (two /proc/stat samples 200 ms apart), memory, load averages, uptime, \
                 disk usage (df), network counters (/proc/net/dev) and optionally the top processes \
                 by CPU.",
                json!({
                    "type": "object",
                    "properties": {
                        "device": device_prop(),
                        "top_processes": {
                            "type": "integer", "minimum": 0, "maximum": MAX_TOP_PROCESSES,
                            "description": "How many top CPU consumers to include (default 5, 0 for none).",
                        },
                    },
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("System information")
            .output_schema(system_info_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_drive_health",
                "SMART health of every physical disk (lsblk, then smartctl --json -a per disk). \
                 A disk smartctl cannot read (not installed, not root) gets a per-disk status \
                 instead of failing the call.",
                json!({
                    "type": "object",
                    "properties": {"device": device_prop()},
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("Drive health")
            .output_schema(drive_health_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_system_logs",
                "Recent log entries from the systemd journal (journalctl --output=json), newest \
                 last, optionally filtered by unit, priority, start time and a pattern. Falls back \
                 to /var/log/syslog or /var/log/messages when journalctl is missing.",
                json!({
                    "type": "object",
                    "properties": {
                        "device": device_prop(),
                        "unit": {"type": "string", "pattern": "^[A-Za-z0-9@._:-]+$", "maxLength": 256,
                                 "description": "systemd unit, e.g. `ssh.service` or `docker`."},
                        "priority": {
                            "description": "Maximum priority: 0-7 or emerg, alert, crit, err, warning, notice, info, debug.",
                            "anyOf": [
                                {"type": "integer", "minimum": 0, "maximum": 7},
                                {"type": "string", "enum": ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "error", "warn"]},
                            ],
                        },
                        "since": {"type": "string", "maxLength": 40,
                                  "description": "journalctl time: YYYY-MM-DD[ HH:MM[:SS]], HH:MM, today, yesterday, -1h, `2 days ago`, @EPOCH."},
                        "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES,
                                  "description": "How many entries (default 100)."},
                        "grep": {"type": "string", "minLength": 1, "maxLength": 256,
                                 "description": "Pattern the message must match (journalctl --grep; a case-insensitive substring for syslog files)."},
                    },
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("System logs")
            .output_schema(logs_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "list_services",
                "systemd services (systemctl list-units --type=service --all) with load, active \
                 and sub state; optionally only those whose load, active or sub state equals `state`.",
                json!({
                    "type": "object",
                    "properties": {
                        "device": device_prop(),
                        "state": {"type": "string", "pattern": "^[a-z-]{1,32}$",
                                  "description": "e.g. running, active, failed, inactive, exited, not-found."},
                    },
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("List services")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "source": {"type": "string", "enum": ["json", "text"]},
                    "services": {"type": "array", "items": unit_schema()},
                    "total": {"type": "integer", "minimum": 0},
                    "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
                "required": ["device", "services", "total", "counts"],
            }))
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_service_status",
                "Status of one systemd service: load/active/sub state, main PID, start time, \
                 memory and restart count (systemctl show).",
                json!({
                    "type": "object",
                    "properties": {
                        "device": device_prop(),
                        "service": {"type": "string", "pattern": "^[A-Za-z0-9@._:-]+$", "maxLength": 256,
                                    "description": "Unit name; `.service` is implied when no suffix is given."},
                    },
                    "required": ["device", "service"],
                    "additionalProperties": false,
                }),
            )
            .title("Service status")
            .output_schema(service_status_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "list_processes",
                "Processes sorted by CPU or memory use (ps).",
                json!({
                    "type": "object",
                    "properties": {
                        "device": device_prop(),
                        "sort": {"type": "string", "enum": ["cpu", "mem"], "description": "Default cpu."},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PROCESSES,
                                  "description": "Default 20."},
                    },
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("List processes")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "sort": {"type": "string", "enum": ["cpu", "mem"]},
                    "total": {"type": "integer", "minimum": 0},
                    "processes": {"type": "array", "items": process_schema()},
                },
                "required": ["device", "sort", "total", "processes"],
            }))
            .read_only(),
        )
    }

    fn call(tool: String, args_json: String) -> Result<ToolOutput, ToolError> {
        match tool.as_str() {
            "get_system_info" => get_system_info(parse_args(&args_json)?),
            "get_drive_health" => get_drive_health(parse_args(&args_json)?),
            "get_system_logs" => get_system_logs(parse_args(&args_json)?),
            "list_services" => list_services(parse_args(&args_json)?),
            "get_service_status" => get_service_status(parse_args(&args_json)?),
            "list_processes" => list_processes(parse_args(&args_json)?),
            other => Err(ToolError::unknown_tool(other)),
        }
    }
}

toolhost_plugin::export!(System);

fn parse_failed(what: &str) -> impl FnOnce(ParseError) -> ToolError + '_ {
    move |e| ToolError::failed(format!("cannot parse `{what}` output: {e}"))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1024.0 * 1024.0 * 1024.0))
}

// ---------------------------------------------------------------- system info

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InfoArgs {
    device: String,
    top_processes: Option<u32>,
}

fn get_system_info(args: InfoArgs) -> Result<ToolOutput, ToolError> {
    let top = args.top_processes.unwrap_or(DEFAULT_TOP_PROCESSES);
    if top > MAX_TOP_PROCESSES {
        return Err(ToolError::invalid_input(format!(
            "top_processes must be between 0 and {MAX_TOP_PROCESSES}"
        )));
    }
    let dev = args.device.as_str();
    let first = ssh::run(
        dev,
        &[
            "grep",
            "-H",
            "",
            "/proc/stat",
            "/proc/meminfo",
            "/proc/loadavg",
            "/proc/uptime",
            "/proc/net/dev",
        ],
    )?
    .ensure_success("grep")?;
    let t0 = Instant::now();
    std::thread::sleep(CPU_SAMPLE_INTERVAL);
    let second = ssh::run(dev, &["grep", "^cpu", "/proc/stat"])?.ensure_success("grep")?;
    let interval_ms = t0.elapsed().as_millis() as u64;

    let files = parsers::split_grep_h(&first.stdout);
    let file = |p: &str| {
        parsers::grep_h_file(&files, p)
            .ok_or_else(|| ToolError::failed(format!("could not read {p} on the device")))
    };
    let stat_a =
        procfs::parse_proc_stat(&file("/proc/stat")?).map_err(parse_failed("/proc/stat"))?;
    let stat_b = procfs::parse_proc_stat(&second.stdout).map_err(parse_failed("/proc/stat"))?;
    let memory =
        procfs::parse_meminfo(&file("/proc/meminfo")?).map_err(parse_failed("/proc/meminfo"))?;
    let load =
        procfs::parse_loadavg(&file("/proc/loadavg")?).map_err(parse_failed("/proc/loadavg"))?;
    let uptime =
        procfs::parse_uptime(&file("/proc/uptime")?).map_err(parse_failed("/proc/uptime"))?;
    let network =
        procfs::parse_net_dev(&file("/proc/net/dev")?).map_err(parse_failed("/proc/net/dev"))?;
    let usage = procfs::cpu_usage_percent(&stat_a.total, &stat_b.total);

    // df exits 1 when one mount is unreadable but still prints the rest.
    let df_out = ssh::run(dev, &["df", "-B1", "-P", "-T"])?;
    let disks = if df_out.stdout.trim().is_empty() {
        return Err(df_out
            .ensure_success("df")
            .err()
            .unwrap_or_else(|| ToolError::failed("df printed nothing")));
    } else {
        df::parse_df(&df_out.stdout).map_err(parse_failed("df"))?
    };
    let disks: Vec<_> = disks.into_iter().filter(|d| !d.is_pseudo()).collect();

    let processes = if top > 0 {
        let out = ssh::run(
            dev,
            &[
                "ps",
                "-eo",
                "pid,user:32,pcpu,pmem,rss,comm",
                "--sort=-pcpu",
            ],
        )?
        .ensure_success("ps")?;
        let mut p = ps::parse_ps(&out.stdout).map_err(parse_failed("ps"))?;
        p.truncate(top as usize);
        Some(p)
    } else {
        None
    };

    let cores = stat_a.per_cpu.len().max(1);
    let summary = format!(
        "{dev}: CPU {} on {cores} cores, load {:.2}/{:.2}/{:.2}, memory {} of {} used ({:.0}%), up {:.1} days, {} filesystems.",
        usage.map_or_else(|| "n/a".to_owned(), |u| format!("{u:.1}%")),
        load.one,
        load.five,
        load.fifteen,
        gib(memory.used_bytes),
        gib(memory.total_bytes),
        memory.used_percent,
        uptime / 86_400.0,
        disks.len(),
    );
    let body = json!({
        "device": dev,
        "cpu": {
            "usage_percent": usage,
            "cores": cores,
            "per_core_usage_percent": stat_a.per_cpu.iter().zip(&stat_b.per_cpu)
                .map(|(a, b)| procfs::cpu_usage_percent(a, b)).collect::<Vec<_>>(),
            "sample_interval_ms": interval_ms,
        },
        "memory": memory,
        "load": load,
        "uptime_seconds": uptime,
        "disks": disks,
        "network": network,
        "top_processes": processes,
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

// ---------------------------------------------------------------- drive health

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceArgs {
    device: String,
}

fn get_drive_health(args: DeviceArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    let out = ssh::run(
        dev,
        &[
            "lsblk",
            "--json",
            "-b",
            "-o",
            "NAME,TYPE,SIZE,MODEL,SERIAL,ROTA,TRAN",
        ],
    )?
    .ensure_success("lsblk")?;
    let disks: Vec<_> = lsblk::parse_lsblk(&out.stdout)
        .map_err(parse_failed("lsblk"))?
        .into_iter()
        .filter(lsblk::BlockDevice::is_physical_disk)
        .collect();

    let mut results = Vec::with_capacity(disks.len());
    let mut missing: Option<smart::DriveHealth> = None;
    for disk in &disks {
        // lsblk names are kernel names; still refuse anything odd before it
        // becomes a path argument.
        let health = if !disk
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            smart::DriveHealth::Error {
                message: format!("refusing unusual device name `{}`", disk.name),
            }
        } else if let Some(m) = &missing {
            m.clone()
        } else {
            let path = format!("/dev/{}", disk.name);
            let o: Output = ssh::run(dev, &["smartctl", "--json", "-a", &path])?;
            let h = smart::classify(o.exit_code, &o.stdout, &o.stderr);
            if matches!(h, smart::DriveHealth::SmartctlMissing { .. }) {
                missing = Some(h.clone());
            }
            h
        };
        results.push(json!({
            "name": disk.name,
            "path": format!("/dev/{}", disk.name),
            "size_bytes": disk.size_bytes,
            "model": disk.model,
            "serial": disk.serial,
            "rotational": disk.rotational,
            "transport": disk.transport,
            "health": health,
        }));
    }
    let count = |s: &str| {
        results
            .iter()
            .filter(|r| r["health"]["status"] == "ok" && r["health"]["assessment"] == s)
            .count()
    };
    let (healthy, warning, failing) = (count("healthy"), count("warning"), count("failing"));
    let unknown = results.len() - healthy - warning - failing;
    let mut summary = format!(
        "{dev}: {} disk(s): {healthy} healthy, {warning} warning, {failing} failing, {unknown} not checked.",
        results.len()
    );
    if missing.is_some() {
        summary.push_str(" smartctl is not installed (package smartmontools).");
    }
    let body = json!({
        "device": dev,
        "disks": results,
        "summary": {"healthy": healthy, "warning": warning, "failing": failing, "unknown": unknown},
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

// ---------------------------------------------------------------- logs

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    device: String,
    unit: Option<String>,
    priority: Option<Value>,
    since: Option<String>,
    lines: Option<u32>,
    grep: Option<String>,
}

fn get_system_logs(args: LogArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    let lines = args.lines.unwrap_or(DEFAULT_LOG_LINES);
    if !(1..=MAX_LOG_LINES).contains(&lines) {
        return Err(ToolError::invalid_input(format!(
            "lines must be between 1 and {MAX_LOG_LINES}"
        )));
    }
    if let Some(u) = &args.unit {
        validate::unit_name(u).map_err(ToolError::invalid_input)?;
    }
    let priority = match &args.priority {
        None => None,
        Some(Value::Number(n)) => {
            Some(validate::priority(&n.to_string()).map_err(ToolError::invalid_input)?)
        }
        Some(Value::String(s)) => Some(validate::priority(s).map_err(ToolError::invalid_input)?),
        Some(_) => {
            return Err(ToolError::invalid_input(
                "priority must be 0-7 or a priority name",
            ));
        }
    };
    if let Some(s) = &args.since {
        validate::since(s).map_err(ToolError::invalid_input)?;
    }
    if let Some(g) = &args.grep {
        validate::pattern(g).map_err(ToolError::invalid_input)?;
    }

    let n = lines.to_string();
    let mut argv: Vec<String> = ["journalctl", "--output=json", "--no-pager", "-n", &n]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if let Some(u) = &args.unit {
        argv.push(format!("--unit={u}"));
    }
    if let Some(p) = priority {
        argv.push(format!("--priority={p}"));
    }
    if let Some(s) = &args.since {
        argv.push(format!("--since={s}"));
    }
    if let Some(g) = &args.grep {
        argv.push(format!("--grep={g}"));
    }
    let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = ssh::run(dev, &argv_ref)?;

    let mut notes: Vec<String> = Vec::new();
    let (source, entries) = if out.program_missing() {
        syslog_fallback(dev, &args, lines, priority, &mut notes)?
    } else {
        let entries =
            journal::parse_journal_json(&out.stdout).map_err(parse_failed("journalctl"))?;
        // With --grep, no match is exit status 1 and "-- No entries --".
        if !out.success()
            && entries.is_empty()
            && !out.stderr.contains("No entries")
            && !out.stderr.trim().is_empty()
        {
            return Err(ToolError::failed(format!(
                "`journalctl` failed: {}",
                out.error_summary()
            )));
        }
        if out.stdout_truncated {
            notes.push("output was truncated by the host's output cap".to_owned());
        }
        ("journal".to_owned(), entries)
    };
    let errors = entries
        .iter()
        .filter(|e| e.priority.is_some_and(|p| p <= 3))
        .count();
    let summary = format!(
        "{dev}: {} log entr{} from {source}{}.",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        if errors > 0 {
            format!(", {errors} at error level or worse")
        } else {
            String::new()
        }
    );
    let body = json!({
        "device": dev,
        "source": source,
        "count": entries.len(),
        "entries": entries,
        "notes": notes,
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn syslog_fallback(
    dev: &str,
    args: &LogArgs,
    lines: u32,
    priority: Option<u8>,
    notes: &mut Vec<String>,
) -> Result<(String, Vec<journal::LogEntry>), ToolError> {
    notes.push("journalctl is not installed; read a syslog file instead".to_owned());
    let filtered = args.unit.is_some() || args.grep.is_some();
    // Read more when filtering here, so `lines` matches can still be found.
    let want = if filtered {
        (lines * 10).min(10_000)
    } else {
        lines
    }
    .to_string();
    for file in SYSLOG_FILES {
        let out = ssh::run(dev, &["tail", "-n", &want, file])?;
        if out.program_missing() && out.exit_code == Some(ssh::EXIT_NOT_FOUND) {
            return Err(ToolError::unavailable(
                "neither journalctl nor tail is installed on the device",
            ));
        }
        if !out.success() {
            continue;
        }
        let mut entries = journal::parse_syslog(&out.stdout);
        if let Some(u) = &args.unit {
            let tag = u.strip_suffix(".service").unwrap_or(u);
            entries.retain(|e| {
                e.identifier
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case(tag))
            });
            notes.push(format!("unit matched against the syslog tag `{tag}`"));
        }
        if let Some(g) = &args.grep {
            let g = g.to_lowercase();
            entries.retain(|e| e.message.to_lowercase().contains(&g));
            notes.push("grep applied as a case-insensitive substring".to_owned());
        }
        if priority.is_some() {
            notes.push("priority cannot be filtered in a syslog file; ignored".to_owned());
        }
        if args.since.is_some() {
            notes.push("since cannot be filtered in a syslog file; ignored".to_owned());
        }
        let skip = entries.len().saturating_sub(lines as usize);
        entries.drain(..skip);
        return Ok(((*file).to_owned(), entries));
    }
    Err(ToolError::unavailable(format!(
        "journalctl is not installed and none of {} is readable",
        SYSLOG_FILES.join(", ")
    )))
}

// ---------------------------------------------------------------- services

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesArgs {
    device: String,
    state: Option<String>,
}

fn systemctl(dev: &str, argv: &[&str]) -> Result<Output, ToolError> {
    let out = ssh::run(dev, argv)?;
    if out.program_missing() {
        return Err(ToolError::unavailable(format!(
            "systemctl is not installed on {dev} (not a systemd system?)"
        )));
    }
    if !out.success() && out.stdout.trim().is_empty() {
        // e.g. "System has not been booted with systemd as init system".
        return Err(ToolError::unavailable(format!(
            "`systemctl` failed: {}",
            out.error_summary()
        )));
    }
    Ok(out)
}

fn list_services(args: ServicesArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    if let Some(s) = &args.state
        && (s.is_empty() || s.len() > 32 || !s.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    {
        return Err(ToolError::invalid_input(format!(
            "invalid state `{s}`: lowercase letters and `-` only"
        )));
    }
    let out = systemctl(
        dev,
        &[
            "systemctl",
            "list-units",
            "--type=service",
            "--all",
            "--output=json",
            "--no-pager",
        ],
    )?;
    let source = if systemd::looks_like_json(&out.stdout) {
        "json"
    } else {
        "text"
    };
    let mut units =
        systemd::parse_list_units(&out.stdout).map_err(parse_failed("systemctl list-units"))?;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for u in &units {
        *counts.entry(u.active.clone()).or_default() += 1;
    }
    if let Some(s) = &args.state {
        units.retain(|u| &u.active == s || &u.sub == s || &u.load == s);
    }
    let failed: Vec<&str> = units
        .iter()
        .filter(|u| u.active == "failed")
        .map(|u| u.unit.as_str())
        .collect();
    let summary = format!(
        "{dev}: {} service(s){}{}.",
        units.len(),
        args.state
            .as_deref()
            .map(|s| format!(" in state `{s}`"))
            .unwrap_or_default(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", failed.join(", "))
        }
    );
    let body = json!({
        "device": dev,
        "source": source,
        "total": units.len(),
        "services": units,
        "counts": counts,
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusArgs {
    device: String,
    service: String,
}

fn get_service_status(args: StatusArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    validate::unit_name(&args.service).map_err(ToolError::invalid_input)?;
    let property = format!("--property={}", systemd::SHOW_PROPERTIES);
    let out = systemctl(
        dev,
        &["systemctl", "show", &args.service, "--no-pager", &property],
    )?;
    let status = systemd::parse_show(&out.stdout).map_err(parse_failed("systemctl show"))?;
    if status.not_found() {
        return Err(ToolError::not_found(format!(
            "no service `{}` on {dev}",
            args.service
        )));
    }
    let summary = format!(
        "{dev}: {} is {} ({}){}{}.",
        status.id,
        status.active_state,
        status.sub_state,
        status
            .main_pid
            .map(|p| format!(", pid {p}"))
            .unwrap_or_default(),
        status
            .started_at
            .as_deref()
            .map(|t| format!(", since {t}"))
            .unwrap_or_default(),
    );
    let mut body = serde_json_value(&status)?;
    body["device"] = json!(dev);
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn serde_json_value<T: serde::Serialize>(v: &T) -> Result<Value, ToolError> {
    toolhost_plugin::serde_json::to_value(v)
        .map_err(|e| ToolError::failed(format!("cannot serialize the result: {e}")))
}

// ---------------------------------------------------------------- processes

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
enum Sort {
    #[default]
    Cpu,
    Mem,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessArgs {
    device: String,
    #[serde(default)]
    sort: Sort,
    limit: Option<u32>,
}

fn list_processes(args: ProcessArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    let limit = args.limit.unwrap_or(DEFAULT_PROCESSES);
    if !(1..=MAX_PROCESSES).contains(&limit) {
        return Err(ToolError::invalid_input(format!(
            "limit must be between 1 and {MAX_PROCESSES}"
        )));
    }
    let (key, name) = match args.sort {
        Sort::Cpu => ("--sort=-pcpu", "cpu"),
        Sort::Mem => ("--sort=-pmem", "mem"),
    };
    let out = ssh::run(dev, &["ps", "-eo", "pid,user:32,pcpu,pmem,rss,comm", key])?
        .ensure_success("ps")?;
    let mut procs = ps::parse_ps(&out.stdout).map_err(parse_failed("ps"))?;
    let total = procs.len();
    procs.truncate(limit as usize);
    let top: Vec<String> = procs
        .iter()
        .take(3)
        .map(|p| match args.sort {
            Sort::Cpu => format!("{} ({}%)", p.command, p.cpu_percent),
            Sort::Mem => format!("{} ({}%)", p.command, p.mem_percent),
        })
        .collect();
    let summary = format!(
        "{dev}: {total} processes; top by {name}: {}.",
        top.join(", ")
    );
    let body = json!({"device": dev, "sort": name, "total": total, "processes": procs});
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

// ---------------------------------------------------------------- schemas

fn process_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pid": {"type": "integer"},
            "user": {"type": "string"},
            "cpu_percent": {"type": "number"},
            "mem_percent": {"type": "number"},
            "rss_bytes": {"type": "integer"},
            "command": {"type": "string"},
        },
        "required": ["pid", "user", "cpu_percent", "mem_percent", "rss_bytes", "command"],
    })
}

fn system_info_schema() -> Value {
    let n = || nullable("number");
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string"},
            "cpu": {
                "type": "object",
                "properties": {
                    "usage_percent": n(),
                    "cores": {"type": "integer"},
                    "per_core_usage_percent": {"type": "array", "items": n()},
                    "sample_interval_ms": {"type": "integer"},
                },
                "required": ["usage_percent", "cores"],
            },
            "memory": {
                "type": "object",
                "properties": {
                    "total_bytes": {"type": "integer"}, "free_bytes": {"type": "integer"},
                    "available_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"},
                    "used_percent": {"type": "number"}, "buffers_bytes": {"type": "integer"},
                    "cached_bytes": {"type": "integer"}, "swap_total_bytes": {"type": "integer"},
                    "swap_used_bytes": {"type": "integer"},
                },
                "required": ["total_bytes", "available_bytes", "used_bytes", "used_percent"],
            },
            "load": {
                "type": "object",
                "properties": {
                    "one": {"type": "number"}, "five": {"type": "number"}, "fifteen": {"type": "number"},
                    "running": {"type": "integer"}, "total": {"type": "integer"},
                },
                "required": ["one", "five", "fifteen"],
            },
            "uptime_seconds": {"type": "number"},
            "disks": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "filesystem": {"type": "string"}, "fstype": nullable("string"),
                    "size_bytes": {"type": "integer"}, "used_bytes": {"type": "integer"},
                    "available_bytes": {"type": "integer"}, "used_percent": {"type": "number"},
                    "mount_point": {"type": "string"},
                },
                "required": ["filesystem", "size_bytes", "used_bytes", "available_bytes", "mount_point"],
            }},
            "network": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "interface": {"type": "string"},
                    "rx_bytes": {"type": "integer"}, "rx_packets": {"type": "integer"},
                    "rx_errors": {"type": "integer"}, "rx_dropped": {"type": "integer"},
                    "tx_bytes": {"type": "integer"}, "tx_packets": {"type": "integer"},
                    "tx_errors": {"type": "integer"}, "tx_dropped": {"type": "integer"},
                },
                "required": ["interface", "rx_bytes", "tx_bytes"],
            }},
            "top_processes": {"type": ["array", "null"], "items": process_schema()},
        },
        "required": ["device", "cpu", "memory", "load", "uptime_seconds", "disks", "network"],
    })
}

fn drive_health_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string"},
            "disks": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "path": {"type": "string"},
                    "size_bytes": nullable("integer"),
                    "model": nullable("string"),
                    "serial": nullable("string"),
                    "rotational": nullable("boolean"),
                    "transport": nullable("string"),
                    "health": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string", "enum": ["ok", "smartctl_missing", "permission_denied", "error"]},
                            "assessment": {"type": "string", "enum": ["healthy", "warning", "failing"]},
                            "message": {"type": "string"},
                            "report": {"type": "object", "description": "smartctl report: model, serial, passed, temperature_c, power_on_hours, reallocated_sectors, percentage_used, attributes…"},
                        },
                        "required": ["status"],
                    },
                },
                "required": ["name", "path", "health"],
            }},
            "summary": {
                "type": "object",
                "properties": {
                    "healthy": {"type": "integer"}, "warning": {"type": "integer"},
                    "failing": {"type": "integer"}, "unknown": {"type": "integer"},
                },
                "required": ["healthy", "warning", "failing", "unknown"],
            },
        },
        "required": ["device", "disks", "summary"],
    })
}

fn logs_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string"},
            "source": {"type": "string", "description": "`journal` or the syslog file read."},
            "count": {"type": "integer", "minimum": 0},
            "entries": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "timestamp": nullable("string"),
                    "priority": {"type": ["integer", "null"], "minimum": 0},
                    "priority_name": nullable("string"),
                    "unit": nullable("string"),
                    "identifier": nullable("string"),
                    "pid": nullable("integer"),
                    "hostname": nullable("string"),
                    "message": {"type": "string"},
                },
                "required": ["message"],
            }},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["device", "source", "count", "entries", "notes"],
    })
}

fn unit_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "unit": {"type": "string"},
            "load": {"type": "string"},
            "active": {"type": "string"},
            "sub": {"type": "string"},
            "description": {"type": "string"},
        },
        "required": ["unit", "load", "active", "sub", "description"],
    })
}

fn service_status_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string"},
            "id": {"type": "string"},
            "description": nullable("string"),
            "load_state": {"type": "string"},
            "active_state": {"type": "string"},
            "sub_state": {"type": "string"},
            "main_pid": nullable("integer"),
            "started_at": nullable("string"),
            "memory_bytes": nullable("integer"),
            "restarts": nullable("integer"),
        },
        "required": ["device", "id", "load_state", "active_state", "sub_state"],
    })
}
