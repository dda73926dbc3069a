//! `/proc/stat`, `/proc/meminfo`, `/proc/loadavg`, `/proc/uptime` and
//! `/proc/net/dev`.

use crate::ParseError;
use serde::Serialize;

/// Cumulative CPU time in clock ticks, from one `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CpuTimes {
    /// Normal processes in user mode (includes guest time).
    pub user: u64,
    /// Niced processes in user mode.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Waiting for I/O.
    pub iowait: u64,
    /// Servicing interrupts.
    pub irq: u64,
    /// Servicing soft interrupts.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
}

impl CpuTimes {
    /// All ticks (guest time is already inside `user`/`nice`).
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }

    /// Ticks spent doing nothing (idle + iowait).
    pub fn idle_total(&self) -> u64 {
        self.idle + self.iowait
    }
}

/// The CPU lines of `/proc/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The aggregate `cpu` line.
    pub total: CpuTimes,
    /// `cpu0`, `cpu1`, … in order.
    pub per_cpu: Vec<CpuTimes>,
}

/// Parses `/proc/stat` (or just its `cpu` lines, as `grep ^cpu` prints).
pub fn parse_proc_stat(text: &str) -> Result<ProcStat, ParseError> {
    let mut total = None;
    let mut per_cpu = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(label) = fields.next() else { continue };
        if !label.starts_with("cpu") {
            continue;
        }
        let nums: Vec<u64> = fields
            .map(|f| f.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| ParseError::new(format!("/proc/stat `{label}`: {e}")))?;
        if nums.len() < 4 {
            return Err(ParseError::new(format!(
                "/proc/stat `{label}` has {} fields, expected at least 4",
                nums.len()
            )));
        }
        let at = |i: usize| nums.get(i).copied().unwrap_or(0);
        let times = CpuTimes {
            user: at(0),
            nice: at(1),
            system: at(2),
            idle: at(3),
            iowait: at(4),
            irq: at(5),
            softirq: at(6),
            steal: at(7),
        };
        if label == "cpu" {
            total = Some(times);
        } else {
            per_cpu.push(times);
        }
    }
    let total = total.ok_or_else(|| ParseError::new("/proc/stat has no `cpu` line"))?;
    Ok(ProcStat { total, per_cpu })
}

/// Busy share of the time between two samples, in percent (0–100), or
/// `None` when no ticks elapsed (or the counters went backwards).
pub fn cpu_usage_percent(before: &CpuTimes, after: &CpuTimes) -> Option<f64> {
    let total = after.total().checked_sub(before.total())?;
    let idle = after.idle_total().checked_sub(before.idle_total())?;
    if total == 0 {
        return None;
    }
    let busy = total.saturating_sub(idle) as f64;
    Some(round2(busy * 100.0 / total as f64))
}

/// Rounds to two decimals.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Memory figures from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    /// MemTotal.
    pub total_bytes: u64,
    /// MemFree.
    pub free_bytes: u64,
    /// MemAvailable (estimated from free + reclaimable on kernels before 3.14).
    pub available_bytes: u64,
    /// total − available.
    pub used_bytes: u64,
    /// used / total, percent.
    pub used_percent: f64,
    /// Buffers.
    pub buffers_bytes: u64,
    /// Cached.
    pub cached_bytes: u64,
    /// SwapTotal.
    pub swap_total_bytes: u64,
    /// SwapTotal − SwapFree.
    pub swap_used_bytes: u64,
}

/// Parses `/proc/meminfo` (`Key:   value kB` lines).
pub fn parse_meminfo(text: &str) -> Result<Memory, ParseError> {
    let mut get = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        get.insert(key.trim().to_owned(), bytes);
    }
    let field = |k: &str| get.get(k).copied();
    let total =
        field("MemTotal").ok_or_else(|| ParseError::new("/proc/meminfo has no MemTotal"))?;
    let free = field("MemFree").unwrap_or(0);
    let buffers = field("Buffers").unwrap_or(0);
    let cached = field("Cached").unwrap_or(0);
    let available = field("MemAvailable")
        .unwrap_or_else(|| free + buffers + cached + field("SReclaimable").unwrap_or(0));
    let used = total.saturating_sub(available);
    let swap_total = field("SwapTotal").unwrap_or(0);
    let swap_free = field("SwapFree").unwrap_or(0);
    Ok(Memory {
        total_bytes: total,
        free_bytes: free,
        available_bytes: available,
        used_bytes: used,
        used_percent: if total == 0 {
            0.0
        } else {
            round2(used as f64 * 100.0 / total as f64)
        },
        buffers_bytes: buffers,
        cached_bytes: cached,
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_total.saturating_sub(swap_free),
    })
}

/// `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadAvg {
    /// 1-minute load average.
    pub one: f64,
    /// 5-minute load average.
    pub five: f64,
    /// 15-minute load average.
    pub fifteen: f64,
    /// Runnable scheduling entities right now.
    pub running: u32,
    /// Scheduling entities in total.
    pub total: u32,
}

