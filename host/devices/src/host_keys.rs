//! [`HostKeyRepo`]: pinned SSH host keys in the `device_host_keys` table,
//! behind `toolhost_ssh::HostKeyStore`, plus the admin's list and re-trust.
//!
//! One row per (device, key type). A row is written when the SSH layer pins
//! a key (trust on first use, or a strict-mode known_hosts import) and
//! deleted when an admin re-trusts the device; deleting the device cascades.
//! Pinning never overwrites: a changed key must be refused, not recorded.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use toolhost_db::Database;
use toolhost_ssh::{HostKeyStore, HostKeyStoreError, PinnedKey, StoreFuture};

use crate::repo::RepoError;

/// One pinned host key as the admin API shows it. Public keys are public;
/// nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HostKeyRecord {
    pub device_id: String,
    pub key_type: String,
    pub fingerprint_sha256: String,
    pub public_key: String,
    pub first_seen: String,
    pub trusted_at: Option<String>,
}

/// The pinned host keys over the host database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HostKeyRepo {
    db: Database,
}

impl HostKeyRepo {
    /// The store over `db`, whose migrations [`Database::connect`] has run.
    pub fn new(db: Database) -> Self {
        HostKeyRepo { db }
    }

    /// Every key pinned for `device_id`, by key type.
    pub async fn list(&self, device_id: &str) -> Result<Vec<HostKeyRecord>, RepoError> {
        Ok(sqlx::query_as::<_, HostKeyRecord>(
            "SELECT device_id, key_type, fingerprint_sha256, public_key, first_seen, trusted_at \
             FROM device_host_keys WHERE device_id = $1 ORDER BY key_type",
        )
        .bind(device_id)
        .fetch_all(self.db.pool())
        .await?)
    }

    /// Drops every key pinned for `device_id` so the next connection trusts
    /// anew (TOFU) or needs a fresh import (strict). Returns how many rows
    /// went. Pooled connections to the device should be closed too
    /// (`SshPool::disconnect_device`).
    pub async fn forget(&self, device_id: &str) -> Result<u64, RepoError> {
        let done = sqlx::query("DELETE FROM device_host_keys WHERE device_id = $1")
            .bind(device_id)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Pins `key` for `device_id` unless a key of its type is pinned already.
    pub async fn pin(&self, device_id: &str, key: &PinnedKey) -> Result<(), RepoError> {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        sqlx::query(
            "INSERT INTO device_host_keys \
             (device_id, key_type, fingerprint_sha256, public_key, first_seen, trusted_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (device_id, key_type) DO NOTHING",
        )
        .bind(device_id)
        .bind(&key.key_type)
        .bind(&key.fingerprint_sha256)
        .bind(&key.public_key_openssh)
        .bind(&now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

fn store_error(err: RepoError) -> HostKeyStoreError {
    let detail = match &err {
        RepoError::Db(e) => format!("{e:#}"),
        other => other.to_string(),
    };
    HostKeyStoreError::new(detail)
}

impl HostKeyStore for HostKeyRepo {
    fn pinned<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, Vec<PinnedKey>> {
        Box::pin(async move {
            let rows = self.list(device_id).await.map_err(store_error)?;
            Ok(rows
                .into_iter()
                .map(|r| PinnedKey {
                    key_type: r.key_type,
                    fingerprint_sha256: r.fingerprint_sha256,
                    public_key_openssh: r.public_key,
                })
                .collect())
        })
    }

    fn pin<'a>(&'a self, device_id: &'a str, key: &'a PinnedKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            HostKeyRepo::pin(self, device_id, key)
                .await
                .map_err(store_error)
        })
    }

    fn forget<'a>(&'a self, device_id: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            HostKeyRepo::forget(self, device_id)
                .await
                .map_err(store_error)
        })
    }
}

/// Against real SQLite files.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceRepo, NewDevice};
    use tempfile::TempDir;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuEgcNoOJGEq1GuZdWV1Zvr9lPfux4XZLVHQlBcn1P0";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL0f/eBtAMoC16qR722fsx24pxSqw4LJRSYsSURA9j2w";

    async fn setup() -> (HostKeyRepo, DeviceRepo, String, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(dir.path().join("toolhost.db").to_str().unwrap())
            .await
            .unwrap();
        let devices = DeviceRepo::new(db.clone());
        let device = devices
            .create(NewDevice {
                name: "nas".into(),
                hostname: "127.0.0.2".into(),
                ..NewDevice::default()
            })
            .await
            .unwrap();
        (HostKeyRepo::new(db), devices, device.device.id, dir)
    }

    #[tokio::test]
    async fn pins_lists_and_forgets_keys() {
        let (repo, _devices, id, _dir) = setup().await;
        let store: &dyn HostKeyStore = &repo;
        assert!(store.pinned(&id).await.unwrap().is_empty());

        let a = PinnedKey::from_openssh(KEY_A).unwrap();
        store.pin(&id, &a).await.unwrap();
        assert_eq!(store.pinned(&id).await.unwrap(), vec![a.clone()]);

        let listed = repo.list(&id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].fingerprint_sha256, a.fingerprint_sha256);
        assert!(listed[0].trusted_at.is_some());
        assert!(listed[0].first_seen.ends_with('Z'));

        assert_eq!(store.forget(&id).await.unwrap(), 1);
        assert!(repo.list(&id).await.unwrap().is_empty());
        assert_eq!(store.forget(&id).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn pinning_never_overwrites_a_key_of_the_same_type() {
        let (repo, _devices, id, _dir) = setup().await;
        let a = PinnedKey::from_openssh(KEY_A).unwrap();
        let b = PinnedKey::from_openssh(KEY_B).unwrap();
        HostKeyStore::pin(&repo, &id, &a).await.unwrap();
        HostKeyStore::pin(&repo, &id, &b).await.unwrap();
        assert_eq!(repo.pinned(&id).await.unwrap(), vec![a]);
    }

    #[tokio::test]
    async fn keys_go_with_their_device() {
        let (repo, devices, id, _dir) = setup().await;
        HostKeyStore::pin(&repo, &id, &PinnedKey::from_openssh(KEY_A).unwrap())
            .await
            .unwrap();
        devices.delete(&id).await.unwrap();
        assert!(repo.list(&id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn pinning_for_an_unregistered_device_fails() {
        let (repo, _devices, _id, _dir) = setup().await;
        let err = HostKeyStore::pin(
            &repo,
            "no-such-device",
            &PinnedKey::from_openssh(KEY_A).unwrap(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("host key store"), "{err}");
    }
}
