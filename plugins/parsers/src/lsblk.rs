//! `lsblk --json -b -o NAME,TYPE,SIZE,MODEL,SERIAL,ROTA,TRAN`.

use crate::ParseError;
use serde::Serialize;
use serde_json::Value;

/// One top-level block device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDevice {
    /// Kernel name (`sda`, `nvme0n1`).
    pub name: String,
    /// `disk`, `loop`, `rom`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in bytes.
    pub size_bytes: Option<u64>,
    /// Model string, trimmed.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Spinning disk (`ROTA`).
    pub rotational: Option<bool>,
    /// Transport (`sata`, `nvme`, `usb`…).
    pub transport: Option<String>,
}

impl BlockDevice {
    /// A physical disk worth asking SMART about: type `disk`, non-zero size,
    /// not a RAM/zram/loop/device-mapper node.
    pub fn is_physical_disk(&self) -> bool {
        self.kind == "disk"
            && self.size_bytes.unwrap_or(0) > 0
            && !["zram", "ram", "loop", "dm-", "md", "nbd"]
                .iter()
                .any(|p| self.name.starts_with(p))
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        // util-linux before 2.33 prints every value as a string.
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    }
}

/// Parses `lsblk --json` output into its top-level devices (children such
/// as partitions are skipped).
pub fn parse_lsblk(text: &str) -> Result<Vec<BlockDevice>, ParseError> {
    let v: Value = serde_json::from_str(text)?;
    let devices = v
        .get("blockdevices")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new("lsblk JSON has no `blockdevices` array"))?;
    devices
        .iter()
        .map(|d| {
            Ok(BlockDevice {
                name: string(d.get("name"))
                    .ok_or_else(|| ParseError::new("lsblk device without a name"))?,
                kind: string(d.get("type")).unwrap_or_default(),
                size_bytes: number(d.get("size")),
                model: string(d.get("model")),
                serial: string(d.get("serial")),
                rotational: boolean(d.get("rota")),
                transport: string(d.get("tran")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsblk_real_sample() {
        let d = parse_lsblk(include_str!("../testdata/lsblk.json")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].name, "vda");
        assert_eq!(d[1].kind, "disk");
        assert_eq!(d[1].size_bytes, Some(274877906944));
        assert_eq!(d[1].rotational, Some(true));
        assert_eq!(d[1].model, None);
        assert!(!d[0].is_physical_disk(), "zram0 is not a disk to check");
        assert!(d[1].is_physical_disk());
    }

    #[test]
    fn lsblk_old_string_format() {
        // util-linux 2.32 (RHEL 8) prints strings and "0"/"1".
        let text = r#"{"blockdevices": [
            {"name": "sda", "type": "disk", "size": "500107862016", "model": "Samsung SSD 860 ",
             "serial": "S3Z1NB0K123456A", "rota": "0", "tran": "sata",
             "children": [{"name": "sda1", "type": "part", "size": "536870912"}]}
        ]}"#;
        let d = parse_lsblk(text).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].size_bytes, Some(500107862016));
        assert_eq!(d[0].model.as_deref(), Some("Samsung SSD 860"));
        assert_eq!(d[0].rotational, Some(false));
        assert_eq!(d[0].transport.as_deref(), Some("sata"));
        assert!(parse_lsblk("{}").is_err());
        assert!(parse_lsblk("not json").is_err());
    }
}
