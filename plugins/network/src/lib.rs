//! The bundled `network` plugin: read-only view of a device's network
//! configuration, gathered over the host's `ssh` capability.
//!
//! Tools: `get_network_interfaces` (`ip -j addr` merged with `ip -j -s link`
//! counters), `get_listening_ports` (`ss -H -tulpn`), `get_network_topology`
//! (interfaces, routes, bridges from `ip -j -d addr`, docker networks) and
//! `list_docker_networks` (`docker network ls` / `inspect`). Every program it
//! runs is listed in [`PROGRAMS`]; parsing lives in `toolhost-parsers`.

use serde::Deserialize;
use toolhost_parsers::docker::{self, DockerProblem};
use toolhost_parsers::{ParseError, ip, ss};
use toolhost_plugin::ssh;
use toolhost_plugin::{
    Capability, Guest, PluginInfo, ToolError, ToolInfo, ToolOutput, Value, json, parse_args,
};

/// Every program this plugin runs (argv[0]); declared as `Capability::Ssh`.
pub const PROGRAMS: &[&str] = &["ip", "ss", "docker"];

struct Network;

fn device_only_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "device": {"type": "string", "minLength": 1, "description": "Device id or name from the registry."},
        },
        "required": ["device"],
        "additionalProperties": false,
    })
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

impl Guest for Network {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "network",
            env!("CARGO_PKG_VERSION"),
            "Network configuration of a device: interfaces, listening ports, routes, bridges, docker networks.",
        )
        .capability(Capability::Ssh(PROGRAMS.iter().map(|p| (*p).to_owned()).collect()))
        .tool(
            ToolInfo::new(
                "get_network_interfaces",
                "Network interfaces with state, MTU, MAC, addresses and traffic counters (ip -j addr, ip -j -s link).",
                device_only_schema(),
            )
            .title("Network interfaces")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "interfaces": {"type": "array", "items": interface_schema()},
                },
                "required": ["device", "interfaces"],
            }))
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_listening_ports",
                "Listening TCP and UDP sockets with address, port and owning process (ss -H -tulpn; \
                 processes of other users are only visible when the ssh user is root).",
                device_only_schema(),
            )
            .title("Listening ports")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "ports": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "protocol": {"type": "string"},
                            "state": {"type": "string"},
                            "address": {"type": "string"},
                            "interface": nullable("string"),
                            "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                            "processes": {"type": "array", "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "pid": nullable("integer"),
                                    "fd": nullable("integer"),
                                },
                                "required": ["name"],
                            }},
                        },
                        "required": ["protocol", "state", "address", "port", "processes"],
                    }},
                    "processes_visible": {"type": "boolean"},
                },
                "required": ["device", "ports", "processes_visible"],
            }))
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "get_network_topology",
                "How the device is wired: interfaces and addresses, IPv4/IPv6 routes, Linux bridges \
                 with their members, and docker networks (when docker is installed) mapped to their bridges.",
                device_only_schema(),
            )
            .title("Network topology")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "interfaces": {"type": "array", "items": interface_schema()},
                    "routes": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "destination": {"type": "string"},
                            "gateway": nullable("string"),
                            "device": nullable("string"),
                            "protocol": nullable("string"),
                            "scope": nullable("string"),
                            "source": nullable("string"),
                            "metric": nullable("integer"),
                            "family": {"type": "string", "enum": ["inet", "inet6"]},
                        },
                        "required": ["destination", "family"],
                    }},
                    "default_gateways": {"type": "array", "items": {"type": "string"}},
                    "bridges": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "members": {"type": "array", "items": {"type": "string"}},
                            "addresses": {"type": "array", "items": {"type": "string"}},
                            "state": {"type": "string"},
                            "docker_network": nullable("string"),
                        },
                        "required": ["name", "members", "addresses", "state"],
                    }},
                    "docker": docker_schema(),
                },
                "required": ["device", "interfaces", "routes", "bridges", "docker"],
            }))
            .read_only(),
        )
        .tool(
            ToolInfo::new(
                "list_docker_networks",
                "Docker networks with driver, subnets, gateway, bridge interface and attached \
                 containers (docker network ls, docker network inspect). A device without docker \
                 gets `status: not_installed`, not an error.",
                device_only_schema(),
            )
            .title("Docker networks")
            .output_schema(json!({
                "type": "object",
                "properties": {
                    "device": {"type": "string"},
                    "docker": docker_schema(),
                },
                "required": ["device", "docker"],
            }))
            .read_only(),
        )
    }

    fn call(tool: String, args_json: String) -> Result<ToolOutput, ToolError> {
        let args: DeviceArgs = parse_args(&args_json)?;
        match tool.as_str() {
            "get_network_interfaces" => get_network_interfaces(&args.device),
            "get_listening_ports" => get_listening_ports(&args.device),
            "get_network_topology" => get_network_topology(&args.device),
            "list_docker_networks" => list_docker_networks(&args.device),
            other => Err(ToolError::unknown_tool(other)),
        }
    }
}

