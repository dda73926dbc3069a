//! [`DeviceRepo`]: the `devices` table behind a typed API.
//!
//! SQL stays portable (no SQLite-only functions): filters use `LIKE … ESCAPE`,
//! the list query is built with [`QueryBuilder`] so placeholders follow the
//! backend, and concurrent updates are detected by comparing `updated_at`
//! rather than by locking.

use anyhow::{Context, anyhow};
use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite};
use toolhost_db::Database;
use toolhost_runtime::caps::devices::{Device, DeviceFilter, DeviceStatus};

use crate::model::{
    AuthMethod, DevicePatch, DeviceRecord, FieldError, NewDevice, ValidDevice, ValidationErrors,
    is_tag,
};

/// Longest `search` filter accepted.
pub const MAX_SEARCH_LEN: usize = 256;

/// How often an update re-reads and retries when another writer changed the
/// same device between its read and its write.
const MAX_UPDATE_ATTEMPTS: usize = 5;

/// Why a registry operation failed; variants are what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No device has that id or name.
    #[error("device not found")]
    NotFound,
    /// Another device already holds this unique value.
    #[error("a device with this {field} already exists")]
    Duplicate { field: &'static str },
    /// The input (or a filter) is invalid; every bad field is listed.
    #[error("invalid device: {0}")]
    Invalid(ValidationErrors),
    /// The database failed or holds a row this code cannot read; a host
    /// fault, not the caller's.
    #[error("device registry failure")]
    Db(#[source] anyhow::Error),
}

impl From<sqlx::Error> for RepoError {
    fn from(err: sqlx::Error) -> Self {
        RepoError::Db(anyhow::Error::new(err))
    }
}

/// One page of registry records plus the number that matched before paging.
/// Serializes as the REST list body `{"devices": [...], "total": N}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceRecordPage {
    pub devices: Vec<DeviceRecord>,
    pub total: u64,
}

/// The device registry over the host database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceRepo {
    db: Database,
}

/// Column list shared by every query that returns whole devices.
macro_rules! device_columns {
    () => {
        "id, name, hostname, port, username, auth_method, key_path, tags, device_type, \
         location, description, monitoring_enabled, status, last_seen, created_at, updated_at"
    };
}

impl DeviceRepo {
    /// The registry over `db`, whose migrations [`Database::connect`] has run.
    pub fn new(db: Database) -> Self {
        DeviceRepo { db }
    }

