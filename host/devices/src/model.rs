//! What callers send to the registry ([`NewDevice`], [`DevicePatch`]), what
//! it returns ([`DeviceRecord`]), and the validation that stands between them.
//!
//! Input structs are deliberately loose (`port: i64`, `status: String`) so
//! that a bad value reaches [`NewDevice::validate`] instead of failing
//! deserialization, and every invalid field is reported in one answer.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};
use toolhost_runtime::caps::devices::{Device, DeviceStatus};

/// Longest device name.
pub const MAX_NAME_LEN: usize = 63;
/// Longest hostname (the DNS limit for a full name).
pub const MAX_HOSTNAME_LEN: usize = 253;
/// Longest label between dots in a DNS hostname.
pub const MAX_HOSTNAME_LABEL_LEN: usize = 63;
/// Longest SSH login name.
pub const MAX_USERNAME_LEN: usize = 32;
/// Longest device type.
pub const MAX_DEVICE_TYPE_LEN: usize = 32;
/// Most tags on one device.
pub const MAX_TAGS: usize = 32;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 32;
/// Longest location or description, in characters.
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest key file path.
pub const MAX_KEY_PATH_LEN: usize = 4096;
/// SSH port when none is given.
pub const DEFAULT_PORT: u16 = 22;
/// SSH login when none is given.
pub const DEFAULT_USERNAME: &str = "root";
/// Device type when none is given.
pub const DEFAULT_DEVICE_TYPE: &str = "linux";

/// How the host authenticates to a device over SSH. Key material never enters
/// the registry: `Key` names a file on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// The host's SSH agent (`SSH_AUTH_SOCK`).
    #[default]
    Agent,
    /// A private key file at the device's `key_path`.
    Key,
}

impl AuthMethod {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Agent => "agent",
            AuthMethod::Key => "key",
        }
    }

    /// Parses the lowercase name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [AuthMethod::Agent, AuthMethod::Key]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A registered device with the SSH access settings the registry keeps for
/// it. [`Device`] is the part plugins see; REST clients and the SSH
/// capability see all of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRecord {
    #[serde(flatten)]
    pub device: Device,
    pub auth_method: AuthMethod,
    /// Private key file on the host; set exactly when `auth_method` is `key`.
    pub key_path: Option<String>,
}

/// A device to register (POST) or the full replacement of one (PUT).
/// Omitted optional fields take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Required; `[A-Za-z0-9][A-Za-z0-9._-]*`, at most [`MAX_NAME_LEN`].
    #[serde(default)]
    pub name: String,
    /// Required; a DNS name or an IP address.
    #[serde(default)]
    pub hostname: String,
    /// 1–65535; [`DEFAULT_PORT`] when omitted.
    pub port: Option<i64>,
    /// [`DEFAULT_USERNAME`] when omitted.
    pub username: Option<String>,
    /// `agent` (default) or `key`.
    pub auth_method: Option<String>,
    /// Required when `auth_method` is `key`, refused otherwise.
    pub key_path: Option<String>,
    /// [`DEFAULT_DEVICE_TYPE`] when omitted.
    pub device_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    /// `true` when omitted.
    pub monitoring_enabled: Option<bool>,
    /// One of `online`, `offline`, `unknown` (default), `maintenance`.
    pub status: Option<String>,
}

/// A partial update (PATCH): only the fields present change. For the
/// nullable fields, an explicit `null` clears the value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<i64>,
    pub username: Option<String>,
    /// Switching to `agent` without naming `key_path` also clears the key path.
    pub auth_method: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub key_path: Option<Option<String>>,
    pub device_type: Option<String>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub monitoring_enabled: Option<bool>,
    pub status: Option<String>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// The fields in error, in the order found.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.field.as_str())
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// A device that passed validation, in storage types.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValidDevice {
    pub name: String,
    pub hostname: String,
    pub port: u16,
    pub username: String,
    pub auth_method: AuthMethod,
    pub key_path: Option<String>,
    pub device_type: String,
    pub tags: Vec<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub monitoring_enabled: bool,
    pub status: DeviceStatus,
}

