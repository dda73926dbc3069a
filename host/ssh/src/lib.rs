//! toolhost's SSH client: the only part of the host that speaks SSH.
//!
//! Plugins ask for `exec(device, argv, options)`; the capability layer
//! checks the grant and resolves the device, then calls [`SshPool::exec`].
//!
//! - [`quote`]: argv → one POSIX shell command line in which every element
//!   is a single literal word; NUL refused.
//! - [`config`]: [`SshConfig`], host-wide settings with a named constant for
//!   every default and limit; [`Secret`] keeps the passphrase out of logs.
//! - [`target`]: [`SshTarget`], one device's address, user and key.
//! - [`hostkeys`]: the [`HostKeyStore`] seam (the database implements it in
//!   `toolhost-devices`), [`MemoryHostKeyStore`], and the TOFU / strict
//!   decision taken for every presented host key.
//! - [`pool`]: [`SshPool`], connections per device with channel reuse,
//!   keepalives, idle expiry and one reconnect after a dropped connection.
//! - [`exec`]: one command on one channel: stdin, capped output, exit status
//!   or signal, kill on timeout.
//! - `resident`: a long-lived `/bin/sh` per channel that runs execs one after
//!   another without a session (and login shell) each.
//! - [`error`]: [`SshError`], typed and safe to show to a model.
//! - `testing` (feature `testing`): a real OpenSSH `sshd` for tests and
//!   benchmarks.

pub mod config;
pub mod error;
pub mod exec;
pub mod hostkeys;
pub mod pool;
pub mod quote;
mod resident;
pub mod target;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{ExecMode, HostKeyPolicy, Secret, SshConfig};
pub use error::{SshError, SshErrorKind};
pub use exec::{ExecOptions, ExecOutput};
pub use hostkeys::{HostKeyStore, HostKeyStoreError, MemoryHostKeyStore, PinnedKey, StoreFuture};
pub use pool::{PoolStats, SshPool};
pub use target::SshTarget;