    /// Devices matching every set field of `filter`, ordered by name, with
    /// the total before `limit`/`offset`.
    pub async fn list(&self, filter: &DeviceFilter) -> Result<DeviceRecordPage, RepoError> {
        let search = match filter.search.as_deref().map(str::trim) {
            Some(s) if s.len() > MAX_SEARCH_LEN => {
                return Err(RepoError::Invalid(ValidationErrors(vec![FieldError {
                    field: "search".into(),
                    message: format!("must be at most {MAX_SEARCH_LEN} bytes"),
                }])));
            }
            Some(s) if !s.is_empty() => Some(s.to_lowercase()),
            _ => None,
        };
        let tag = filter.tag.as_deref().filter(|t| !t.is_empty());
        if tag.is_some_and(|t| !is_tag(t)) {
            // No stored tag can equal it; answering here also keeps SQLite's
            // case-insensitive LIKE from matching `Web` to `web`.
            return Ok(DeviceRecordPage::default());
        }
        let conditions = Conditions {
            device_type: filter.device_type.as_deref().filter(|t| !t.is_empty()),
            status: filter.status,
            tag,
            search: search.as_deref(),
        };

        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM devices");
        conditions.push_where(&mut count);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(self.db.pool())
            .await
            .context("counting devices")
            .map_err(RepoError::Db)?;

        let mut select =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", device_columns!(), " FROM devices"));
        conditions.push_where(&mut select);
        select
            .push(" ORDER BY name, id LIMIT ")
            .push_bind(i64::from(filter.effective_limit()))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset.unwrap_or(0)));
        let rows: Vec<DeviceRow> = select
            .build_query_as()
            .fetch_all(self.db.pool())
            .await
            .context("listing devices")
            .map_err(RepoError::Db)?;

        Ok(DeviceRecordPage {
            devices: rows
                .into_iter()
                .map(DeviceRecord::try_from)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// The device whose id or name is `id_or_name`. Names cannot be shaped
    /// like ids, so at most one device matches.
    pub async fn get(&self, id_or_name: &str) -> Result<Option<DeviceRecord>, RepoError> {
        self.fetch(id_or_name)
            .await?
            .map(DeviceRecord::try_from)
            .transpose()
    }

    /// Validates and stores a new device with a fresh id.
    pub async fn create(&self, new: NewDevice) -> Result<DeviceRecord, RepoError> {
        let valid = new.to_valid().map_err(RepoError::Invalid)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now();
        let row: DeviceRow = sqlx::query_as(concat!(
            "INSERT INTO devices (id, name, hostname, port, username, auth_method, key_path, \
             tags, device_type, location, description, monitoring_enabled, status, last_seen, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, $14) \
             RETURNING ",
            device_columns!()
        ))
        .bind(&id)
        .bind(&valid.name)
        .bind(&valid.hostname)
        .bind(i64::from(valid.port))
        .bind(&valid.username)
        .bind(valid.auth_method.as_str())
        .bind(&valid.key_path)
        .bind(tags_json(&valid.tags)?)
        .bind(&valid.device_type)
        .bind(&valid.location)
        .bind(&valid.description)
        .bind(valid.monitoring_enabled)
        .bind(valid.status.as_str())
        .bind(now)
        .fetch_one(self.db.pool())
        .await
        .map_err(write_error)?;
        row.try_into()
    }

    /// Applies a partial update to the device named by id or name, bumping
    /// `updated_at`. The merged result is validated as a whole.
    pub async fn update(
        &self,
        id_or_name: &str,
        patch: DevicePatch,
    ) -> Result<DeviceRecord, RepoError> {
        self.modify(id_or_name, |current| patch.apply_to(current))
            .await
    }

    /// Replaces every settable field of the device named by id or name
    /// (omitted optional fields return to their defaults). `id`,
    /// `created_at` and `last_seen` are kept.
    pub async fn replace(
        &self,
        id_or_name: &str,
        device: NewDevice,
    ) -> Result<DeviceRecord, RepoError> {
        self.modify(id_or_name, |_| device.clone()).await
    }

    /// Removes the device (and, by cascade, its pinned host keys). `false`
    /// when there was none.
    pub async fn delete(&self, id_or_name: &str) -> Result<bool, RepoError> {
        let done = sqlx::query("DELETE FROM devices WHERE id = $1 OR name = $1")
            .bind(id_or_name)
            .execute(self.db.pool())
            .await
            .context("deleting device")
            .map_err(RepoError::Db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn fetch(&self, id_or_name: &str) -> Result<Option<DeviceRow>, RepoError> {
        sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE id = $1 OR name = $1"
        ))
        .bind(id_or_name)
        .fetch_optional(self.db.pool())
        .await
        .context("reading device")
        .map_err(RepoError::Db)
    }

    /// Read, merge, validate, write-if-unchanged; retried when another
    /// writer got in between.
    async fn modify(
        &self,
        id_or_name: &str,
        merge: impl Fn(&DeviceRecord) -> NewDevice,
    ) -> Result<DeviceRecord, RepoError> {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let Some(row) = self.fetch(id_or_name).await? else {
                return Err(RepoError::NotFound);
            };
            let previous = row.updated_at;
            let current = DeviceRecord::try_from(row)?;
            let valid = merge(&current).to_valid().map_err(RepoError::Invalid)?;
            // Strictly later than the stamp compared against, so a writer
            // that read the old stamp can never match the new one.
            let stamp = now().max(previous + TimeDelta::microseconds(1));
            if let Some(row) = self
                .write_if_unchanged(&current.device.id, previous, stamp, &valid)
                .await?
            {
                return row.try_into();
            }
        }
        Err(RepoError::Db(anyhow!(
            "device {id_or_name} kept changing during {MAX_UPDATE_ATTEMPTS} update attempts"
        )))
    }

    async fn write_if_unchanged(
        &self,
        id: &str,
        previous: DateTime<Utc>,
        stamp: DateTime<Utc>,
        valid: &ValidDevice,
    ) -> Result<Option<DeviceRow>, RepoError> {
        sqlx::query_as(concat!(
            "UPDATE devices SET name = $1, hostname = $2, port = $3, username = $4, \
             auth_method = $5, key_path = $6, tags = $7, device_type = $8, location = $9, \
             description = $10, monitoring_enabled = $11, status = $12, updated_at = $13 \
             WHERE id = $14 AND updated_at = $15 RETURNING ",
            device_columns!()
        ))
        .bind(&valid.name)
        .bind(&valid.hostname)
        .bind(i64::from(valid.port))
        .bind(&valid.username)
        .bind(valid.auth_method.as_str())
        .bind(&valid.key_path)
        .bind(tags_json(&valid.tags)?)
        .bind(&valid.device_type)
        .bind(&valid.location)
        .bind(&valid.description)
        .bind(valid.monitoring_enabled)
        .bind(valid.status.as_str())
        .bind(stamp)
        .bind(id)
        .bind(previous)
        .fetch_optional(self.db.pool())
        .await
        .map_err(write_error)
    }
}