impl NewDevice {
    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.to_valid().map(|_| ())
    }

    pub(crate) fn to_valid(&self) -> Result<ValidDevice, ValidationErrors> {
        let mut errors = ValidationErrors::default();

        check_name(&self.name, &mut errors);
        check_hostname(&self.hostname, &mut errors);

        let port = self.port.unwrap_or(i64::from(DEFAULT_PORT));
        let port = match u16::try_from(port) {
            Ok(p) if p >= 1 => p,
            _ => {
                errors.add("port", "must be between 1 and 65535");
                DEFAULT_PORT
            }
        };

        let username = self.username.as_deref().unwrap_or(DEFAULT_USERNAME);
        if !is_username(username) {
            errors.add(
                "username",
                format!(
                    "must start with a lowercase letter or '_', continue with lowercase letters, \
                     digits, '_', '.' or '-', and be at most {MAX_USERNAME_LEN} characters"
                ),
            );
        }

        let auth_method = match self.auth_method.as_deref() {
            None => Some(AuthMethod::Agent),
            Some(s) => {
                let method = AuthMethod::parse(s);
                if method.is_none() {
                    errors.add("auth_method", "must be 'agent' or 'key'");
                }
                method
            }
        };
        let key_path = self.key_path.as_deref().filter(|p| !p.is_empty());
        match (auth_method, key_path) {
            (Some(AuthMethod::Key), None) => {
                errors.add("key_path", "is required when auth_method is 'key'")
            }
            (Some(AuthMethod::Agent), Some(_)) => {
                errors.add("key_path", "is only allowed when auth_method is 'key'")
            }
            (_, Some(path)) if path.len() > MAX_KEY_PATH_LEN => errors.add(
                "key_path",
                format!("must be at most {MAX_KEY_PATH_LEN} bytes"),
            ),
            (_, Some(path)) if path.chars().any(char::is_control) => {
                errors.add("key_path", "must not contain control characters")
            }
            _ => {}
        }

        let device_type = self
            .device_type
            .as_deref()
            .unwrap_or(DEFAULT_DEVICE_TYPE)
            .trim();
        if device_type.is_empty()
            || device_type.chars().count() > MAX_DEVICE_TYPE_LEN
            || device_type.chars().any(char::is_control)
        {
            errors.add(
                "device_type",
                format!("must be 1 to {MAX_DEVICE_TYPE_LEN} printable characters"),
            );
        }

        check_tags(&self.tags, &mut errors);
        let location = optional_text("location", self.location.as_deref(), &mut errors);
        let description = optional_text("description", self.description.as_deref(), &mut errors);

        let status = match self.status.as_deref() {
            None => DeviceStatus::default(),
            Some(s) => DeviceStatus::parse(s).unwrap_or_else(|| {
                errors.add(
                    "status",
                    "must be one of 'online', 'offline', 'unknown', 'maintenance'",
                );
                DeviceStatus::default()
            }),
        };

        if !errors.0.is_empty() {
            return Err(errors);
        }
        Ok(ValidDevice {
            name: self.name.clone(),
            hostname: self.hostname.clone(),
            port,
            username: username.to_owned(),
            auth_method: auth_method.unwrap_or_default(),
            key_path: key_path.map(str::to_owned),
            device_type: device_type.to_owned(),
            tags: self.tags.clone(),
            location,
            description,
            monitoring_enabled: self.monitoring_enabled.unwrap_or(true),
            status,
        })
    }
}

impl DevicePatch {
    /// The full device that results from applying this patch to `current`;
    /// validate it before storing.
    pub fn apply_to(&self, current: &DeviceRecord) -> NewDevice {
        let d = &current.device;
        let key_path = match &self.key_path {
            Some(explicit) => explicit.clone(),
            None if self.auth_method.as_deref() == Some(AuthMethod::Agent.as_str()) => None,
            None => current.key_path.clone(),
        };
        NewDevice {
            name: self.name.clone().unwrap_or_else(|| d.name.clone()),
            hostname: self.hostname.clone().unwrap_or_else(|| d.hostname.clone()),
            port: Some(self.port.unwrap_or(i64::from(d.port))),
            username: Some(self.username.clone().unwrap_or_else(|| d.username.clone())),
            auth_method: Some(
                self.auth_method
                    .clone()
                    .unwrap_or_else(|| current.auth_method.as_str().to_owned()),
            ),
            key_path,
            device_type: Some(
                self.device_type
                    .clone()
                    .unwrap_or_else(|| d.device_type.clone()),
            ),
            tags: self.tags.clone().unwrap_or_else(|| d.tags.clone()),
            location: self.location.clone().unwrap_or_else(|| d.location.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| d.description.clone()),
            monitoring_enabled: Some(self.monitoring_enabled.unwrap_or(d.monitoring_enabled)),
            status: Some(
                self.status
                    .clone()
                    .unwrap_or_else(|| d.status.as_str().to_owned()),
            ),
        }
    }
}

