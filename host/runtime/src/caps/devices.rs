//! The `devices` capability: read-only access to the device registry.
//!
//! The runtime knows nothing of SQL: the embedder hands it a [`DeviceDirectory`]
//! (the server backs it with the database) and a plugin reaches it only if its
//! grant has `devices_read` (the `devices-read` capability).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most devices one `devices.list` call returns, whatever limit the guest asks.
pub const MAX_DEVICES_PER_PAGE: u32 = 500;
/// Page size when the guest names none.
pub const DEFAULT_DEVICES_PER_PAGE: u32 = 100;

/// Where a device stands, as last observed or set by an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    Online,
    Offline,
    #[default]
    Unknown,
    Maintenance,
}

impl DeviceStatus {
    pub const ALL: [DeviceStatus; 4] = [
        DeviceStatus::Online,
        DeviceStatus::Offline,
        DeviceStatus::Unknown,
        DeviceStatus::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Online => "online",
            DeviceStatus::Offline => "offline",
            DeviceStatus::Unknown => "unknown",
            DeviceStatus::Maintenance => "maintenance",
        }
    }

    /// Parses the lowercase name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered device as plugins and REST clients see it. Credentials are
/// host configuration and never part of this record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub port: u16,
    pub username: String,
    pub device_type: String,
    pub tags: Vec<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub monitoring_enabled: bool,
    pub status: DeviceStatus,
    /// RFC 3339.
    pub last_seen: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Filters for [`DeviceDirectory::list`]; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceFilter {
    pub device_type: Option<String>,
    pub status: Option<DeviceStatus>,
    pub tag: Option<String>,
    /// Case-insensitive substring of name, hostname, description or location.
    pub search: Option<String>,
    /// Clamped to [`MAX_DEVICES_PER_PAGE`]; [`DEFAULT_DEVICES_PER_PAGE`] when unset.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl DeviceFilter {
    /// The limit to apply: the requested one clamped to the allowed range.
    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_DEVICES_PER_PAGE)
            .clamp(1, MAX_DEVICES_PER_PAGE)
    }
}

/// One page of devices plus the number that matched before paging.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicePage {
    pub devices: Vec<Device>,
    pub total: u64,
}

/// Why the directory could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The filter itself is unusable (bad status name, …).
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// The backing store failed; the message is safe to show a caller.
    #[error("device registry unavailable: {0}")]
    Unavailable(String),
}

/// The registry as the runtime needs it. Implemented by the server over the
/// database; tests implement it in memory.
/// Object-safe so the runtime can hold an `Arc<dyn DeviceDirectory>`.
pub trait DeviceDirectory: Send + Sync + 'static {
    fn list(&self, filter: DeviceFilter) -> BoxFuture<'_, Result<DevicePage, DirectoryError>>;
    fn get<'a>(
        &'a self,
        id_or_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Device>, DirectoryError>>;
}

/// A boxed, sendable future, as the directory's methods return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Per-call state of the `devices` capability.
pub struct DevicesCtx {
    allowed: bool,
    directory: std::sync::Arc<dyn DeviceDirectory>,
    plugin: std::sync::Arc<str>,
}

impl DevicesCtx {
    pub(crate) fn new(
        allowed: bool,
        directory: std::sync::Arc<dyn DeviceDirectory>,
        plugin: std::sync::Arc<str>,
    ) -> DevicesCtx {
        DevicesCtx {
            allowed,
            directory,
            plugin,
        }
    }

    fn check(&self) -> Result<(), wit::DevicesError> {
        if self.allowed {
            Ok(())
        } else {
            tracing::info!(plugin = &*self.plugin, "devices capability denied");
            Err(wit::DevicesError::Denied(format!(
                "plugin {} has no devices-read grant",
                self.plugin
            )))
        }
    }
}

use crate::bindings::devices as wit;

fn status_to_wit(s: DeviceStatus) -> wit::DeviceStatus {
    match s {
        DeviceStatus::Online => wit::DeviceStatus::Online,
        DeviceStatus::Offline => wit::DeviceStatus::Offline,
        DeviceStatus::Unknown => wit::DeviceStatus::Unknown,
        DeviceStatus::Maintenance => wit::DeviceStatus::Maintenance,
    }
}

fn status_from_wit(s: wit::DeviceStatus) -> DeviceStatus {
    match s {
        wit::DeviceStatus::Online => DeviceStatus::Online,
        wit::DeviceStatus::Offline => DeviceStatus::Offline,
        wit::DeviceStatus::Unknown => DeviceStatus::Unknown,
        wit::DeviceStatus::Maintenance => DeviceStatus::Maintenance,
    }
}