/// Parses `/proc/loadavg` (`0.52 0.58 0.59 2/467 12345`).
pub fn parse_loadavg(text: &str) -> Result<LoadAvg, ParseError> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let bad = || ParseError::new(format!("unexpected /proc/loadavg: `{}`", text.trim()));
    if f.len() < 4 {
        return Err(bad());
    }
    let (running, total) = f[3].split_once('/').ok_or_else(bad)?;
    Ok(LoadAvg {
        one: f[0].parse().map_err(|_| bad())?,
        five: f[1].parse().map_err(|_| bad())?,
        fifteen: f[2].parse().map_err(|_| bad())?,
        running: running.parse().map_err(|_| bad())?,
        total: total.parse().map_err(|_| bad())?,
    })
}

/// Parses `/proc/uptime` into seconds since boot.
pub fn parse_uptime(text: &str) -> Result<f64, ParseError> {
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| ParseError::new(format!("unexpected /proc/uptime: `{}`", text.trim())))
}

/// Counters of one interface from `/proc/net/dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetDevCounters {
    /// Interface name.
    pub interface: String,
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

/// Parses `/proc/net/dev` (two header lines, then `iface: 16 counters`).
pub fn parse_net_dev(text: &str) -> Result<Vec<NetDevCounters>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains('|') {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| ParseError::new(format!("/proc/net/dev `{name}`: {e}")))?;
        if n.len() < 12 {
            return Err(ParseError::new(format!(
                "/proc/net/dev `{name}` has {} counters, expected 16",
                n.len()
            )));
        }
        out.push(NetDevCounters {
            interface: name.to_owned(),
            rx_bytes: n[0],
            rx_packets: n[1],
            rx_errors: n[2],
            rx_dropped: n[3],
            tx_bytes: n[8],
            tx_packets: n[9],
            tx_errors: n[10],
            tx_dropped: n[11],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_real_sample() {
        let s = parse_proc_stat(include_str!("../testdata/proc_stat.txt")).unwrap();
        assert_eq!(s.per_cpu.len(), 2);
        assert_eq!(s.total.user, 767915);
        assert_eq!(s.total.idle, 35624);
        assert_eq!(s.total.steal, 750);
        assert_eq!(s.per_cpu[1].system, 29903);
    }

    #[test]
    fn cpu_usage_between_real_samples() {
        let a = parse_proc_stat(include_str!("../testdata/proc_stat.txt")).unwrap();
        let b = parse_proc_stat(include_str!("../testdata/proc_stat_cpu_later.txt")).unwrap();
        let pct = cpu_usage_percent(&a.total, &b.total).unwrap();
        assert!((0.0..=100.0).contains(&pct), "{pct}");
        // The machine was compiling: mostly busy.
        assert!(pct > 50.0, "{pct}");
        assert_eq!(cpu_usage_percent(&a.total, &a.total), None);
        assert_eq!(cpu_usage_percent(&b.total, &a.total), None);
    }

    #[test]
    fn cpu_usage_arithmetic() {
        let a = CpuTimes {
            user: 100,
            idle: 100,
            ..Default::default()
        };
        let b = CpuTimes {
            user: 175,
            idle: 125,
            ..Default::default()
        };
        assert_eq!(cpu_usage_percent(&a, &b), Some(75.0));
    }

    #[test]
    fn proc_stat_without_cpu_line_is_an_error() {
        assert!(parse_proc_stat("intr 1 2 3\n").is_err());
        assert!(parse_proc_stat("cpu  1 x 3 4\n").is_err());
    }

    #[test]
    fn meminfo_real_sample() {
        let m = parse_meminfo(include_str!("../testdata/meminfo.txt")).unwrap();
        assert_eq!(m.total_bytes, 24684092 * 1024);
        assert!(m.available_bytes > 0 && m.available_bytes <= m.total_bytes);
        assert_eq!(m.used_bytes, m.total_bytes - m.available_bytes);
        assert_eq!(m.swap_total_bytes, 0);
        assert!(m.used_percent > 0.0 && m.used_percent < 100.0);
    }

    #[test]
    fn meminfo_without_memavailable_estimates_it() {
        let m =
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n")
                .unwrap();
        assert_eq!(m.available_bytes, 400 * 1024);
        assert_eq!(m.used_percent, 60.0);
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
    }

    #[test]
    fn loadavg_and_uptime_real_samples() {
        let l = parse_loadavg(include_str!("../testdata/loadavg.txt")).unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (4.24, 4.27, 4.03));
        assert_eq!((l.running, l.total), (5, 128));
        let up = parse_uptime(include_str!("../testdata/uptime.txt")).unwrap();
        assert_eq!(up, 4328.63);
        assert!(parse_loadavg("garbage").is_err());
        assert!(parse_uptime("").is_err());
    }

    #[test]
    fn net_dev_real_sample() {
        let d = parse_net_dev(include_str!("../testdata/net_dev.txt")).unwrap();
        let names: Vec<&str> = d.iter().map(|c| c.interface.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        assert_eq!(d[3].rx_bytes, 297584877);
        assert_eq!(d[3].rx_packets, 12588);
        assert_eq!(d[3].tx_bytes, 882147);
        assert_eq!(d[3].tx_packets, 7864);
    }
}
