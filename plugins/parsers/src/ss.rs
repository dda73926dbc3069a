//! `ss -H -tulpn`: listening TCP and UDP sockets.

use crate::ParseError;
use serde::Serialize;

/// A process owning a socket (`users:(("sshd",pid=812,fd=3))`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketProcess {
    /// Process name.
    pub name: String,
    /// Process id.
    pub pid: Option<u32>,
    /// File descriptor.
    pub fd: Option<u32>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListeningPort {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `LISTEN` (TCP) or `UNCONN` (UDP).
    pub state: String,
    /// Local address without brackets; `*` or `0.0.0.0`/`::` mean any.
    pub address: String,
    /// `%iface` scope when bound to an interface.
    pub interface: Option<String>,
    /// Local port.
    pub port: u16,
    /// Owning processes (empty when ss could not see them: run as root).
    pub processes: Vec<SocketProcess>,
}

fn split_addr(local: &str) -> Option<(String, Option<String>, u16)> {
    let (addr, port) = local.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let (addr, iface) = match addr.split_once('%') {
        Some((a, i)) => (a, Some(i.trim_end_matches(']').to_owned())),
        None => (addr, None),
    };
    Some((addr.trim_end_matches(']').to_owned(), iface, port))
}

fn parse_users(s: &str) -> Vec<SocketProcess> {
    // users:(("nginx",pid=10,fd=6),("nginx",pid=11,fd=6))
    let Some(inner) = s.strip_prefix("users:(").and_then(|s| s.strip_suffix(')')) else {
        return Vec::new();
    };
    inner
        .split("),(")
        .filter_map(|p| {
            let p = p.trim_start_matches('(').trim_end_matches(')');
            let (name, rest) = p.strip_prefix('"')?.split_once('"')?;
            let mut pid = None;
            let mut fd = None;
            for kv in rest.split(',') {
                if let Some(v) = kv.strip_prefix("pid=") {
                    pid = v.parse().ok();
                } else if let Some(v) = kv.strip_prefix("fd=") {
                    fd = v.parse().ok();
                }
            }
            Some(SocketProcess {
                name: name.to_owned(),
                pid,
                fd,
            })
        })
        .collect()
}

/// Parses `ss -H -tulpn` (no header; columns Netid State Recv-Q Send-Q
/// Local Peer [Process]).
pub fn parse_ss(text: &str) -> Result<Vec<ListeningPort>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "Netid" {
            continue;
        }
        if f.len() < 6 {
            return Err(ParseError::new(format!("unexpected ss line: `{line}`")));
        }
        let (address, interface, port) = split_addr(f[4])
            .ok_or_else(|| ParseError::new(format!("ss: cannot read local address `{}`", f[4])))?;
        let process = f[6..].join(" ");
        out.push(ListeningPort {
            protocol: f[0].to_owned(),
            state: f[1].to_owned(),
            address,
            interface,
            port,
            processes: parse_users(&process),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_real_sample() {
        let p = parse_ss(include_str!("../testdata/ss.txt")).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].protocol, "udp");
        assert_eq!(p[0].state, "UNCONN");
        assert_eq!(p[0].address, "127.0.0.1");
        assert_eq!(p[0].port, 15353);
        assert_eq!(
            p[0].processes,
            [SocketProcess {
                name: "python3".into(),
                pid: Some(17528),
                fd: Some(4)
            }]
        );
        assert_eq!(p[1].address, "::1");
        assert_eq!(p[1].port, 15354);
        assert_eq!(p[2].protocol, "tcp");
        assert_eq!(p[2].address, "0.0.0.0");
        assert_eq!(p[2].port, 2024);
        assert!(
            p[2].processes.is_empty(),
            "no process column for that socket"
        );
        assert_eq!(p[3].address, "*");
        assert_eq!(p[3].port, 18080);
    }

    #[test]
    fn ss_interface_scope_and_multiple_users() {
        let text = "udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:((\"systemd-resolve\",pid=600,fd=13))\n\
                    tcp LISTEN 0 511 [fe80::1%eth0]:80 [::]:* users:((\"nginx\",pid=11,fd=6),(\"nginx\",pid=10,fd=6))\n";
        let p = parse_ss(text).unwrap();
        assert_eq!(p[0].address, "127.0.0.53");
        assert_eq!(p[0].interface.as_deref(), Some("lo"));
        assert_eq!(p[0].processes[0].name, "systemd-resolve");
        assert_eq!(p[1].address, "fe80::1");
        assert_eq!(p[1].interface.as_deref(), Some("eth0"));
        assert_eq!(p[1].port, 80);
        assert_eq!(p[1].processes.len(), 2);
        assert_eq!(p[1].processes[1].pid, Some(10));
        assert!(parse_ss("tcp LISTEN 0\n").is_err());
        assert!(parse_ss("tcp LISTEN 0 1 nocolon x\n").is_err());
    }
}
