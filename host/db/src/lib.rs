//! toolhost's database handle.
//!
//! [`Database::connect`] opens (creating if needed) the SQLite file named by a
//! `sqlite://…` / `sqlite:…` URL or a bare path, applies the connection
//! settings a small always-on server wants (WAL, `synchronous=NORMAL`, foreign
//! keys, a busy timeout) and runs the migrations in `migrations/sqlite` before
//! handing the pool out. Repositories (devices, records, samples, …) live in
//! their own crates and take a [`Database`].
//!
//! PostgreSQL is planned; its URLs are recognised and refused with a clear
//! error until then.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// How long a statement waits for another connection's write lock before it
/// fails with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most pooled connections. SQLite serialises writers anyway; a handful of
/// connections lets WAL readers proceed beside one writer.
pub const MAX_CONNECTIONS: u32 = 8;

/// How long a caller waits for a free pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A cheap-to-clone handle on the database pool.
#[derive(Debug, Clone)]
pub struct Database {
    pool: SqlitePool,
}

impl Database {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// Accepts `sqlite://path`, `sqlite:path`, `sqlite::memory:` and a bare
    /// file path. The file and its parent directory are created when missing.
    /// `postgres://` / `postgresql://` URLs are refused for now.
    pub async fn connect(url: &str) -> anyhow::Result<Database> {
        let options = sqlite_options(url)?;
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating database directory {}", parent.display()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .with_context(|| format!("opening database {}", redact(url)))?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .context("running database migrations")?;
        Ok(Database { pool })
    }

    /// Checks that the database answers a trivial query; backs `/readyz`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("pinging database")?;
        Ok(())
    }

    /// The underlying pool, for repositories.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for every pooled connection to close; call on shutdown so the
    /// WAL is checkpointed.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Builds SQLite options from a URL or a bare path.
fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        bail!("PostgreSQL support is not built yet; use a sqlite:// URL or a file path");
    }
    if url.trim().is_empty() {
        bail!("database URL is empty");
    }
    let options = if lower.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)
            .with_context(|| format!("parsing database URL {}", redact(url)))?
    } else if url.contains("://") {
        bail!("unsupported database URL scheme in {}", redact(url));
    } else {
        // A bare path: taken literally, so `?` or `#` in a file name is not
        // mistaken for URL syntax.
        SqliteConnectOptions::new().filename(Path::new(url))
    };
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT))
}

/// The URL with any query string dropped, for error messages: parameters
/// may one day carry credentials.
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_postgres_urls_with_a_clear_message() {
        let err = sqlite_options("postgres://u:p@localhost/toolhost").unwrap_err();
        assert!(
            err.to_string()
                .contains("PostgreSQL support is not built yet")
        );
        let err = sqlite_options("postgresql://localhost/toolhost").unwrap_err();
        assert!(
            err.to_string()
                .contains("PostgreSQL support is not built yet")
        );
    }

    #[test]
    fn refuses_unknown_url_schemes() {
        assert!(sqlite_options("mysql://localhost/db").is_err());
    }

    #[test]
    fn takes_a_bare_path_literally() {
        let options = sqlite_options("data/tool?host.db").unwrap();
        assert_eq!(options.get_filename(), Path::new("data/tool?host.db"));
    }

    async fn connects_and_migrates(url: String, file: &Path) {
        let db = Database::connect(&url).await.unwrap();
        db.ping().await.unwrap();
        assert!(file.exists(), "{} was not created", file.display());
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert!(tables.contains(&"devices".to_owned()));
        assert!(tables.contains(&"device_host_keys".to_owned()));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        db.close().await;
    }

    #[tokio::test]
    async fn creates_the_file_and_parent_directory_from_a_sqlite_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/deeper/toolhost.db");
        connects_and_migrates(format!("sqlite://{}", file.display()), &file).await;
    }

    #[tokio::test]
    async fn accepts_the_short_sqlite_scheme_and_a_bare_path() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short.db");
        connects_and_migrates(format!("sqlite:{}", short.display()), &short).await;
        let bare = dir.path().join("bare/toolhost.db");
        connects_and_migrates(bare.display().to_string(), &bare).await;
    }

    #[tokio::test]
    async fn reconnecting_to_a_migrated_file_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("again.db");
        let url = file.display().to_string();
        Database::connect(&url).await.unwrap().close().await;
        Database::connect(&url).await.unwrap().ping().await.unwrap();
    }
}