fn check_name(name: &str, errors: &mut ValidationErrors) {
    if name.is_empty() {
        errors.add("name", "is required");
    } else if !matches_pattern(
        name,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'),
        MAX_NAME_LEN,
    ) {
        errors.add(
            "name",
            format!(
                "must start with a letter or digit, continue with letters, digits, '.', '_' or \
                 '-', and be at most {MAX_NAME_LEN} characters"
            ),
        );
    } else if uuid::Uuid::try_parse(name).is_ok() {
        // Ids are UUIDs; a UUID-shaped name would make `get(id_or_name)` ambiguous.
        errors.add("name", "must not look like a device id (UUID)");
    }
}

fn check_hostname(hostname: &str, errors: &mut ValidationErrors) {
    if hostname.is_empty() {
        errors.add("hostname", "is required");
    } else if hostname.len() > MAX_HOSTNAME_LEN {
        errors.add(
            "hostname",
            format!("must be at most {MAX_HOSTNAME_LEN} characters"),
        );
    } else if !is_hostname(hostname) {
        errors.add("hostname", "must be a DNS name or an IP address");
    }
}

/// A DNS name (letters, digits, '-', '_' in dot-separated labels that do not
/// start or end with '-') or an IP literal. This also keeps whitespace, shell
/// metacharacters and a leading '-' (option injection into `ssh`) out.
fn is_hostname(s: &str) -> bool {
    if s.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_HOSTNAME_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        })
}

/// `^[a-z_][a-z0-9_.-]{0,31}$`
fn is_username(s: &str) -> bool {
    matches_pattern(
        s,
        |c| c.is_ascii_lowercase() || c == b'_',
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-'),
        MAX_USERNAME_LEN,
    )
}

/// `^[a-z0-9][a-z0-9_.:-]{0,31}$`; filters use it too, since a string that
/// is not a valid tag can match no device.
pub(crate) fn is_tag(s: &str) -> bool {
    matches_pattern(
        s,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b':' | b'-'),
        MAX_TAG_LEN,
    )
}

fn check_tags(tags: &[String], errors: &mut ValidationErrors) {
    if tags.len() > MAX_TAGS {
        errors.add("tags", format!("at most {MAX_TAGS} tags are allowed"));
    }
    for (i, tag) in tags.iter().enumerate() {
        if !is_tag(tag) {
            errors.add(
                "tags",
                format!(
                    "tag {tag:?} must start with a lowercase letter or digit, continue with \
                     lowercase letters, digits, '_', '.', ':' or '-', and be at most \
                     {MAX_TAG_LEN} characters"
                ),
            );
        } else if tags[..i].contains(tag) {
            errors.add("tags", format!("tag {tag:?} appears more than once"));
        }
    }
}

/// Validates a free-text field; an empty string counts as absent.
fn optional_text(
    field: &str,
    value: Option<&str>,
    errors: &mut ValidationErrors,
) -> Option<String> {
    let value = value.filter(|v| !v.is_empty())?;
    if value.chars().count() > MAX_TEXT_LEN {
        errors.add(field, format!("must be at most {MAX_TEXT_LEN} characters"));
    }
    Some(value.to_owned())
}

