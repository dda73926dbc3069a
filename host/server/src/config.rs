//! Server configuration: defaults, then an optional TOML file, then
//! `TOOLHOST_*` environment variables (`__` separates nested keys, e.g.
//! `TOOLHOST_AUTH__AUDIENCE`), then `DATABASE_URL`, then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use toolhost_auth::AuthConfig;
use toolhost_runtime::{GrantPolicy, Limits};
use toolhost_ssh::SshConfig;

/// Default listen address: loopback only until the operator opts in.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Everything `toolhost serve` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Base URL clients use to reach this server (for OAuth protected
    /// resource metadata); derived from `listen` when unset.
    pub public_url: Option<String>,
    /// Secrets, the SQLite file and the compiled-component cache live here.
    pub data_dir: PathBuf,
    /// Every `*.wasm` here is served; the directory is watched.
    pub plugins_dir: PathBuf,
    /// Watch `plugins_dir` for changes.
    pub watch_plugins: bool,
    /// Compiled-component cache; defaults to `<data_dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// `sqlite://…`; defaults to `<data_dir>/toolhost.db`.
    pub database_url: Option<String>,
    /// `Host` header values accepted on `/mcp` (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted on `/mcp` (`scheme://host:port`, `:*` for any
    /// port). Empty disables the Origin check; the Host check still applies.
    pub allowed_origins: Vec<String>,
    /// Serve MCP sessions for revisions before 2026-07-28 (stateless
    /// requests of 2026-07-28 are always served).
    pub mcp_sessions: bool,
    pub log_format: LogFormat,
    pub auth: AuthConfig,
    pub limits: Limits,
    /// SSH to devices: timeouts, pool sizes, identity, host-key policy.
    #[serde(skip_serializing)]
    pub ssh: SshConfig,
    /// Capabilities granted per plugin name, merged over the bundled defaults.
    pub grants: GrantPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            public_url: None,
            data_dir: PathBuf::from("data"),
            plugins_dir: PathBuf::from("dist/plugins"),
            watch_plugins: true,
            cache_dir: None,
            database_url: None,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![],
            mcp_sessions: true,
            log_format: LogFormat::Human,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            ssh: SshConfig::default(),
            grants: GrantPolicy::default(),
        }
    }
}

/// Command-line overrides; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl Config {
    /// Layers the sources; a named file that does not exist is an error.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            fig = fig.merge(Toml::file(file));
        }
        // TOOLHOST_CONFIG names the file itself (a CLI flag), not a key.
        fig = fig.merge(Env::prefixed("TOOLHOST_").ignore(&["config"]).split("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            fig = fig.merge(Serialized::default("database_url", url));
        }
        fig = fig.merge(Serialized::defaults(overrides));
        let mut config: Config = fig.extract().context("reading configuration")?;
        config.grants = GrantPolicy::bundled_defaults().merged_with(&config.grants);
        Ok(config)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("toolhost.db").display()))
    }

    /// Where compiled components are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_loopback_with_bundled_grants() {
        let c = Config::load(None, Overrides::default()).expect("load");
        assert!(c.listen.ip().is_loopback());
        assert_eq!(
            c.grants.granted("utility")[0],
            toolhost_runtime::Capability::DevicesRead
        );
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn file_values_are_overridden_by_flags() {
        let dir = std::env::temp_dir().join(format!("toolhost-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("toolhost.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nplugins_dir = \"/p\"\n[grants]\nx = [\"devices-read\"]\n",
        )
        .expect("write");
        let c = Config::load(
            Some(&file),
            Overrides {
                plugins_dir: Some("/q".into()),
                ..Default::default()
            },
        )
        .expect("load");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.plugins_dir, PathBuf::from("/q"));
        assert_eq!(c.grants.granted("x").len(), 1);
        assert_eq!(c.grants.granted("utility").len(), 2);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let dir = std::env::temp_dir().join(format!("toolhost-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").expect("write");
        assert!(Config::load(Some(&file), Overrides::default()).is_err());
    }
}
