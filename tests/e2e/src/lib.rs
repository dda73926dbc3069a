//! Harness for end-to-end tests: starts the real `toolhost` binary on a
//! loopback port with its own data and plugins directories, mints tokens,
//! and connects real MCP clients (rmcp's streamable HTTP client).
//!
//! The binary and the plugin components must be built first; the README's
//! test command (`scripts/test.sh`) does that.
// MCP logging is deprecated from 2026-07-28 but is what 2025-11-25 sessions use.
#![allow(deprecated)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// HS256 secret every test server is configured with.
pub const TEST_SECRET: &str = "e2e-test-secret-0123456789abcdef-0123456789abcdef";
/// How long a server may take to become ready (cold compiles included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A built component under `dist/`, e.g. `fixture("echo")` or `bundled("utility")`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("dist/fixtures")
        .join(format!("{name}.wasm"))
}

pub fn bundled(name: &str) -> PathBuf {
    repo_root()
        .join("dist/plugins")
        .join(format!("{name}.wasm"))
}

/// The `toolhost` binary built by `cargo build` next to this test binary.
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>/toolhost
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("locating the target directory")?;
    let bin = dir.join("toolhost");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (cargo build -p toolhost)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Compiled components are shared by every test server of a run, so each
/// plugin is compiled once (the cache key includes the content hash).
pub fn shared_cache_dir() -> PathBuf {
    repo_root().join("target/e2e-component-cache")
}

/// Options for a test server.
pub struct ServerOptions {
    /// Components copied into the plugins directory before start.
    pub plugins: Vec<PathBuf>,
    /// Extra TOML appended to the generated config.
    pub extra_config: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            plugins: vec![bundled("utility")],
            extra_config: String::new(),
        }
    }
}

/// A running `toolhost serve` child process; killed on drop.
pub struct TestServer {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub stdout_lines: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl TestServer {
    pub async fn start(opts: ServerOptions) -> anyhow::Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let plugins = dir.path().join("plugins");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&plugins)?;
        for p in &opts.plugins {
            let name = p.file_name().context("plugin file name")?;
            std::fs::copy(p, plugins.join(name))
                .with_context(|| format!("copying {} (run plugins/build.sh)", p.display()))?;
        }
        let config = dir.path().join("toolhost.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\n\
                 data_dir = {data:?}\n\
                 plugins_dir = {plugins:?}\n\
                 cache_dir = {cache:?}\n\
                 {extra}\n\
                 [auth]\n\
                 hs256_secret = {TEST_SECRET:?}\n",
                extra = opts.extra_config,
                cache = shared_cache_dir(),
            ),
        )?;
        Self::spawn(dir, &config).await
    }

    /// Starts the binary with `config`, waiting until `/readyz` says ready.
    pub async fn spawn(dir: tempfile::TempDir, config: &Path) -> anyhow::Result<TestServer> {
        let mut child = Command::new(binary()?)
            .arg("serve")
            .arg("--config")
            .arg(config)
            // The server's log filter; benchmarks set E2E_SERVER_LOG=warn.
            .env(
                "RUST_LOG",
                std::env::var("E2E_SERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawning toolhost")?;
        let stdout = child.stdout.take().context("stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, mut url_rx) = mpsc::channel(1);
        {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Some(rest) = line.split(" listening on ").nth(1) {
                        let _ = url_tx.send(rest.trim().to_owned()).await;
                    }
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        let url = tokio::time::timeout(READY_TIMEOUT, url_rx.recv())
            .await
            .context("server did not print its URL in time")?
            .context("server exited before printing its URL")?;
        let server = TestServer {
            url,
            dir,
            stdout_lines: lines,
            child,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("server not ready within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.url)
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// An HS256 token for `sub` with `scope`, valid for an hour.
    pub fn token(&self, sub: &str, scope: &str) -> String {
        mint(sub, scope, 3600)
    }

    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Signs `claims` with the test secret.
pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("signing a test token")
}

/// Standard claims for the test server, valid for `ttl` seconds.
pub fn claims(sub: &str, scope: &str, ttl: i64) -> Value {
    let now = now();
    json!({
        "sub": sub, "scope": scope, "aud": "toolhost", "iss": "toolhost",
        "iat": now, "nbf": now, "exp": now + ttl,
    })
}

pub fn mint(sub: &str, scope: &str, ttl: i64) -> String {
    sign(&claims(sub, scope, ttl))
}

/// What the client heard from the server besides responses.
#[derive(Debug, Clone)]
pub enum Heard {
    Progress(ProgressNotificationParam),
    Log(LoggingMessageNotificationParam),
    ToolListChanged,
}

/// A client handler that records notifications.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Heard>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("toolhost-e2e", "0"),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(Heard::Progress(params));
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(Heard::Log(params));
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.tx.send(Heard::ToolListChanged);
    }
}

/// A connected MCP client plus what it heard.
pub struct McpClient {
    pub service: RunningService<RoleClient, Recorder>,
    pub heard: mpsc::UnboundedReceiver<Heard>,
}

/// Which protocol revision handshake the client uses.
#[derive(Debug, Clone, Copy)]
pub enum Revision {
    /// 2025-11-25: `initialize`, a session id.
    Sessions,
    /// 2026-07-28: `server/discover`, stateless requests.
    Stateless,
}

impl McpClient {
    pub async fn connect(url: &str, token: &str, revision: Revision) -> anyhow::Result<McpClient> {
        let (tx, heard) = mpsc::unbounded_channel();
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token),
        );
        let mode = match revision {
            Revision::Sessions => ClientLifecycleMode::Initialize,
            Revision::Stateless => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        };
        let service = Recorder { tx }
            .serve_with_lifecycle(transport, mode)
            .await
            .context("connecting the MCP client")?;
        Ok(McpClient { service, heard })
    }

    pub async fn call(&self, tool: &str, args: Value) -> anyhow::Result<CallToolResult> {
        let Value::Object(args) = args else {
            bail!("arguments must be an object")
        };
        Ok(self
            .service
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await?)
    }

    pub async fn tool_names(&self) -> anyhow::Result<Vec<String>> {
        let tools = self.service.list_all_tools().await?;
        Ok(tools.into_iter().map(|t| t.name.to_string()).collect())
    }

    /// Waits up to `within` for a notification matching `pred`.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&Heard) -> bool,
    ) -> anyhow::Result<Heard> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.heard.recv()).await {
                Ok(Some(h)) if pred(&h) => return Ok(h),
                Ok(Some(_)) => continue,
                Ok(None) => bail!("client closed"),
                Err(_) => bail!("no matching notification within {within:?}"),
            }
        }
    }
}

/// The text of the first text content block.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_default()
}

/// Copies `src` into `dir` as `name` atomically (write a temp file, rename).
pub fn drop_in(src: &Path, dir: &Path, name: &str) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::copy(src, &tmp)?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}
