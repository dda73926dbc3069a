//! Host-key trust: the [`HostKeyStore`] seam, an in-memory store for tests,
//! and the decision taken for every key a device presents.
//!
//! A device may have one pinned key per key type (the database's primary key
//! is `(device_id, key_type)`). A presented key is accepted when a pinned key
//! of the same type has the same fingerprint. When keys are pinned but none
//! of the presented type, the key is refused too: a device that suddenly
//! offers a different type is as suspicious as one whose key changed. With
//! nothing pinned, [`HostKeyPolicy::Tofu`] pins the key and
//! [`HostKeyPolicy::Strict`] accepts it only when the configured known_hosts
//! file lists it for the device's address (and then pins it).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Mutex;

use russh::keys::{HashAlg, PublicKey};
use tracing::{info, warn};

use crate::config::HostKeyPolicy;
use crate::error::SshError;
use crate::target::SshTarget;

/// One trusted host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKey {
    /// The key's algorithm name, e.g. `ssh-ed25519`, `ssh-rsa`,
    /// `ecdsa-sha2-nistp256`.
    pub key_type: String,
    /// `SHA256:` followed by unpadded base64, as `ssh-keygen -l` prints it.
    pub fingerprint_sha256: String,
    /// `<type> <base64>` as in `known_hosts` / `authorized_keys`.
    pub public_key_openssh: String,
}

impl PinnedKey {
    /// The pinnable form of `key`.
    pub fn from_public_key(key: &PublicKey) -> Result<PinnedKey, HostKeyStoreError> {
        let mut key = key.clone();
        key.set_comment("");
        let public_key_openssh = key
            .to_openssh()
            .map_err(|e| HostKeyStoreError::new(format!("encoding host key: {e}")))?;
        Ok(PinnedKey {
            key_type: key.algorithm().as_str().to_owned(),
            fingerprint_sha256: key.fingerprint(HashAlg::Sha256).to_string(),
            public_key_openssh: public_key_openssh.trim().to_owned(),
        })
    }

    /// Parses a `<type> <base64> [comment]` line, as found in `known_hosts`
    /// after the host pattern.
    pub fn from_openssh(line: &str) -> Result<PinnedKey, HostKeyStoreError> {
        let key = PublicKey::from_openssh(line.trim())
            .map_err(|e| HostKeyStoreError::new(format!("parsing host key: {e}")))?;
        PinnedKey::from_public_key(&key)
    }
}

/// The store failed; the message is for the host log.
#[derive(Debug, thiserror::Error)]
#[error("host key store: {0}")]
pub struct HostKeyStoreError(String);

impl HostKeyStoreError {
    pub fn new(message: impl Into<String>) -> Self {
        HostKeyStoreError(message.into())
    }
}

/// What a [`HostKeyStore`] method returns.
pub type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, HostKeyStoreError>> + Send + 'a>>;

/// Where pinned host keys live (the database in the server, memory in
/// tests). Object-safe so the pool can hold `Arc<dyn HostKeyStore>`.
pub trait HostKeyStore: Send + Sync {
    /// Every key pinned for `device_id`, at most one per key type.
    fn pinned<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Vec<PinnedKey>>;

    /// Pins `key` unless a key of the same type is already pinned for the
    /// device, in which case the stored one is kept (callers re-read to
    /// learn which won a race).
    fn pin<'a>(&'a self, device_id: &'a str, key: &'a PinnedKey) -> StoreFuture<'a, ()>;

    /// Drops every key pinned for `device_id`, so that the next connection
    /// trusts anew: the admin's re-trust. Returns how many were dropped.
    fn forget<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, u64>;
}

/// A [`HostKeyStore`] in memory; for tests and tools.
#[derive(Debug, Default)]
pub struct MemoryHostKeyStore {
    keys: Mutex<HashMap<String, Vec<PinnedKey>>>,
}

impl MemoryHostKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Vec<PinnedKey>>) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut keys)
    }
}

impl HostKeyStore for MemoryHostKeyStore {
    fn pinned<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Vec<PinnedKey>> {
        let keys = self.with(|k| k.get(device_id).cloned().unwrap_or_default());
        Box::pin(async move { Ok(keys) })
    }

