//! [`SshConfig`]: host-wide SSH settings, from the server's configuration
//! file. Every default and every upper bound is a named constant here.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Default limit on establishing a connection (TCP + key exchange + auth).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Default command deadline when the caller gives none.
pub const DEFAULT_COMMAND_TIMEOUT_MS: u64 = 60_000;
/// Longest command deadline a caller may ask for.
pub const MAX_COMMAND_TIMEOUT_MS: u64 = 60 * 60 * 1000;
/// Default interval between keepalives on a quiet connection.
pub const DEFAULT_KEEPALIVE_INTERVAL_MS: u64 = 15_000;
/// Unanswered keepalives after which a connection is declared dead.
pub const DEFAULT_KEEPALIVE_MAX: usize = 3;
/// Default time an unused connection stays open.
pub const DEFAULT_IDLE_EXPIRY_MS: u64 = 5 * 60 * 1000;
/// Default concurrent channels per connection; below OpenSSH's
/// `MaxSessions` default of 10, so a stock sshd never refuses one.
pub const DEFAULT_MAX_CHANNELS_PER_CONNECTION: usize = 8;
/// Default connections per device.
pub const DEFAULT_MAX_CONNECTIONS_PER_DEVICE: usize = 4;
/// Upper bound on either per-device limit, whatever the configuration says.
pub const MAX_POOL_LIMIT: usize = 256;
/// Default cap on stdout and on stderr (each) kept from one exec.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Largest output cap a caller may ask for, per stream.
pub const MAX_OUTPUT_BYTES_LIMIT: usize = 16 * 1024 * 1024;
/// Largest stdin a caller may send.
pub const MAX_STDIN_BYTES: usize = 16 * 1024 * 1024;

/// How host keys are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKeyPolicy {
    /// Trust on first use: the first key seen is pinned; any other key is
    /// refused until an admin forgets the pinned one.
    #[default]
    Tofu,
    /// Only keys pinned in advance (or listed in
    /// [`SshConfig::known_hosts_file`]) are accepted.
    Strict,
}

/// How execs reach a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    /// A resident `/bin/sh` per channel runs execs one after another
    /// (`resident` module docs): no session setup or login shell per exec.
    /// Execs with stdin, and devices that cannot host one, use a session
    /// each. A signal death reports the shell's status 128+n.
    #[default]
    Resident,
    /// A new SSH session, and so a new login shell, per exec: exact signal
    /// reporting, at ≈2.4 ms of server CPU per exec with OpenSSH.
    Session,
}

/// A string that never appears in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is consumed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Host-wide SSH settings. Durations are milliseconds in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Limit on TCP connect + key exchange + authentication, separate from
    /// the command deadline.
    pub connect_timeout_ms: u64,
    /// Command deadline when the caller gives none.
    pub command_timeout_ms: u64,
    /// Keepalive interval on a quiet connection; 0 disables keepalives.
    pub keepalive_interval_ms: u64,
    /// Unanswered keepalives before the connection is dropped.
    pub keepalive_max: usize,
    /// An unused connection is closed after this long.
    pub idle_expiry_ms: u64,
    /// Concurrent channels (execs) on one connection.
    pub max_channels_per_connection: usize,
    /// Connections to one device; execs beyond
    /// `max_connections_per_device * max_channels_per_connection` wait.
    pub max_connections_per_device: usize,
    /// Output cap per stream when the caller gives none.
    pub max_output_bytes: usize,
    /// Private key (ed25519, RSA or ECDSA, OpenSSH or PEM format) used for
    /// devices without their own key path.
    pub identity_file: Option<PathBuf>,
    /// Passphrase of encrypted key files.
    pub identity_passphrase: Option<Secret>,
    /// Also offer the agent's identities for every device (devices whose
    /// [`SshTarget::use_agent`](crate::SshTarget::use_agent) is set use it
    /// regardless).
    pub use_agent: bool,
    /// The agent's socket; `None` means the `SSH_AUTH_SOCK` environment
    /// variable of the server process.
    pub agent_socket: Option<PathBuf>,
    /// How host keys are trusted.
    pub host_key_policy: HostKeyPolicy,
    /// OpenSSH `known_hosts` file whose keys count as trusted in strict
    /// mode (and are pinned on first use).
    pub known_hosts_file: Option<PathBuf>,
    /// How execs reach a device.
    pub exec_mode: ExecMode,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            command_timeout_ms: DEFAULT_COMMAND_TIMEOUT_MS,
            keepalive_interval_ms: DEFAULT_KEEPALIVE_INTERVAL_MS,
            keepalive_max: DEFAULT_KEEPALIVE_MAX,
            idle_expiry_ms: DEFAULT_IDLE_EXPIRY_MS,
            max_channels_per_connection: DEFAULT_MAX_CHANNELS_PER_CONNECTION,
            max_connections_per_device: DEFAULT_MAX_CONNECTIONS_PER_DEVICE,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            identity_file: None,
            identity_passphrase: None,
            use_agent: false,
            agent_socket: None,
            host_key_policy: HostKeyPolicy::Tofu,
            known_hosts_file: None,
            exec_mode: ExecMode::Resident,
        }
    }
}

