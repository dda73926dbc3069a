//! The bundled `utility` plugin: the device registry and basic facts about
//! each device.
//!
//! Tools: `list_devices` (filter and page the registry), `get_device` (one
//! device by id or name), `get_device_info` (OS, kernel, CPU, memory, uptime,
//! virtualization, docker/ZFS presence, read over ssh) and
//! `test_connectivity` (runs `true`, reports latency or the ssh error kind).
//! Capabilities: `devices-read` and `ssh` for the programs in [`PROGRAMS`].

use serde::Deserialize;
use std::time::Instant;
use toolhost_parsers::devinfo;
use toolhost_plugin::devices::{self, Device, DeviceFilter, DeviceStatus};
use toolhost_plugin::ssh::{self, ExecOptions};
use toolhost_plugin::{
    Capability, Guest, PluginInfo, ToolError, ToolInfo, ToolOutput, Value, json, parse_args,
};

/// Every program this plugin runs over ssh (argv[0]).
pub const PROGRAMS: &[&str] = &["grep", "ls", "systemd-detect-virt", "true"];

/// Timeout `test_connectivity` gives its `true` command.
const CONNECTIVITY_TIMEOUT_MS: u32 = 15_000;

/// Largest page `list_devices` accepts; the host caps pages on its side too.
const MAX_PAGE: u32 = 500;

struct Utility;

impl Guest for Utility {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "utility",
            env!("CARGO_PKG_VERSION"),
            "Device registry: list and inspect the machines toolhost manages.",
        )
        .capability(Capability::DevicesRead)
        .capability(Capability::Ssh(PROGRAMS.iter().map(|p| (*p).to_owned()).collect()))
        .tool(
            ToolInfo::new(
                "list_devices",
                "List registered devices, optionally filtered by type, status, tag or a \
                 case-insensitive search over name, hostname, description and location.",
                json!({
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "description": "Device type, e.g. `server`."},
                        "status": {
                            "type": "string",
                            "enum": ["online", "offline", "unknown", "maintenance"],
                        },
                        "tag": {"type": "string", "description": "Only devices carrying this tag."},
                        "search": {"type": "string", "description": "Substring to look for."},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        "offset": {"type": "integer", "minimum": 0},
                    },
                    "additionalProperties": false,
                }),
            )
            .title("List devices")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "devices": {"type": "array", "items": device_schema()},
                    "total": {"type": "integer", "minimum": 0},
                    "limit": {"type": ["integer", "null"]},
                    "offset": {"type": ["integer", "null"]},
                },
                "required": ["devices", "total"],
            }))
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_device",
                "Show one registered device, looked up by id or by name.",
                json!({
                    "type": "object",
                    "properties": {
                        "device": {"type": "string", "minLength": 1, "description": "Device id or name."},
                    },
                    "required": ["device"],
                    "additionalProperties": false,
                }),
            )
            .title("Get device")
            .output_schema(device_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_device_info",
                "Facts about a device read over ssh: OS (/etc/os-release), kernel, CPU model and \
                 count, memory, uptime, virtualization (systemd-detect-virt, DMI, container \
                 markers) and whether docker and ZFS are present.",
                device_arg_schema(),
            )
            .title("Device information")
            .output_schema(device_info_schema())
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "test_connectivity",
                "Checks that toolhost can run a command on the device over ssh (`true`). Reports \
                 `ok: true` with the latency, or `ok: false` with the ssh error kind \
                 (unknown-device, denied, connect-failed, auth-failed, host-key-mismatch, \
                 timeout, device-offline, failed) and message. Never fails the call for an ssh error.",
                device_arg_schema(),
            )
            .title("Test connectivity")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "ok": {"type": "boolean"},
                    "latency_ms": {"type": "integer", "minimum": 0, "description": "Round trip seen by the plugin."},
                    "command_ms": {"type": "integer", "minimum": 0, "description": "Command run time reported by the host."},
                    "exit_code": {"type": ["integer", "null"]},
                    "error_kind": {"type": "string", "enum": [
                        "unknown-device", "denied", "connect-failed", "auth-failed",
                        "host-key-mismatch", "timeout", "device-offline", "failed", "command-failed",
                    ]},
                    "message": {"type": "string"},
                },
                "required": ["device", "ok"],
            }))
            .read_only(),
        )
    }

    fn call(tool: String, args_json: String) -> Result<ToolOutput, ToolError> {
        match tool.as_str() {
            "list_devices" => list_devices(parse_args(&args_json)?),
            "get_device" => get_device(parse_args(&args_json)?),
            "get_device_info" => get_device_info(parse_args(&args_json)?),
            "test_connectivity" => test_connectivity(parse_args(&args_json)?),
            other => Err(ToolError::unknown_tool(other)),
        }
    }
}

