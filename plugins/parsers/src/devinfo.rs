//! `get_device_info`: one `grep -H -s '' FILE...` over the files in
//! [`INFO_FILES`] plus one `ls -d PATH...` over [`PRESENCE_PATHS`].

use crate::procfs::{Memory, parse_meminfo, parse_uptime};
use crate::{grep_h_file, split_grep_h};
use serde::Serialize;

/// Files read in one `grep -H -s ''` call (missing ones are silently skipped).
pub const INFO_FILES: &[&str] = &[
    "/etc/os-release",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/kernel/hostname",
    "/proc/meminfo",
    "/proc/uptime",
    "/proc/cpuinfo",
    "/proc/filesystems",
    "/proc/1/cgroup",
    "/run/systemd/container",
    "/sys/class/dmi/id/product_name",
    "/sys/class/dmi/id/sys_vendor",
];

/// Paths whose existence `ls -d` reports (missing ones only go to stderr).
pub const PRESENCE_PATHS: &[&str] = &[
    "/usr/bin/docker",
    "/usr/local/bin/docker",
    "/bin/docker",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/usr/sbin/zpool",
    "/sbin/zpool",
    "/usr/bin/systemd-detect-virt",
    "/bin/systemd-detect-virt",
    "/.dockerenv",
    "/run/.containerenv",
];

/// Operating system from `/etc/os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// `ID` (`debian`).
    pub id: Option<String>,
    /// `NAME`.
    pub name: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
    /// `VERSION_ID`.
    pub version_id: Option<String>,
}

/// CPU summary from `/proc/cpuinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuInfo {
    /// Model name (x86 `model name`, ARM `Model`/`Hardware`/`CPU part`).
    pub model: Option<String>,
    /// Logical CPUs (`processor` entries).
    pub count: u32,
    /// Distinct `physical id`s, when reported.
    pub sockets: Option<u32>,
    /// The CPU advertises the `hypervisor` flag.
    pub hypervisor_flag: bool,
}

/// What the machine runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Virtualization {
    /// `none`, `vm`, `container` or `unknown`.
    pub kind: String,
    /// `kvm`, `qemu`, `vmware`, `docker`, `lxc`… when identifiable.
    pub technology: Option<String>,
    /// Where the answer came from.
    pub source: String,
}

/// Everything `get_device_info` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// Host name the kernel reports.
    pub hostname: Option<String>,
    /// Operating system.
    pub os: OsInfo,
    /// Kernel release.
    pub kernel: Option<String>,
    /// CPU.
    pub cpu: CpuInfo,
    /// Memory.
    pub memory: Option<Memory>,
    /// Seconds since boot.
    pub uptime_seconds: Option<f64>,
    /// Virtualization.
    pub virtualization: Virtualization,
    /// A docker CLI binary exists.
    pub docker_installed: bool,
    /// The docker socket exists (the daemon is, or was, running).
    pub docker_socket: bool,
    /// The kernel knows ZFS (`/proc/filesystems`) or `zpool` is installed.
    pub zfs_available: bool,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
        .to_owned()
}

/// Parses `/etc/os-release`.
pub fn parse_os_release(text: &str) -> OsInfo {
    let mut os = OsInfo::default();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(unquote(v));
            match k.trim() {
                "ID" => os.id = v,
                "NAME" => os.name = v,
                "PRETTY_NAME" => os.pretty_name = v,
                "VERSION_ID" => os.version_id = v,
                _ => {}
            }
        }
    }
    os
}

/// Parses `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut cpu = CpuInfo::default();
    let mut sockets = std::collections::BTreeSet::new();
    let mut arm_part = None;
    let mut board = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => cpu.count += 1,
            "model name" | "cpu model" if cpu.model.is_none() => cpu.model = Some(v.to_owned()),
            "Model" | "Hardware" if board.is_none() => board = Some(v.to_owned()),
            "CPU part" if arm_part.is_none() => arm_part = Some(format!("ARM part {v}")),
            "physical id" => {
                sockets.insert(v.to_owned());
            }
            "flags" if v.split_whitespace().any(|f| f == "hypervisor") => {
                cpu.hypervisor_flag = true
            }
            _ => {}
        }
    }
    cpu.model = cpu.model.or(board).or(arm_part);
    cpu.sockets = (!sockets.is_empty()).then_some(sockets.len() as u32);
    cpu
}