impl SshConfig {
    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }

    pub(crate) fn idle_expiry(&self) -> Duration {
        Duration::from_millis(self.idle_expiry_ms.max(1))
    }

    pub(crate) fn channels_per_connection(&self) -> usize {
        self.max_channels_per_connection.clamp(1, MAX_POOL_LIMIT)
    }

    pub(crate) fn connections_per_device(&self) -> usize {
        self.max_connections_per_device.clamp(1, MAX_POOL_LIMIT)
    }

    /// The deadline for one exec: the caller's, else the default, never
    /// above [`MAX_COMMAND_TIMEOUT_MS`].
    pub(crate) fn command_timeout(&self, asked: Option<Duration>) -> Duration {
        let max = Duration::from_millis(MAX_COMMAND_TIMEOUT_MS);
        asked
            .unwrap_or(Duration::from_millis(self.command_timeout_ms))
            .clamp(Duration::from_millis(1), max)
    }

    /// The per-stream output cap for one exec, never above
    /// [`MAX_OUTPUT_BYTES_LIMIT`].
    pub(crate) fn output_cap(&self, asked: Option<usize>) -> usize {
        asked
            .unwrap_or(self.max_output_bytes)
            .min(MAX_OUTPUT_BYTES_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let config: SshConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
        assert_eq!(config.host_key_policy, HostKeyPolicy::Tofu);
        assert_eq!(
            config.max_channels_per_connection,
            DEFAULT_MAX_CHANNELS_PER_CONNECTION
        );
        assert!(!config.use_agent);
        assert_eq!(config.agent_socket, None);
    }

    #[test]
    fn the_passphrase_never_shows_in_debug_output() {
        let config: SshConfig = serde_json::from_str(
            r#"{"identity_passphrase": "hunter2", "host_key_policy": "strict"}"#,
        )
        .unwrap();
        assert_eq!(config.host_key_policy, HostKeyPolicy::Strict);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            config.identity_passphrase.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }

    #[test]
    fn refuses_unknown_fields() {
        assert!(serde_json::from_str::<SshConfig>(r#"{"pasword": "x"}"#).is_err());
    }

    #[test]
    fn caller_limits_are_clamped_to_the_host_maximums() {
        let config = SshConfig::default();
        assert_eq!(
            config.command_timeout(Some(Duration::from_secs(10 * 3600))),
            Duration::from_millis(MAX_COMMAND_TIMEOUT_MS)
        );
        assert_eq!(
            config.command_timeout(None),
            Duration::from_millis(DEFAULT_COMMAND_TIMEOUT_MS)
        );
        assert_eq!(config.output_cap(Some(usize::MAX)), MAX_OUTPUT_BYTES_LIMIT);
        assert_eq!(config.output_cap(None), DEFAULT_MAX_OUTPUT_BYTES);
    }
}