toolhost_plugin::export!(Utility);

/// Arguments of `list_devices`; mirrors its input schema.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(rename = "type")]
    device_type: Option<String>,
    status: Option<Status>,
    tag: Option<String>,
    search: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Status {
    Online,
    Offline,
    Unknown,
    Maintenance,
}

impl From<Status> for DeviceStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Online => DeviceStatus::Online,
            Status::Offline => DeviceStatus::Offline,
            Status::Unknown => DeviceStatus::Unknown,
            Status::Maintenance => DeviceStatus::Maintenance,
        }
    }
}

/// Arguments of `get_device`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    device: String,
}

fn list_devices(args: ListArgs) -> Result<ToolOutput, ToolError> {
    if args.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
        return Err(ToolError::invalid_input(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let page = devices::list(&DeviceFilter {
        device_type: args.device_type,
        status: args.status.map(DeviceStatus::from),
        tag: args.tag,
        search: args.search,
        limit: args.limit,
        offset: args.offset,
    })?;

    let shown = page.devices.len();
    let offset = args.offset.unwrap_or(0);
    let summary = match (shown, page.total) {
        (0, 0) => "No devices match.".to_owned(),
        (0, total) => format!("No devices on this page ({total} match in total)."),
        (n, total) => {
            let names: Vec<&str> = page.devices.iter().map(|d| d.name.as_str()).collect();
            let first = u64::from(offset) + 1;
            let last = u64::from(offset) + n as u64;
            format!("Devices {first}-{last} of {total}: {}.", names.join(", "))
        }
    };
    let body = json!({
        "devices": page.devices.iter().map(device_json).collect::<Vec<_>>(),
        "total": page.total,
        "limit": args.limit,
        "offset": args.offset,
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn get_device(args: GetArgs) -> Result<ToolOutput, ToolError> {
    match devices::get(&args.device)? {
        Some(device) => ToolOutput::json(&device_json(&device)),
        None => Err(ToolError::not_found(format!(
            "no device with id or name `{}`",
            args.device
        ))),
    }
}

/// The `{device}` input schema of the ssh tools.
fn device_arg_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string", "minLength": 1, "description": "Device id or name."},
        },
        "required": ["device"],
        "additionalProperties": false,
    })
}

fn get_device_info(args: GetArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    // grep -H prints `path:line` for every line of every readable file and
    // skips missing ones (-s), so one round trip reads them all. Its exit
    // status is 2 when a file is missing; the output is still complete.
    let mut argv = vec!["grep", "-H", "-s", ""];
    argv.extend_from_slice(devinfo::INFO_FILES);
    let files = ssh::run(dev, &argv)?;
    if files.program_missing() || files.stdout.trim().is_empty() {
        return Err(ToolError::failed(format!(
            "could not read system files on {dev}: {}",
            files.error_summary()
        )));
    }
    // ls -d prints the paths that exist; missing ones only go to stderr.
    let mut argv = vec!["ls", "-d"];
    argv.extend_from_slice(devinfo::PRESENCE_PATHS);
    let present = ssh::run(dev, &argv)?;
    let detect = if devinfo::has_detect_virt(&devinfo::parse_presence(&present.stdout)) {
        // Exits 1 after printing `none` on bare metal.
        Some(ssh::run(dev, &["systemd-detect-virt"])?.stdout)
    } else {
        None
    };
    let info = devinfo::parse_device_info(&files.stdout, &present.stdout, detect.as_deref());
    let summary = format!(
        "{dev}: {}, kernel {}, {} x {}, {} memory, up {}, {}{}{}.",
        info.os.pretty_name.as_deref().unwrap_or("unknown OS"),
        info.kernel.as_deref().unwrap_or("?"),
        info.cpu.count,
        info.cpu.model.as_deref().unwrap_or("unknown CPU"),
        info.memory
            .map(|m| format!("{:.1} GiB", m.total_bytes as f64 / 1_073_741_824.0))
            .unwrap_or_else(|| "unknown".to_owned()),
        info.uptime_seconds
            .map(|u| format!("{:.1} days", u / 86_400.0))
            .unwrap_or_else(|| "unknown".to_owned()),
        match (
            info.virtualization.kind.as_str(),
            info.virtualization.technology.as_deref()
        ) {
            ("none", _) => "bare metal".to_owned(),
            (kind, Some(t)) => format!("{kind} ({t})"),
            (kind, None) => kind.to_owned(),
        },
        if info.docker_installed {
            ", docker"
        } else {
            ""
        },
        if info.zfs_available { ", zfs" } else { "" },
    );
    let mut body = toolhost_plugin::serde_json::to_value(&info)
        .map_err(|e| ToolError::failed(format!("cannot serialize the result: {e}")))?;
    body["device"] = json!(dev);
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn test_connectivity(args: GetArgs) -> Result<ToolOutput, ToolError> {
    let dev = args.device.as_str();
    let options = ExecOptions {
        timeout_ms: Some(CONNECTIVITY_TIMEOUT_MS),
        max_output_bytes: Some(4096),
        stdin: None,
    };
    let start = Instant::now();
    let result = ssh::exec(dev, &["true".to_owned()], &options);
    let latency_ms = start.elapsed().as_millis() as u64;
    let (body, summary) = match result {
        Ok(out) if out.exit_code == Some(0) => (
            json!({
                "device": dev, "ok": true, "latency_ms": latency_ms,
                "command_ms": out.duration_ms, "exit_code": out.exit_code,
            }),
            format!("{dev}: reachable, `true` ran in {latency_ms} ms."),
        ),
        Ok(out) => {
            let message = format!(
                "connected, but `true` exited with {}",
                out.exit_code
                    .map(|c| c.to_string())
                    .or(out.signal)
                    .unwrap_or_else(|| "no status".to_owned())
            );
            (
                json!({
                    "device": dev, "ok": false, "latency_ms": latency_ms,
                    "command_ms": out.duration_ms, "exit_code": out.exit_code,
                    "error_kind": "command-failed", "message": message,
                }),
                format!("{dev}: {message}."),
            )
        }
        Err(e) => {
            let kind = ssh::error_kind(&e);
            let message = ssh::error_message(&e).to_owned();
            (
                json!({
                    "device": dev, "ok": false, "latency_ms": latency_ms,
                    "error_kind": kind, "message": message,
                }),
                format!("{dev}: not reachable ({kind}): {message}"),
            )
        }
    };
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

/// JSON Schema of `get_device_info`'s output.
fn device_info_schema() -> Value {
    let ns = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string"},
            "hostname": ns,
            "os": {"type": "object", "properties": {
                "id": ns, "name": ns, "pretty_name": ns, "version_id": ns,
            }},
            "kernel": ns,
            "cpu": {"type": "object", "properties": {
                "model": ns,
                "count": {"type": "integer", "minimum": 0},
                "sockets": {"type": ["integer", "null"]},
                "hypervisor_flag": {"type": "boolean"},
            }, "required": ["count"]},
            "memory": {"type": ["object", "null"], "properties": {
                "total_bytes": {"type": "integer"},
                "available_bytes": {"type": "integer"},
                "used_bytes": {"type": "integer"},
                "used_percent": {"type": "number"},
                "swap_total_bytes": {"type": "integer"},
            }},
            "uptime_seconds": {"type": ["number", "null"]},
            "virtualization": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["none", "vm", "container", "unknown"]},
                "technology": ns,
                "source": {"type": "string"},
            }, "required": ["kind", "source"]},
            "docker_installed": {"type": "boolean"},
            "docker_socket": {"type": "boolean"},
            "zfs_available": {"type": "boolean"},
        },
        "required": [
            "device", "os", "kernel", "cpu", "virtualization",
            "docker_installed", "docker_socket", "zfs_available",
        ],
    })
}

/// The JSON shape of a device, shared by both registry tools' outputs.
fn device_json(d: &Device) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "hostname": d.hostname,
        "port": d.port,
        "username": d.username,
        "device_type": d.device_type,
        "tags": d.tags,
        "location": d.location,
        "description": d.description,
        "monitoring_enabled": d.monitoring_enabled,
        "status": d.status.as_str(),
        "last_seen": d.last_seen,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    })
}

/// JSON Schema of [`device_json`].
fn device_schema() -> Value {
    let nullable_string = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "hostname": {"type": "string"},
            "port": {"type": "integer", "minimum": 0, "maximum": 65535},
            "username": {"type": "string"},
            "device_type": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "location": nullable_string,
            "description": nullable_string,
            "monitoring_enabled": {"type": "boolean"},
            "status": {"type": "string", "enum": ["online", "offline", "unknown", "maintenance"]},
            "last_seen": {"type": ["string", "null"], "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        "required": [
            "id", "name", "hostname", "port", "username", "device_type", "tags",
            "monitoring_enabled", "status", "created_at", "updated_at",
        ],
    })
}
