//! `ip -j addr`, `ip -j -s link`, `ip -j -d addr` and `ip -j route`.

use crate::ParseError;
use serde::Serialize;
use serde_json::Value;

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// `inet` or `inet6`.
    pub family: String,
    /// The address.
    pub address: String,
    /// Prefix length.
    pub prefix_len: u8,
    /// `global`, `link`, `host`.
    pub scope: Option<String>,
}

/// Interface counters (`ip -s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Transmitted packets dropped.
    pub tx_dropped: u64,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Interface index.
    pub index: u32,
    /// Name (`eth0`).
    pub name: String,
    /// Operational state (`UP`, `DOWN`, `UNKNOWN`).
    pub state: String,
    /// Link flags (`UP`, `LOWER_UP`, `BROADCAST`…).
    pub flags: Vec<String>,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address.
    pub mac: Option<String>,
    /// `ether`, `loopback`, `none`…
    pub link_type: Option<String>,
    /// Kind from `-d` details (`bridge`, `veth`, `vlan`, `bond`…).
    pub kind: Option<String>,
    /// The bridge or bond this interface is enslaved to.
    pub master: Option<String>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Counters, when `ip -s` output was merged in.
    pub stats: Option<LinkStats>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn array(text: &str, what: &str) -> Result<Vec<Value>, ParseError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str(text)? {
        Value::Array(a) => Ok(a),
        _ => Err(ParseError::new(format!(
            "`{what}` did not print a JSON array"
        ))),
    }
}

