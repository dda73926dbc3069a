//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{LogFormat, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "toolhost",
    version,
    about = "MCP tool host: tools are sandboxed WebAssembly components"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Mint a token signed with the configured HS256 secret.
    Token(TokenArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage the device registry in the configured database.
    Device {
        #[command(flatten)]
        common: ConfigArgs,
        #[command(subcommand)]
        command: DeviceCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device.
    Add {
        /// Unique name.
        name: String,
        /// DNS name or IP address.
        hostname: String,
        #[arg(long)]
        port: Option<u16>,
        /// Login user (default root).
        #[arg(long)]
        user: Option<String>,
        /// Private key file on this host for this device (else the `[ssh]`
        /// identity or the agent).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long = "type")]
        device_type: Option<String>,
        /// Tags, repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// List registered devices.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a device for every literal `Host` alias in an OpenSSH client
    /// config (default ~/.ssh/config).
    ImportSshConfig { file: Option<PathBuf> },
    /// Forget a device's pinned host keys so the next connection re-pins
    /// (after a legitimate key change).
    ForgetHostKey {
        /// Device id or name.
        device: String,
    },
    /// Pin the host keys an OpenSSH known_hosts file lists for each device's
    /// hostname and port (hashed entries included), so that strict mode
    /// trusts them.
    ImportKnownHosts {
        /// The known_hosts file (default ~/.ssh/known_hosts).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Device ids or names (default every device).
        devices: Vec<String>,
    },
}

/// Flags shared by every command that reads the configuration.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "TOOLHOST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the secret, the SQLite database and the compile cache.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory of plugin components (default dist/plugins).
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// Database URL (default sqlite://<data-dir>/toolhost.db).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Base URL clients use to reach the server.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            data_dir: self.common.data_dir.clone(),
            plugins_dir: self.plugins_dir.clone(),
            database_url: self.database_url.clone(),
            log_format: self.log_format,
            public_url: self.public_url.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    /// The token subject (the user the token speaks for).
    #[arg(long)]
    pub sub: String,
    /// Scopes, space- or comma-separated, repeatable: read, write, admin.
    #[arg(long = "scope", default_value = "read")]
    pub scopes: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub ttl_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print a plugin's tools and needed capabilities without serving it.
    Inspect {
        /// The component file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: ConfigArgs,
    },
}
