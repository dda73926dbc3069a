//! `docker network ls --format '{{json .}}'` and `docker network inspect`.

use crate::ParseError;
use serde::Serialize;
use serde_json::Value;

/// One row of `docker network ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSummary {
    /// Short id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `bridge`, `host`, `null`, `overlay`, `macvlan`…
    pub driver: String,
    /// `local` or `swarm`.
    pub scope: String,
}

/// Parses `docker network ls --format '{{json .}}'` (one object per line).
pub fn parse_network_ls(text: &str) -> Result<Vec<NetworkSummary>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            let g = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let id = g("ID");
            if id.is_empty() {
                return Err(ParseError::new(format!(
                    "docker network ls line without ID: `{l}`"
                )));
            }
            Ok(NetworkSummary {
                id,
                name: g("Name"),
                driver: g("Driver"),
                scope: g("Scope"),
            })
        })
        .collect()
}

/// An IPAM pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    /// CIDR.
    pub subnet: String,
    /// Gateway address.
    pub gateway: Option<String>,
}

/// A container attached to a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Container id.
    pub container_id: String,
    /// Container name.
    pub name: String,
    /// IPv4 address with prefix.
    pub ipv4: Option<String>,
    /// IPv6 address with prefix.
    pub ipv6: Option<String>,
    /// MAC address.
    pub mac: Option<String>,
}

/// One network from `docker network inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// Full id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Scope.
    pub scope: String,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
    /// No external connectivity.
    pub internal: bool,
    /// Standalone containers may attach.
    pub attachable: bool,
    /// IPv6 enabled.
    pub ipv6: bool,
    /// IPAM pools.
    pub subnets: Vec<Subnet>,
    /// The Linux bridge behind a `bridge` network, when named in options.
    pub bridge_interface: Option<String>,
    /// Attached containers.
    pub containers: Vec<Endpoint>,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
}

fn nonempty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Parses `docker network inspect ID...` (a JSON array).
pub fn parse_network_inspect(text: &str) -> Result<Vec<Network>, ParseError> {
    let v: Value = serde_json::from_str(text.trim())?;
    let arr = v
        .as_array()
        .ok_or_else(|| ParseError::new("docker network inspect did not print a JSON array"))?;
    Ok(arr
        .iter()
        .map(|n| {
            let b = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
            let st = |k: &str| nonempty(n.get(k)).unwrap_or_default();
            let mut containers: Vec<Endpoint> = n
                .get("Containers")
                .and_then(Value::as_object)
                .map(|c| {
                    c.iter()
                        .map(|(id, e)| Endpoint {
                            container_id: id.clone(),
                            name: nonempty(e.get("Name")).unwrap_or_default(),
                            ipv4: nonempty(e.get("IPv4Address")),
                            ipv6: nonempty(e.get("IPv6Address")),
                            mac: nonempty(e.get("MacAddress")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            Network {
                id: st("Id"),
                name: st("Name"),
                driver: st("Driver"),
                scope: st("Scope"),
                created: nonempty(n.get("Created")),
                internal: b("Internal"),
                attachable: b("Attachable"),
                ipv6: b("EnableIPv6"),
                subnets: n
                    .pointer("/IPAM/Config")
                    .and_then(Value::as_array)
                    .map(|c| {
                        c.iter()
                            .filter_map(|p| {
                                Some(Subnet {
                                    subnet: nonempty(p.get("Subnet"))?,
                                    gateway: nonempty(p.get("Gateway")),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                bridge_interface: nonempty(n.pointer("/Options/com.docker.network.bridge.name"))
                    .or_else(|| {
                        // Docker names user bridges br-<first 12 of id>.
                        (st("Driver") == "bridge" && st("Id").len() >= 12)
                            .then(|| format!("br-{}", &st("Id")[..12]))
                    }),
                containers,
                labels: n
                    .get("Labels")
                    .and_then(Value::as_object)
                    .map(|l| {
                        l.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// Why docker could not answer, read from a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DockerProblem {
    /// The docker CLI is not installed.
    NotInstalled,
    /// The daemon is not running or not reachable.
    DaemonUnavailable,
    /// The ssh user may not use the docker socket.
    PermissionDenied,
    /// Something else.
    Failed,
}

/// Classifies a failed docker run from its exit code and stderr.
pub fn classify_failure(exit_code: Option<i32>, stderr: &str) -> DockerProblem {
    let e = stderr.to_ascii_lowercase();
    if exit_code == Some(127) || e.contains("command not found") || e.contains("docker: not found")
    {
        DockerProblem::NotInstalled
    } else if e.contains("permission denied") {
        DockerProblem::PermissionDenied
    } else if e.contains("cannot connect to the docker daemon")
        || e.contains("is the docker daemon running")
    {
        DockerProblem::DaemonUnavailable
    } else {
        DockerProblem::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_ls() {
        let n = parse_network_ls(include_str!("../testdata/docker_network_ls.jsonl")).unwrap();
        assert_eq!(n.len(), 4);
        assert_eq!(n[0].id, "3f1c2a9b8d7e");
        assert_eq!(n[0].name, "bridge");
        assert_eq!(n[2].driver, "null");
        assert_eq!(n[3].name, "media_default");
        assert!(parse_network_ls("").unwrap().is_empty());
        assert!(parse_network_ls("{\"Name\":\"x\"}").is_err());
    }

    #[test]
    fn network_inspect() {
        let n =
            parse_network_inspect(include_str!("../testdata/docker_network_inspect.json")).unwrap();
        assert_eq!(n.len(), 4);
        assert_eq!(n[0].bridge_interface.as_deref(), Some("docker0"));
        assert_eq!(
            n[0].subnets,
            [Subnet {
                subnet: "172.17.0.0/16".into(),
                gateway: Some("172.17.0.1".into())
            }]
        );
        assert!(n[1].subnets.is_empty(), "host network has Config null");
        assert_eq!(n[1].bridge_interface, None);
        let media = &n[3];
        assert_eq!(media.bridge_interface.as_deref(), Some("br-c0ffee123456"));
        assert_eq!(media.containers.len(), 2);
        assert_eq!(media.containers[0].name, "jellyfin");
        assert_eq!(media.containers[0].ipv4.as_deref(), Some("172.20.0.2/16"));
        assert_eq!(media.containers[0].ipv6, None);
        assert_eq!(media.labels["com.docker.compose.project"], "media");
    }

    #[test]
    fn failures() {
        // Captured on this machine: the docker CLI exists, the daemon does not run.
        assert_eq!(
            classify_failure(
                Some(1),
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
            ),
            DockerProblem::DaemonUnavailable
        );
        assert_eq!(
            classify_failure(Some(127), "sh: docker: not found"),
            DockerProblem::NotInstalled
        );
        assert_eq!(
            classify_failure(
                Some(1),
                "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
            ),
            DockerProblem::PermissionDenied
        );
        assert_eq!(
            classify_failure(Some(1), "Error: No such network: x"),
            DockerProblem::Failed
        );
    }
}