/// ASCII `^[first][rest]{0,max-1}$`.
fn matches_pattern(s: &str, first: fn(u8) -> bool, rest: fn(u8) -> bool, max: usize) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((&head, tail)) => bytes.len() <= max && first(head) && tail.iter().all(|&c| rest(c)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> NewDevice {
        NewDevice {
            name: "web-01".into(),
            hostname: "web01.lan".into(),
            ..NewDevice::default()
        }
    }

    fn fields(d: &NewDevice) -> Vec<String> {
        match d.to_valid() {
            Ok(_) => Vec::new(),
            Err(e) => e.fields().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn fills_defaults_for_omitted_fields() {
        let v = valid().to_valid().unwrap();
        assert_eq!(v.port, DEFAULT_PORT);
        assert_eq!(v.username, DEFAULT_USERNAME);
        assert_eq!(v.device_type, DEFAULT_DEVICE_TYPE);
        assert_eq!(v.auth_method, AuthMethod::Agent);
        assert_eq!(v.status, DeviceStatus::Unknown);
        assert!(v.monitoring_enabled);
    }

    #[test]
    fn accepts_names_hostnames_and_tags_at_their_limits() {
        let d = NewDevice {
            name: "a".repeat(MAX_NAME_LEN),
            hostname: format!("{}.example.com", "h".repeat(MAX_HOSTNAME_LABEL_LEN)),
            tags: (0..MAX_TAGS).map(|i| format!("t{i}")).collect(),
            location: Some("é".repeat(MAX_TEXT_LEN)),
            ..valid()
        };
        assert_eq!(fields(&d), Vec::<String>::new());
    }

    #[test]
    fn accepts_ip_literals_as_hostnames() {
        for host in ["10.0.0.1", "::1", "fe80::1"] {
            let d = NewDevice {
                hostname: host.into(),
                ..valid()
            };
            assert!(d.validate().is_ok(), "{host}");
        }
    }

    #[test]
    fn rejects_hostnames_with_whitespace_metacharacters_or_a_leading_dash() {
        for host in [
            "a b",
            "host;rm",
            "$(id)",
            "-oProxyCommand=x",
            "a..b",
            "x|y",
            "`x`",
        ] {
            let d = NewDevice {
                hostname: host.into(),
                ..valid()
            };
            assert_eq!(fields(&d), ["hostname"], "{host}");
        }
    }

    #[test]
    fn rejects_names_shaped_like_ids() {
        let d = NewDevice {
            name: uuid::Uuid::new_v4().to_string(),
            ..valid()
        };
        assert_eq!(fields(&d), ["name"]);
    }

    #[test]
    fn reports_every_invalid_field_at_once() {
        let d = NewDevice {
            name: "-bad".into(),
            hostname: String::new(),
            port: Some(70000),
            username: Some("Root".into()),
            auth_method: Some("password".into()),
            device_type: Some(String::new()),
            tags: vec!["Web".into()],
            location: Some("x".repeat(MAX_TEXT_LEN + 1)),
            description: Some("y".repeat(MAX_TEXT_LEN + 1)),
            status: Some("broken".into()),
            ..NewDevice::default()
        };
        assert_eq!(
            fields(&d),
            [
                "name",
                "hostname",
                "port",
                "username",
                "auth_method",
                "device_type",
                "tags",
                "location",
                "description",
                "status"
            ]
        );
    }

    #[test]
    fn requires_a_key_path_exactly_when_auth_method_is_key() {
        let key_without_path = NewDevice {
            auth_method: Some("key".into()),
            ..valid()
        };
        assert_eq!(fields(&key_without_path), ["key_path"]);
        let agent_with_path = NewDevice {
            key_path: Some("/etc/toolhost/id_ed25519".into()),
            ..valid()
        };
        assert_eq!(fields(&agent_with_path), ["key_path"]);
        let key_with_path = NewDevice {
            auth_method: Some("key".into()),
            key_path: Some("/etc/toolhost/id_ed25519".into()),
            ..valid()
        };
        assert!(key_with_path.validate().is_ok());
    }

    #[test]
    fn rejects_too_many_and_duplicate_tags() {
        let d = NewDevice {
            tags: (0..=MAX_TAGS).map(|i| format!("t{i}")).collect(),
            ..valid()
        };
        assert_eq!(fields(&d), ["tags"]);
        let d = NewDevice {
            tags: vec!["web".into(), "web".into()],
            ..valid()
        };
        assert_eq!(fields(&d), ["tags"]);
    }

    #[test]
    fn rejects_ports_outside_the_tcp_range() {
        for port in [0, -1, 65536] {
            let d = NewDevice {
                port: Some(port),
                ..valid()
            };
            assert_eq!(fields(&d), ["port"], "{port}");
        }
    }

    #[test]
    fn patch_tells_an_explicit_null_from_an_absent_field() {
        let p: DevicePatch = serde_json::from_str(r#"{"location":null}"#).unwrap();
        assert_eq!(p.location, Some(None));
        assert_eq!(p.description, None);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<NewDevice>(r#"{"name":"a","password":"x"}"#).is_err());
        assert!(serde_json::from_str::<DevicePatch>(r#"{"pasword":"x"}"#).is_err());
    }
}