fn stats(v: &Value) -> Option<LinkStats> {
    let st = v.get("stats64").or_else(|| v.get("stats"))?;
    let n = |dir: &str, k: &str| {
        st.get(dir)
            .and_then(|d| d.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Some(LinkStats {
        rx_bytes: n("rx", "bytes"),
        rx_packets: n("rx", "packets"),
        rx_errors: n("rx", "errors"),
        rx_dropped: n("rx", "dropped"),
        tx_bytes: n("tx", "bytes"),
        tx_packets: n("tx", "packets"),
        tx_errors: n("tx", "errors"),
        tx_dropped: n("tx", "dropped"),
    })
}

/// Parses `ip -j addr`, `ip -j link`, `ip -j -s link` or `ip -j -d addr`:
/// all print the same per-interface objects, with more or fewer keys.
pub fn parse_interfaces(text: &str) -> Result<Vec<Interface>, ParseError> {
    array(text, "ip -j addr")?
        .iter()
        .map(|i| {
            let name = s(i, "ifname").ok_or_else(|| ParseError::new("interface without ifname"))?;
            let addresses = i
                .get("addr_info")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|a| {
                            Some(Address {
                                family: s(a, "family")?,
                                address: s(a, "local")?,
                                prefix_len: a.get("prefixlen")?.as_u64()? as u8,
                                scope: s(a, "scope"),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(Interface {
                index: i.get("ifindex").and_then(Value::as_u64).unwrap_or(0) as u32,
                state: s(i, "operstate").unwrap_or_else(|| "UNKNOWN".to_owned()),
                flags: i
                    .get("flags")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                mtu: i.get("mtu").and_then(Value::as_u64).map(|m| m as u32),
                mac: s(i, "address"),
                link_type: s(i, "link_type"),
                kind: i
                    .pointer("/linkinfo/info_kind")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                master: s(i, "master"),
                addresses,
                stats: stats(i),
                name,
            })
        })
        .collect()
}

/// Copies the counters from `ip -j -s link` output into `interfaces` by name.
pub fn merge_stats(interfaces: &mut [Interface], with_stats: &[Interface]) {
    for i in interfaces.iter_mut() {
        if let Some(s) = with_stats.iter().find(|s| s.name == i.name) {
            i.stats = s.stats.or(i.stats);
            if i.kind.is_none() {
                i.kind.clone_from(&s.kind);
            }
            if i.master.is_none() {
                i.master.clone_from(&s.master);
            }
        }
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Destination prefix or `default`.
    pub destination: String,
    /// Next hop.
    pub gateway: Option<String>,
    /// Output interface.
    pub device: Option<String>,
    /// `kernel`, `boot`, `static`, `dhcp`…
    pub protocol: Option<String>,
    /// `link`, `host`, `global`.
    pub scope: Option<String>,
    /// Preferred source address.
    pub source: Option<String>,
    /// Metric.
    pub metric: Option<u32>,
    /// `inet` or `inet6` (from the destination/gateway syntax).
    pub family: String,
}

/// Parses `ip -j route` (or `ip -j -6 route`).
pub fn parse_routes(text: &str) -> Result<Vec<Route>, ParseError> {
    Ok(array(text, "ip -j route")?
        .iter()
        .filter_map(|r| {
            let destination = s(r, "dst")?;
            let gateway = s(r, "gateway");
            let v6 =
                destination.contains(':') || gateway.as_deref().is_some_and(|g| g.contains(':'));
            Some(Route {
                gateway,
                device: s(r, "dev"),
                protocol: s(r, "protocol"),
                scope: s(r, "scope"),
                source: s(r, "prefsrc"),
                metric: r.get("metric").and_then(Value::as_u64).map(|m| m as u32),
                family: if v6 { "inet6" } else { "inet" }.to_owned(),
                destination,
            })
        })
        .collect())
}

/// A Linux bridge and the interfaces enslaved to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bridge {
    /// Bridge interface name.
    pub name: String,
    /// Member interfaces.
    pub members: Vec<String>,
    /// The bridge's own addresses.
    pub addresses: Vec<String>,
    /// Operational state.
    pub state: String,
}

/// Bridges among `interfaces` (which must come from `ip -j -d …` so `kind`
/// and `master` are known), with their members.
pub fn bridges(interfaces: &[Interface]) -> Vec<Bridge> {
    interfaces
        .iter()
        .filter(|i| i.kind.as_deref() == Some("bridge"))
        .map(|b| Bridge {
            name: b.name.clone(),
            members: interfaces
                .iter()
                .filter(|m| m.master.as_deref() == Some(b.name.as_str()))
                .map(|m| m.name.clone())
                .collect(),
            addresses: b
                .addresses
                .iter()
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect(),
            state: b.state.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_real_sample() {
        let ifs = parse_interfaces(include_str!("../testdata/ip_addr.json")).unwrap();
        assert_eq!(ifs.len(), 4);
        let eth0 = &ifs[3];
        assert_eq!(eth0.name, "eth0");
        assert_eq!(eth0.state, "UP");
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(eth0.mac.as_deref(), Some("02:fc:00:00:00:01"));
        assert_eq!(eth0.addresses.len(), 3);
        assert_eq!(eth0.addresses[0].address, "192.0.2.2");
        assert_eq!(eth0.addresses[0].prefix_len, 24);
        assert_eq!(eth0.addresses[1].family, "inet6");
        assert_eq!(eth0.stats, None);
        assert!(ifs[1].addresses.is_empty());
    }

    #[test]
    fn link_stats_merge() {
        let mut ifs = parse_interfaces(include_str!("../testdata/ip_addr.json")).unwrap();
        let st = parse_interfaces(include_str!("../testdata/ip_s_link.json")).unwrap();
        merge_stats(&mut ifs, &st);
        let eth0 = ifs.iter().find(|i| i.name == "eth0").unwrap();
        let s = eth0.stats.unwrap();
        assert_eq!(s.rx_bytes, 297584877);
        assert_eq!(s.rx_packets, 12588);
        assert_eq!(s.tx_bytes, 882147);
        assert_eq!(s.tx_packets, 7864);
        assert_eq!(eth0.addresses.len(), 3, "addresses kept");
    }

    #[test]
    fn routes_real_samples() {
        let r = parse_routes(include_str!("../testdata/ip_route.json")).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].destination, "default");
        assert_eq!(r[0].gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(r[0].device.as_deref(), Some("eth0"));
        assert_eq!(r[1].source.as_deref(), Some("192.0.2.2"));
        assert_eq!(r[1].scope.as_deref(), Some("link"));
        let r6 = parse_routes(include_str!("../testdata/ip6_route.json")).unwrap();
        assert_eq!(r6.len(), 3);
        assert!(r6.iter().all(|r| r.family == "inet6"));
        assert_eq!(r6[2].gateway.as_deref(), Some("fd00::1"));
        assert_eq!(r6[2].metric, Some(1024));
        assert!(parse_routes("").unwrap().is_empty());
        assert!(parse_routes("{}").is_err());
    }

    #[test]
    fn bridges_from_details() {
        // Captured in a scratch network namespace with br0 and a veth pair.
        let ifs = parse_interfaces(include_str!("../testdata/ip_d_addr_bridge.json")).unwrap();
        let b = bridges(&ifs);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].name, "br0");
        assert_eq!(b[0].members, ["veth0"]);
        assert_eq!(b[0].addresses[0], "10.10.0.1/24");
        assert!(b[0].addresses[1].starts_with("fe80::"));
        let veth1 = ifs.iter().find(|i| i.name == "veth1").unwrap();
        assert_eq!(veth1.kind.as_deref(), Some("veth"));
        // The real host has no bridge.
        let host = parse_interfaces(include_str!("../testdata/ip_d_addr.json")).unwrap();
        assert!(bridges(&host).is_empty());
        assert_eq!(
            host.iter()
                .find(|i| i.name == "ifb0")
                .unwrap()
                .kind
                .as_deref(),
            Some("ifb")
        );
    }
}