    fn pin<'a>(&'a self, device_id: &'a str, key: &'a PinnedKey) -> StoreFuture<'a, ()> {
        self.with(|k| {
            let list = k.entry(device_id.to_owned()).or_default();
            if !list.iter().any(|p| p.key_type == key.key_type) {
                list.push(key.clone());
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn forget<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, u64> {
        let n = self.with(|k| k.remove(device_id).map_or(0, |v| v.len() as u64));
        Box::pin(async move { Ok(n) })
    }
}

/// Keys listed for `host:port` in an OpenSSH `known_hosts` file (hashed
/// entries included). A missing file lists nothing.
pub fn known_hosts_keys(
    path: &Path,
    host: &str,
    port: u16,
) -> Result<Vec<PinnedKey>, HostKeyStoreError> {
    let found = russh::keys::known_hosts::known_host_keys_path(host, port, path)
        .map_err(|e| HostKeyStoreError::new(format!("reading known_hosts: {e}")))?;
    found
        .iter()
        .map(|(_, key)| PinnedKey::from_public_key(key))
        .collect()
}

/// Pins, for `target`, every key the known_hosts file lists for its address;
/// the admin's strict-mode import. Returns how many keys were listed.
pub async fn import_known_hosts(
    store: &dyn HostKeyStore,
    target: &SshTarget,
    path: &Path,
) -> Result<usize, HostKeyStoreError> {
    let keys = known_hosts_keys(path, &target.host, target.port)?;
    for key in &keys {
        store.pin(&target.device_id, key).await?;
    }
    Ok(keys.len())
}

/// Decides whether `presented` is trusted for `target`, pinning it when the
/// policy says so. Runs during the key exchange, before authentication.
pub(crate) async fn verify(
    store: &dyn HostKeyStore,
    policy: HostKeyPolicy,
    known_hosts: Option<&Path>,
    target: &SshTarget,
    presented: &PublicKey,
) -> Result<(), SshError> {
    let store_failed = |e: HostKeyStoreError| {
        warn!(device = %target.name, error = %e, "host key store failed");
        SshError::Failed("the host key store is unavailable".into())
    };
    let got = PinnedKey::from_public_key(presented).map_err(store_failed)?;
    let pinned = store
        .pinned(&target.device_id)
        .await
        .map_err(store_failed)?;
    if !pinned.is_empty() {
        return check_against(&pinned, &got, target);
    }

    let listed = match known_hosts {
        Some(path) => known_hosts_keys(path, &target.host, target.port).unwrap_or_else(|e| {
            warn!(device = %target.name, error = %e, "ignoring unreadable known_hosts file");
            Vec::new()
        }),
        None => Vec::new(),
    };
    if !listed.is_empty() {
        // A known_hosts entry is prior knowledge: it must match in both modes.
        check_against(&listed, &got, target)?;
    } else if policy == HostKeyPolicy::Strict {
        warn!(device = %target.name, fingerprint = %got.fingerprint_sha256,
              "refusing unknown host key (strict mode)");
        return Err(SshError::HostKeyUnknown {
            device: target.name.clone(),
            got: got.fingerprint_sha256,
        });
    }

    store
        .pin(&target.device_id, &got)
        .await
        .map_err(store_failed)?;
    // Two first connections may race with different keys; only the stored
    // one counts.
    let stored = store
        .pinned(&target.device_id)
        .await
        .map_err(store_failed)?;
    check_against(&stored, &got, target)?;
    info!(device = %target.name, key_type = %got.key_type,
          fingerprint = %got.fingerprint_sha256, "pinned host key");
    Ok(())
}

fn check_against(
    trusted: &[PinnedKey],
    got: &PinnedKey,
    target: &SshTarget,
) -> Result<(), SshError> {
    if trusted
        .iter()
        .any(|k| k.key_type == got.key_type && k.fingerprint_sha256 == got.fingerprint_sha256)
    {
        return Ok(());
    }
    let expected = trusted
        .iter()
        .find(|k| k.key_type == got.key_type)
        .or(trusted.first())
        .map(|k| format!("{} {}", k.key_type, k.fingerprint_sha256))
        .unwrap_or_default();
    warn!(device = %target.name, %expected, got = %got.fingerprint_sha256,
          "refusing changed host key");
    Err(SshError::HostKeyMismatch {
        device: target.name.clone(),
        expected,
        got: format!("{} {}", got.key_type, got.fingerprint_sha256),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuEgcNoOJGEq1GuZdWV1Zvr9lPfux4XZLVHQlBcn1P0 a";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL0f/eBtAMoC16qR722fsx24pxSqw4LJRSYsSURA9j2w b";

    fn target() -> SshTarget {
        SshTarget {
            device_id: "dev-1".into(),
            name: "nas".into(),
            host: "127.0.0.2".into(),
            port: 2222,
            username: "root".into(),
            key_path: None,
            use_agent: false,
        }
    }

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    #[tokio::test]
    async fn tofu_pins_the_first_key_and_accepts_it_again() {
        let store = MemoryHostKeyStore::new();
        verify(&store, HostKeyPolicy::Tofu, None, &target(), &key(KEY_A))
            .await
            .unwrap();
        let pinned = store.pinned("dev-1").await.unwrap();
        assert_eq!(pinned.len(), 1);
        assert_eq!(pinned[0].key_type, "ssh-ed25519");
        assert!(pinned[0].fingerprint_sha256.starts_with("SHA256:"));
        assert!(
            !pinned[0].public_key_openssh.ends_with(" a"),
            "comment kept"
        );
        verify(&store, HostKeyPolicy::Tofu, None, &target(), &key(KEY_A))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_changed_key_is_refused_until_forgotten() {
        let store = MemoryHostKeyStore::new();
        verify(&store, HostKeyPolicy::Tofu, None, &target(), &key(KEY_A))
            .await
            .unwrap();
        let err = verify(&store, HostKeyPolicy::Tofu, None, &target(), &key(KEY_B))
            .await
            .unwrap_err();
        let SshError::HostKeyMismatch { expected, got, .. } = &err else {
            panic!("{err:?}");
        };
        assert_ne!(expected, got);
        assert_eq!(store.forget("dev-1").await.unwrap(), 1);
        verify(&store, HostKeyPolicy::Tofu, None, &target(), &key(KEY_B))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn strict_mode_refuses_a_key_nobody_vouched_for() {
        let store = MemoryHostKeyStore::new();
        let err = verify(&store, HostKeyPolicy::Strict, None, &target(), &key(KEY_A))
            .await
            .unwrap_err();
        assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
        assert!(store.pinned("dev-1").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn strict_mode_accepts_and_pins_a_known_hosts_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(
            &file,
            format!("# comment\nother.lan {KEY_B}\n[127.0.0.2]:2222 {KEY_A}\n"),
        )
        .unwrap();
        let store = MemoryHostKeyStore::new();
        verify(
            &store,
            HostKeyPolicy::Strict,
            Some(&file),
            &target(),
            &key(KEY_A),
        )
        .await
        .unwrap();
        assert_eq!(store.pinned("dev-1").await.unwrap().len(), 1);

        let other = MemoryHostKeyStore::new();
        let err = verify(
            &other,
            HostKeyPolicy::Strict,
            Some(&file),
            &target(),
            &key(KEY_B),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn import_pins_what_known_hosts_lists_for_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, format!("[127.0.0.2]:2222 {KEY_A}\n")).unwrap();
        let store = MemoryHostKeyStore::new();
        assert_eq!(
            import_known_hosts(&store, &target(), &file).await.unwrap(),
            1
        );
        verify(&store, HostKeyPolicy::Strict, None, &target(), &key(KEY_A))
            .await
            .unwrap();
    }

    #[test]
    fn errors_shown_to_a_model_carry_fingerprints_not_keys() {
        let err = SshError::HostKeyMismatch {
            device: "nas".into(),
            expected: "ssh-ed25519 SHA256:abc".into(),
            got: "ssh-ed25519 SHA256:def".into(),
        };
        let text = err.to_string();
        assert!(
            text.contains("SHA256:abc") && !text.contains("AAAA"),
            "{text}"
        );
    }
}