fn vm_from_dmi(product: &str, vendor: &str) -> Option<&'static str> {
    let p = format!("{product} {vendor}").to_ascii_lowercase();
    [
        ("kvm", "kvm"),
        ("qemu", "qemu"),
        ("standard pc (", "qemu"),
        ("virtualbox", "oracle"),
        ("innotek", "oracle"),
        ("vmware", "vmware"),
        ("microsoft corporation", "microsoft"),
        ("hvm domu", "xen"),
        ("xen", "xen"),
        ("amazon ec2", "amazon"),
        ("google compute engine", "google"),
        ("bochs", "bochs"),
        ("parallels", "parallels"),
        ("bhyve", "bhyve"),
        ("openstack", "openstack"),
    ]
    .into_iter()
    .find(|(needle, _)| p.contains(needle))
    .map(|(_, tech)| tech)
}

/// Decides the virtualization from what was read. `detect_virt` is the
/// output of `systemd-detect-virt` when it ran (`none`, `kvm`, `docker`…),
/// which wins over the heuristics.
pub fn virtualization(
    files: &[(String, Vec<String>)],
    present: &[String],
    cpu: &CpuInfo,
    detect_virt: Option<&str>,
) -> Virtualization {
    let v = |kind: &str, tech: Option<&str>, source: &str| Virtualization {
        kind: kind.to_owned(),
        technology: tech.map(str::to_owned),
        source: source.to_owned(),
    };
    if let Some(d) = detect_virt.map(str::trim).filter(|d| !d.is_empty()) {
        const CONTAINERS: &[&str] = &[
            "openvz",
            "lxc",
            "lxc-libvirt",
            "systemd-nspawn",
            "docker",
            "podman",
            "rkt",
            "wsl",
            "proot",
            "pouch",
        ];
        let kind = if d == "none" {
            "none"
        } else if CONTAINERS.contains(&d) {
            "container"
        } else {
            "vm"
        };
        return v(kind, (d != "none").then_some(d), "systemd-detect-virt");
    }
    if let Some(c) = grep_h_file(files, "/run/systemd/container") {
        return v("container", Some(c.trim()), "/run/systemd/container");
    }
    let has = |p: &str| present.iter().any(|x| x == p);
    if has("/.dockerenv") {
        return v("container", Some("docker"), "/.dockerenv");
    }
    if has("/run/.containerenv") {
        return v("container", Some("podman"), "/run/.containerenv");
    }
    if let Some(cg) = grep_h_file(files, "/proc/1/cgroup") {
        for (needle, tech) in [
            ("docker", "docker"),
            ("kubepods", "kubernetes"),
            ("lxc", "lxc"),
            ("libpod", "podman"),
        ] {
            if cg.contains(needle) {
                return v("container", Some(tech), "/proc/1/cgroup");
            }
        }
    }
    let product = grep_h_file(files, "/sys/class/dmi/id/product_name").unwrap_or_default();
    let vendor = grep_h_file(files, "/sys/class/dmi/id/sys_vendor").unwrap_or_default();
    if let Some(tech) = vm_from_dmi(&product, &vendor) {
        return v("vm", Some(tech), "/sys/class/dmi/id");
    }
    if cpu.hypervisor_flag {
        return v("vm", None, "/proc/cpuinfo hypervisor flag");
    }
    if !product.is_empty() {
        return v("none", None, "/sys/class/dmi/id");
    }
    v("unknown", None, "no DMI data, no container markers")
}

/// True when `systemd-detect-virt` was found by `ls -d`.
pub fn has_detect_virt(present: &[String]) -> bool {
    present.iter().any(|p| p.ends_with("/systemd-detect-virt"))
}

