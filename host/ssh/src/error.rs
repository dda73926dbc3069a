//! [`SshError`]: why an exec failed, in terms a model (or an operator) can
//! act on.
//!
//! Messages are safe to show to a plugin and its model: they never contain
//! key material, passphrases, key file paths or raw library errors. Those
//! details go to the host log where the failure happens.

use std::time::Duration;

use crate::quote::QuoteError;

/// Why an exec failed. Variants are named for what the caller does next;
/// [`SshError::kind`] maps them onto the WIT `ssh-error` cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    /// No registered device has that id or name. Raised by the capability
    /// layer, which owns the registry.
    #[error("unknown device {0:?}")]
    UnknownDevice(String),
    /// The plugin's grant does not allow this (program, device, ...).
    /// Raised by the capability layer.
    #[error("denied: {0}")]
    Denied(String),
    /// The device was reached but no SSH session could be set up: nothing
    /// listening, connection reset, protocol or key-exchange failure.
    #[error("could not connect to device {device:?}: {reason}")]
    ConnectFailed { device: String, reason: String },
    /// The device refused every configured credential, or none is
    /// configured or loadable.
    #[error("authentication to device {device:?} failed: {reason}")]
    AuthFailed { device: String, reason: String },
    /// The device presented a host key other than the one pinned for it.
    /// Possibly an attack; an admin must re-trust the device to proceed.
    #[error(
        "host key of device {device:?} changed: expected {expected}, got {got}; \
         refused until an admin re-trusts the device"
    )]
    HostKeyMismatch {
        device: String,
        expected: String,
        got: String,
    },
    /// Strict host-key mode and no key is pinned or listed in the known
    /// hosts file for this device.
    #[error(
        "host key {got} of device {device:?} is not trusted (strict mode); \
         an admin must import it from a known_hosts file"
    )]
    HostKeyUnknown { device: String, got: String },
    /// The command ran past its deadline and was killed.
    #[error("command timed out after {}ms and was killed", after.as_millis())]
    Timeout { after: Duration },
    /// The device did not answer (no route, connect timed out), or the
    /// connection dropped while the command ran, in which case the command
    /// may have partly run.
    #[error("device {device:?} is offline: {reason}")]
    DeviceOffline { device: String, reason: String },
    /// The request itself is invalid (argv, stdin size); retrying it
    /// unchanged will fail again.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Anything else; details are in the host log.
    #[error("ssh failure: {0}")]
    Failed(String),
}

/// The WIT `ssh-error` case an [`SshError`] is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SshErrorKind {
    UnknownDevice,
    Denied,
    ConnectFailed,
    AuthFailed,
    HostKeyMismatch,
    Timeout,
    DeviceOffline,
    Failed,
}

impl SshError {
    /// The WIT case this error is reported as.
    pub fn kind(&self) -> SshErrorKind {
        match self {
            SshError::UnknownDevice(_) => SshErrorKind::UnknownDevice,
            SshError::Denied(_) => SshErrorKind::Denied,
            SshError::ConnectFailed { .. } => SshErrorKind::ConnectFailed,
            SshError::AuthFailed { .. } => SshErrorKind::AuthFailed,
            SshError::HostKeyMismatch { .. } | SshError::HostKeyUnknown { .. } => {
                SshErrorKind::HostKeyMismatch
            }
            SshError::Timeout { .. } => SshErrorKind::Timeout,
            SshError::DeviceOffline { .. } => SshErrorKind::DeviceOffline,
            SshError::InvalidRequest(_) | SshError::Failed(_) => SshErrorKind::Failed,
        }
    }
}

impl From<QuoteError> for SshError {
    fn from(err: QuoteError) -> Self {
        SshError::InvalidRequest(err.to_string())
    }
}
