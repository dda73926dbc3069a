//! `df -B1 -P -T`: one line per mounted filesystem, sizes in bytes.

use crate::ParseError;
use serde::Serialize;

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filesystem {
    /// Device or source (`/dev/sda1`, `tmpfs`, `pool/data`).
    pub filesystem: String,
    /// Filesystem type when `-T` was given.
    pub fstype: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// used / (used + available), percent, as df computes it.
    pub used_percent: f64,
    /// Where it is mounted.
    pub mount_point: String,
}

/// Pseudo filesystems that say nothing about disk space.
pub const PSEUDO_FSTYPES: &[&str] = &[
    "tmpfs",
    "devtmpfs",
    "squashfs",
    "ramfs",
    "efivarfs",
    "proc",
    "sysfs",
    "devfs",
    "cgroup",
    "cgroup2",
    "overlay_none",
];

impl Filesystem {
    /// A RAM-backed or read-only image filesystem (tmpfs, squashfs…).
    pub fn is_pseudo(&self) -> bool {
        self.fstype
            .as_deref()
            .is_some_and(|t| PSEUDO_FSTYPES.contains(&t))
            || self.filesystem == "tmpfs"
            || self.filesystem == "devtmpfs"
    }
}

/// Parses `df -B1 -P` output, with or without `-T` (detected from the header).
pub fn parse_df(text: &str) -> Result<Vec<Filesystem>, ParseError> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| ParseError::new("df printed nothing"))?;
    let has_type = header.split_whitespace().nth(1) == Some("Type");
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let numbers_at = if has_type { 2 } else { 1 };
        if f.len() < numbers_at + 5 {
            return Err(ParseError::new(format!("unexpected df line: `{line}`")));
        }
        let num = |i: usize| {
            f[i].parse::<u64>().map_err(|_| {
                ParseError::new(format!("df: `{}` is not a byte count in `{line}`", f[i]))
            })
        };
        let size = num(numbers_at)?;
        let used = num(numbers_at + 1)?;
        let avail = num(numbers_at + 2)?;
        let denom = used + avail;
        out.push(Filesystem {
            filesystem: f[0].to_owned(),
            fstype: has_type.then(|| f[1].to_owned()),
            size_bytes: size,
            used_bytes: used,
            available_bytes: avail,
            used_percent: if denom == 0 {
                0.0
            } else {
                crate::procfs::round2(used as f64 * 100.0 / denom as f64)
            },
            // The mount point is the rest of the line and may contain spaces.
            mount_point: f[numbers_at + 4..].join(" "),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_real_sample_with_types() {
        let fs = parse_df(include_str!("../testdata/df_PT.txt")).unwrap();
        assert_eq!(fs.len(), 5);
        let root = fs.iter().find(|f| f.mount_point == "/").unwrap();
        assert_eq!(root.filesystem, "/dev/vda");
        assert_eq!(root.fstype.as_deref(), Some("ext4"));
        assert_eq!(root.size_bytes, 270553174016);
        assert_eq!(root.used_bytes, 44142116864);
        assert_eq!(root.available_bytes, 53430632448);
        assert!(!root.is_pseudo());
        assert!(fs.iter().filter(|f| f.is_pseudo()).count() == 4);
    }

    #[test]
    fn df_without_type_and_mount_with_spaces() {
        let text = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                    /dev/sdb1 1000 250 750 25% /mnt/my disk\n";
        let fs = parse_df(text).unwrap();
        assert_eq!(fs[0].fstype, None);
        assert_eq!(fs[0].mount_point, "/mnt/my disk");
        assert_eq!(fs[0].used_percent, 25.0);
        assert!(parse_df("Filesystem\n/dev/x 1 2\n").is_err());
    }
}