fn device_to_wit(d: Device) -> wit::Device {
    wit::Device {
        id: d.id,
        name: d.name,
        hostname: d.hostname,
        port: d.port,
        username: d.username,
        device_type: d.device_type,
        tags: d.tags,
        location: d.location,
        description: d.description,
        monitoring_enabled: d.monitoring_enabled,
        status: status_to_wit(d.status),
        last_seen: d.last_seen,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

fn directory_error(plugin: &str, e: DirectoryError) -> wit::DevicesError {
    match e {
        DirectoryError::InvalidFilter(m) => wit::DevicesError::InvalidFilter(m),
        DirectoryError::Unavailable(m) => {
            tracing::warn!(plugin, error = %m, "device directory unavailable");
            wit::DevicesError::Unavailable(m)
        }
    }
}

impl wit::Host for DevicesCtx {
    async fn list(
        &mut self,
        filter: wit::DeviceFilter,
    ) -> wasmtime::Result<Result<wit::DevicePage, wit::DevicesError>> {
        if let Err(e) = self.check() {
            return Ok(Err(e));
        }
        let filter = DeviceFilter {
            device_type: filter.device_type,
            status: filter.status.map(status_from_wit),
            tag: filter.tag,
            search: filter.search,
            limit: filter.limit,
            offset: filter.offset,
        };
        Ok(match self.directory.list(filter).await {
            Ok(page) => Ok(wit::DevicePage {
                devices: page.devices.into_iter().map(device_to_wit).collect(),
                total: page.total,
            }),
            Err(e) => Err(directory_error(&self.plugin, e)),
        })
    }

    async fn get(
        &mut self,
        id_or_name: String,
    ) -> wasmtime::Result<Result<Option<wit::Device>, wit::DevicesError>> {
        if let Err(e) = self.check() {
            return Ok(Err(e));
        }
        Ok(match self.directory.get(&id_or_name).await {
            Ok(d) => Ok(d.map(device_to_wit)),
            Err(e) => Err(directory_error(&self.plugin, e)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wit::Host as _;

    /// An in-memory directory with one device.
    pub(crate) struct OneDevice;

    impl DeviceDirectory for OneDevice {
        fn list(&self, _: DeviceFilter) -> BoxFuture<'_, Result<DevicePage, DirectoryError>> {
            Box::pin(async {
                Ok(DevicePage {
                    devices: vec![sample()],
                    total: 1,
                })
            })
        }
        fn get<'a>(
            &'a self,
            id_or_name: &'a str,
        ) -> BoxFuture<'a, Result<Option<Device>, DirectoryError>> {
            Box::pin(async move { Ok((id_or_name == "web1").then(sample)) })
        }
    }

    fn sample() -> Device {
        Device {
            id: "1".into(),
            name: "web1".into(),
            hostname: "10.0.0.1".into(),
            port: 22,
            username: "root".into(),
            device_type: "linux".into(),
            tags: vec!["web".into()],
            location: None,
            description: None,
            monitoring_enabled: true,
            status: DeviceStatus::Online,
            last_seen: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn denies_plugins_without_the_devices_read_grant() {
        let mut cx = DevicesCtx::new(false, Arc::new(OneDevice), "p".into());
        let got = cx.list(wit::DeviceFilter {
            device_type: None,
            status: None,
            tag: None,
            search: None,
            limit: None,
            offset: None,
        });
        assert!(matches!(
            got.await.expect("no trap"),
            Err(wit::DevicesError::Denied(_))
        ));
        let got = cx.get("web1".into()).await.expect("no trap");
        assert!(matches!(got, Err(wit::DevicesError::Denied(_))));
    }

    #[tokio::test]
    async fn granted_plugins_read_the_directory() {
        let mut cx = DevicesCtx::new(true, Arc::new(OneDevice), "p".into());
        let got = cx.get("web1".into()).await.expect("no trap").expect("ok");
        assert_eq!(got.map(|d| d.name), Some("web1".to_owned()));
        let none = cx.get("nope".into()).await.expect("no trap").expect("ok");
        assert!(none.is_none());
    }

    #[test]
    fn effective_limit_is_clamped() {
        let f = DeviceFilter {
            limit: Some(10_000),
            ..Default::default()
        };
        assert_eq!(f.effective_limit(), MAX_DEVICES_PER_PAGE);
        assert_eq!(
            DeviceFilter::default().effective_limit(),
            DEFAULT_DEVICES_PER_PAGE
        );
    }
}