/// The set filters of a list query, rendered as one `WHERE` clause.
struct Conditions<'a> {
    device_type: Option<&'a str>,
    status: Option<DeviceStatus>,
    tag: Option<&'a str>,
    /// Already lowercased.
    search: Option<&'a str>,
}

impl Conditions<'_> {
    fn push_where(&self, qb: &mut QueryBuilder<Sqlite>) {
        let mut keyword = " WHERE ";
        let mut next = |qb: &mut QueryBuilder<Sqlite>| {
            qb.push(keyword);
            keyword = " AND ";
        };
        if let Some(device_type) = self.device_type {
            next(qb);
            qb.push("device_type = ").push_bind(device_type.to_owned());
        }
        if let Some(status) = self.status {
            next(qb);
            qb.push("status = ").push_bind(status.as_str());
        }
        if let Some(tag) = self.tag {
            // Tags are stored as compact JSON (`["a","b"]`) and cannot
            // contain quotes, so `"tag"` occurs exactly when an element
            // equals the tag.
            next(qb);
            qb.push("tags LIKE ")
                .push_bind(format!("%\"{}\"%", escape_like(tag)))
                .push(" ESCAPE '\\'");
        }
        if let Some(search) = self.search {
            next(qb);
            let pattern = format!("%{}%", escape_like(search));
            qb.push("(");
            for (i, column) in ["name", "hostname", "description", "location"]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("LOWER(")
                    .push(column)
                    .push(") LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\'");
            }
            qb.push(")");
        }
    }
}

/// Escapes `LIKE` wildcards so the text matches literally under `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn tags_json(tags: &[String]) -> Result<String, RepoError> {
    serde_json::to_string(tags)
        .context("encoding tags")
        .map_err(RepoError::Db)
}

/// Now, at the microsecond precision both SQLite text and PostgreSQL
/// `timestamptz` round-trip exactly (the update check compares stamps).
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Maps a failed INSERT/UPDATE, turning unique violations into `Duplicate`.
fn write_error(err: sqlx::Error) -> RepoError {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
    {
        // `name` is the only unique column besides the generated id; both
        // SQLite ("devices.name") and PostgreSQL ("devices_name_key") name it.
        let field = if db.message().contains("name") || db.constraint() == Some("devices_name_key")
        {
            "name"
        } else {
            "id"
        };
        return RepoError::Duplicate { field };
    }
    RepoError::Db(anyhow::Error::new(err).context("writing device"))
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: String,
    name: String,
    hostname: String,
    port: i64,
    username: String,
    auth_method: String,
    key_path: Option<String>,
    tags: String,
    device_type: String,
    location: Option<String>,
    description: Option<String>,
    monitoring_enabled: bool,
    status: String,
    last_seen: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = RepoError;

    /// Fails only on rows the schema's CHECKs should have kept out.
    fn try_from(row: DeviceRow) -> Result<Self, RepoError> {
        let corrupt =
            |what: &str| RepoError::Db(anyhow!("device {} has an invalid {what}", row.id));
        let port = u16::try_from(row.port).map_err(|_| corrupt("port"))?;
        let status = DeviceStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?;
        let auth_method =
            AuthMethod::parse(&row.auth_method).ok_or_else(|| corrupt("auth_method"))?;
        let tags: Vec<String> = serde_json::from_str(&row.tags).map_err(|_| corrupt("tags"))?;
        Ok(DeviceRecord {
            device: Device {
                id: row.id,
                name: row.name,
                hostname: row.hostname,
                port,
                username: row.username,
                device_type: row.device_type,
                tags,
                location: row.location,
                description: row.description,
                monitoring_enabled: row.monitoring_enabled,
                status,
                last_seen: row.last_seen.map(rfc3339),
                created_at: rfc3339(row.created_at),
                updated_at: rfc3339(row.updated_at),
            },
            auth_method,
            key_path: row.key_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(escape_like(r"50%_off\x"), r"50\%\_off\\x");
    }
}