toolhost_plugin::export!(Network);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceArgs {
    device: String,
}

fn parse_failed(what: &str) -> impl FnOnce(ParseError) -> ToolError + '_ {
    move |e| ToolError::failed(format!("cannot parse `{what}` output: {e}"))
}

/// Runs an `ip` subcommand and parses its JSON.
fn ip_json(dev: &str, argv: &[&str]) -> Result<String, ToolError> {
    let out = ssh::run(dev, argv)?;
    if out.program_missing() {
        return Err(ToolError::unavailable(format!(
            "`ip` (iproute2) is not installed on {dev}"
        )));
    }
    if !out.success() && out.stderr.contains("-j") {
        return Err(ToolError::unavailable(format!(
            "`ip` on {dev} does not support JSON output (iproute2 ≥ 4.14 needed): {}",
            out.error_summary()
        )));
    }
    Ok(out.ensure_success("ip")?.stdout)
}

fn get_network_interfaces(dev: &str) -> Result<ToolOutput, ToolError> {
    let addr = ip_json(dev, &["ip", "-j", "addr"])?;
    let link = ip_json(dev, &["ip", "-j", "-s", "link"])?;
    let mut ifs = ip::parse_interfaces(&addr).map_err(parse_failed("ip -j addr"))?;
    let stats = ip::parse_interfaces(&link).map_err(parse_failed("ip -j -s link"))?;
    ip::merge_stats(&mut ifs, &stats);
    let up: Vec<String> = ifs
        .iter()
        .filter(|i| i.state == "UP")
        .map(|i| {
            let v4: Vec<String> = i
                .addresses
                .iter()
                .filter(|a| a.family == "inet")
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect();
            if v4.is_empty() {
                i.name.clone()
            } else {
                format!("{} {}", i.name, v4.join(" "))
            }
        })
        .collect();
    let summary = format!(
        "{dev}: {} interfaces, up: {}.",
        ifs.len(),
        if up.is_empty() {
            "none".to_owned()
        } else {
            up.join(", ")
        }
    );
    let body = json!({"device": dev, "interfaces": ifs});
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn get_listening_ports(dev: &str) -> Result<ToolOutput, ToolError> {
    let out = ssh::run(dev, &["ss", "-H", "-tulpn"])?;
    if out.program_missing() {
        return Err(ToolError::unavailable(format!(
            "`ss` (iproute2) is not installed on {dev}"
        )));
    }
    let out = out.ensure_success("ss")?;
    let mut ports = ss::parse_ss(&out.stdout).map_err(parse_failed("ss -H -tulpn"))?;
    ports.sort_by(|a, b| {
        (a.protocol.as_str(), a.port, a.address.as_str()).cmp(&(
            b.protocol.as_str(),
            b.port,
            b.address.as_str(),
        ))
    });
    let processes_visible = ports.iter().any(|p| !p.processes.is_empty());
    let mut tcp: Vec<u16> = ports
        .iter()
        .filter(|p| p.protocol == "tcp")
        .map(|p| p.port)
        .collect();
    tcp.dedup();
    let mut udp: Vec<u16> = ports
        .iter()
        .filter(|p| p.protocol == "udp")
        .map(|p| p.port)
        .collect();
    udp.dedup();
    let list = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
    let summary = format!(
        "{dev}: {} listening sockets; tcp ports: {}; udp ports: {}.",
        ports.len(),
        if tcp.is_empty() {
            "none".to_owned()
        } else {
            list(&tcp)
        },
        if udp.is_empty() {
            "none".to_owned()
        } else {
            list(&udp)
        },
    );
    let body = json!({"device": dev, "ports": ports, "processes_visible": processes_visible});
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

/// What asking docker for its networks gave.
struct DockerNetworks {
    status: &'static str,
    message: Option<String>,
    networks: Vec<docker::Network>,
}

fn problem_str(p: DockerProblem) -> &'static str {
    match p {
        DockerProblem::NotInstalled => "not_installed",
        DockerProblem::DaemonUnavailable => "daemon_unavailable",
        DockerProblem::PermissionDenied => "permission_denied",
        DockerProblem::Failed => "error",
    }
}

fn docker_networks(dev: &str) -> Result<DockerNetworks, ToolError> {
    let fail = |o: &ssh::Output| {
        let problem = docker::classify_failure(o.exit_code, &o.stderr);
        let message = match problem {
            DockerProblem::NotInstalled => "docker is not installed".to_owned(),
            _ => o.error_summary(),
        };
        DockerNetworks {
            status: problem_str(problem),
            message: Some(message),
            networks: Vec::new(),
        }
    };
    let ls = ssh::run(
        dev,
        &[
            "docker",
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{json .}}",
        ],
    )?;
    if !ls.success() {
        return Ok(fail(&ls));
    }
    let summaries =
        docker::parse_network_ls(&ls.stdout).map_err(parse_failed("docker network ls"))?;
    let ids: Vec<&str> = summaries
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    if ids.is_empty() {
        return Ok(DockerNetworks {
            status: "ok",
            message: None,
            networks: Vec::new(),
        });
    }
    let mut argv = vec!["docker", "network", "inspect"];
    argv.extend(ids);
    let inspect = ssh::run(dev, &argv)?;
    if !inspect.success() && inspect.stdout.trim().is_empty() {
        return Ok(fail(&inspect));
    }
    let mut networks = docker::parse_network_inspect(&inspect.stdout)
        .map_err(parse_failed("docker network inspect"))?;
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(DockerNetworks {
        status: "ok",
        message: None,
        networks,
    })
}

