//! [`SshTarget`]: where and as whom one device is reached.

use std::path::PathBuf;

/// One device as the SSH layer needs it; built by the capability layer from
/// the registry. Connections are pooled per distinct target, so editing a
/// device's address or user makes later execs open fresh connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// The registry id; host keys are pinned under it.
    pub device_id: String,
    /// The registry name, used in error messages.
    pub name: String,
    /// DNS name or IP address.
    pub host: String,
    pub port: u16,
    pub username: String,
    /// A private key for this device only; overrides
    /// [`SshConfig::identity_file`](crate::SshConfig::identity_file).
    pub key_path: Option<PathBuf>,
    /// Offer the ssh-agent's identities (after the key file, if any) even
    /// when [`SshConfig::use_agent`](crate::SshConfig::use_agent) is off;
    /// set for registry devices whose `auth_method` is `agent`.
    pub use_agent: bool,
}