/// The existing paths `ls -d` printed, one per line.
pub fn parse_presence(ls_output: &str) -> Vec<String> {
    ls_output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Builds the report from `grep -H -s ''` output, `ls -d` output and, if
/// it ran, `systemd-detect-virt` output.
pub fn parse_device_info(
    grep_output: &str,
    ls_output: &str,
    detect_virt: Option<&str>,
) -> DeviceInfo {
    let files = split_grep_h(grep_output);
    let present = parse_presence(ls_output);
    let file = |p: &str| grep_h_file(&files, p);
    let cpu = file("/proc/cpuinfo")
        .map(|c| parse_cpuinfo(&c))
        .unwrap_or_default();
    let has = |p: &str| present.iter().any(|x| x == p);
    DeviceInfo {
        hostname: file("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()),
        os: file("/etc/os-release")
            .map(|o| parse_os_release(&o))
            .unwrap_or_default(),
        kernel: file("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()),
        memory: file("/proc/meminfo").and_then(|m| parse_meminfo(&m).ok()),
        uptime_seconds: file("/proc/uptime").and_then(|u| parse_uptime(&u).ok()),
        virtualization: virtualization(&files, &present, &cpu, detect_virt),
        docker_installed: ["/usr/bin/docker", "/usr/local/bin/docker", "/bin/docker"]
            .iter()
            .any(|p| has(p)),
        docker_socket: has("/var/run/docker.sock") || has("/run/docker.sock"),
        zfs_available: file("/proc/filesystems")
            .is_some_and(|f| f.split_whitespace().any(|w| w == "zfs"))
            || has("/usr/sbin/zpool")
            || has("/sbin/zpool"),
        cpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LS: &str = "/usr/bin/systemd-detect-virt\n/usr/local/bin/docker\n";

    #[test]
    fn real_machine() {
        // grep -H -s '' over the files above, captured on this machine (no DMI).
        let info = parse_device_info(include_str!("../testdata/grep_H.txt"), LS, None);
        assert_eq!(info.os.id.as_deref(), Some("debian"));
        assert_eq!(
            info.os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(info.os.version_id.as_deref(), Some("12"));
        assert_eq!(info.kernel.as_deref(), Some("6.18.44-fc-v657"));
        assert_eq!(info.cpu.count, 2);
        assert!(info.cpu.model.is_some());
        assert_eq!(info.memory.unwrap().total_bytes, 24684092 * 1024);
        assert_eq!(info.uptime_seconds, Some(4328.66));
        assert!(info.docker_installed);
        assert!(!info.docker_socket);
        assert!(!info.zfs_available);
        assert!(has_detect_virt(&parse_presence(LS)));
        // Without DMI data the hypervisor CPU flag decides.
        assert_eq!(
            info.virtualization.kind,
            if info.cpu.hypervisor_flag {
                "vm"
            } else {
                "unknown"
            }
        );
    }

    #[test]
    fn detect_virt_wins() {
        let info = parse_device_info(include_str!("../testdata/grep_H.txt"), LS, Some("kvm\n"));
        assert_eq!(info.virtualization.kind, "vm");
        assert_eq!(info.virtualization.technology.as_deref(), Some("kvm"));
        let c = parse_device_info("", "", Some("docker"));
        assert_eq!(c.virtualization.kind, "container");
        let n = parse_device_info("", "", Some("none"));
        assert_eq!(n.virtualization.kind, "none");
        assert_eq!(n.virtualization.technology, None);
    }

    #[test]
    fn heuristics() {
        let dmi = "/sys/class/dmi/id/product_name:Standard PC (Q35 + ICH9, 2009)\n/sys/class/dmi/id/sys_vendor:QEMU\n";
        let v = parse_device_info(dmi, "", None).virtualization;
        assert_eq!(
            (v.kind.as_str(), v.technology.as_deref()),
            ("vm", Some("qemu"))
        );
        let metal = "/sys/class/dmi/id/product_name:PowerEdge R730\n/sys/class/dmi/id/sys_vendor:Dell Inc.\n";
        assert_eq!(
            parse_device_info(metal, "", None).virtualization.kind,
            "none"
        );
        let docker = "/proc/1/cgroup:0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            parse_device_info(docker, "", None)
                .virtualization
                .technology
                .as_deref(),
            Some("docker")
        );
        let zfs = "/proc/filesystems:nodev\tzfs\n";
        assert!(parse_device_info(zfs, "", None).zfs_available);
        assert!(parse_device_info("", "/var/run/docker.sock\n", None).docker_socket);
    }

    #[test]
    fn arm_cpuinfo() {
        let c = parse_cpuinfo(
            "processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd08\n\nprocessor\t: 1\nCPU part\t: 0xd08\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n",
        );
        assert_eq!(c.count, 2);
        assert_eq!(c.model.as_deref(), Some("BCM2835"));
        assert_eq!(c.sockets, None);
    }
}