fn docker_json(d: &DockerNetworks) -> Value {
    json!({"status": d.status, "message": d.message, "networks": d.networks})
}

fn list_docker_networks(dev: &str) -> Result<ToolOutput, ToolError> {
    let d = docker_networks(dev)?;
    let summary = match d.status {
        "ok" => format!(
            "{dev}: {} docker network(s): {}.",
            d.networks.len(),
            d.networks
                .iter()
                .map(|n| format!(
                    "{} ({}, {} container(s))",
                    n.name,
                    n.driver,
                    n.containers.len()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "not_installed" => format!("{dev}: docker is not installed."),
        _ => format!(
            "{dev}: docker networks unavailable ({}): {}.",
            d.status,
            d.message.as_deref().unwrap_or("")
        ),
    };
    let body = json!({"device": dev, "docker": docker_json(&d)});
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn get_network_topology(dev: &str) -> Result<ToolOutput, ToolError> {
    let addr = ip_json(dev, &["ip", "-j", "-d", "addr"])?;
    let ifs = ip::parse_interfaces(&addr).map_err(parse_failed("ip -j -d addr"))?;
    let mut routes = ip::parse_routes(&ip_json(dev, &["ip", "-j", "route"])?)
        .map_err(parse_failed("ip -j route"))?;
    // IPv6 may be disabled; its routes are a bonus.
    if let Ok(v6) = ip_json(dev, &["ip", "-j", "-6", "route"]) {
        routes.extend(ip::parse_routes(&v6).unwrap_or_default());
    }
    let d = docker_networks(dev)?;
    let bridges: Vec<Value> = ip::bridges(&ifs)
        .into_iter()
        .map(|b| {
            let docker_network = d
                .networks
                .iter()
                .find(|n| n.bridge_interface.as_deref() == Some(b.name.as_str()))
                .map(|n| n.name.clone());
            json!({
                "name": b.name, "members": b.members, "addresses": b.addresses,
                "state": b.state, "docker_network": docker_network,
            })
        })
        .collect();
    let gateways: Vec<String> = routes
        .iter()
        .filter(|r| r.destination == "default")
        .filter_map(|r| {
            r.gateway
                .as_ref()
                .map(|g| format!("{g} via {}", r.device.as_deref().unwrap_or("?")))
        })
        .collect();
    let summary = format!(
        "{dev}: {} interfaces, {} routes, default gateway {}, {} bridge(s), docker: {}.",
        ifs.len(),
        routes.len(),
        if gateways.is_empty() {
            "none".to_owned()
        } else {
            gateways.join(", ")
        },
        bridges.len(),
        if d.status == "ok" {
            format!("{} network(s)", d.networks.len())
        } else {
            d.status.replace('_', " ")
        },
    );
    let body = json!({
        "device": dev,
        "interfaces": ifs,
        "routes": routes,
        "default_gateways": gateways,
        "bridges": bridges,
        "docker": docker_json(&d),
    });
    Ok(ToolOutput::json(&body)?.with_text(summary))
}

fn interface_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "name": {"type": "string"},
            "state": {"type": "string"},
            "flags": {"type": "array", "items": {"type": "string"}},
            "mtu": nullable("integer"),
            "mac": nullable("string"),
            "link_type": nullable("string"),
            "kind": nullable("string"),
            "master": nullable("string"),
            "addresses": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "family": {"type": "string"},
                    "address": {"type": "string"},
                    "prefix_len": {"type": "integer"},
                    "scope": nullable("string"),
                },
                "required": ["family", "address", "prefix_len"],
            }},
            "stats": {"type": ["object", "null"], "properties": {
                "rx_bytes": {"type": "integer"}, "rx_packets": {"type": "integer"},
                "rx_errors": {"type": "integer"}, "rx_dropped": {"type": "integer"},
                "tx_bytes": {"type": "integer"}, "tx_packets": {"type": "integer"},
                "tx_errors": {"type": "integer"}, "tx_dropped": {"type": "integer"},
            }},
        },
        "required": ["index", "name", "state", "addresses"],
    })
}

fn docker_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "not_installed", "daemon_unavailable", "permission_denied", "error"]},
            "message": nullable("string"),
            "networks": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "driver": {"type": "string"},
                    "scope": {"type": "string"},
                    "created": nullable("string"),
                    "internal": {"type": "boolean"},
                    "attachable": {"type": "boolean"},
                    "ipv6": {"type": "boolean"},
                    "subnets": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"subnet": {"type": "string"}, "gateway": nullable("string")},
                        "required": ["subnet"],
                    }},
                    "bridge_interface": nullable("string"),
                    "containers": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "container_id": {"type": "string"},
                            "name": {"type": "string"},
                            "ipv4": nullable("string"),
                            "ipv6": nullable("string"),
                            "mac": nullable("string"),
                        },
                        "required": ["container_id", "name"],
                    }},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["id", "name", "driver", "scope", "subnets", "containers"],
            }},
        },
        "required": ["status", "networks"],
    })
}
