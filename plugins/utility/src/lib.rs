//! The bundled `utility` plugin: read access to the device registry.
//!
//! Tools: `list_devices` (filter and page the registry) and `get_device` (one
//! device by id or name). Needs only the `devices-read` capability.

use serde::Deserialize;
use toolhost_plugin::devices::{self, Device, DeviceFilter, DeviceStatus};
use toolhost_plugin::{
    Capability, Guest, PluginInfo, ToolError, ToolInfo, ToolOutput, Value, json, parse_args,
};

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
    }

    fn call(tool: String, args_json: String) -> Result<ToolOutput, ToolError> {
        match tool.as_str() {
            "list_devices" => list_devices(parse_args(&args_json)?),
            "get_device" => get_device(parse_args(&args_json)?),
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

/// The JSON shape of a device, shared by both tools' outputs.
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
