//! The composition root: the one place that names every capability, builds
//! the router and runs the server on a given listener until shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toolhost_auth::{AuthLayerState, Keys, Principal, Scope, Verifier};
use toolhost_db::Database;
use toolhost_devices::host_keys::HostKeyRepo;
use toolhost_devices::{CallerScopes, DeviceRepo};
use toolhost_runtime::{HostCapabilities, Runtime, RuntimeConfig};
use toolhost_ssh::SshPool;

use crate::api;
use crate::config::Config;
use crate::mcp::{self, McpHandler};
use crate::plugins;
use crate::remote::SshRemote;
use crate::tools::ToolService;

/// The authenticated caller as the device registry's REST API sees it.
#[derive(Clone)]
pub struct RegistryCaller(pub Principal);

impl CallerScopes for RegistryCaller {
    fn can_read(&self) -> bool {
        self.0.scopes.allows(Scope::Read)
    }
    fn can_admin(&self) -> bool {
        self.0.scopes.allows(Scope::Admin)
    }
}

async fn registry_caller(mut req: Request, next: Next) -> Response {
    if let Some(p) = req.extensions().get::<Principal>().cloned() {
        req.extensions_mut().insert(RegistryCaller(p));
    }
    next.run(req).await
}

/// The base URL clients reach us at.
pub fn public_url(config: &Config, bound: std::net::SocketAddr) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_owned()
}

/// Everything `run` built, exposed for the CLI's startup banner.
pub struct Started {
    pub url: String,
}

/// Runs the server on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    on_started: impl FnOnce(Started),
) -> anyhow::Result<()> {
    let bound = listener.local_addr().context("reading the bound address")?;
    let base = public_url(&config, bound);

    let (keys, _origin) =
        Keys::load(&config.auth, &config.data_dir).context("loading auth keys")?;
    let verifier = Verifier::new(&keys, &config.auth);
    let resource = config
        .auth
        .resource
        .clone()
        .unwrap_or_else(|| format!("{base}/mcp"));
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let auth_state =
        Arc::new(AuthLayerState::new(verifier, metadata_url).context("configuring auth")?);

    let db = Database::connect(&config.database_url())
        .await
        .context("opening the database")?;
    let repo = DeviceRepo::new(db.clone());

    let host_keys = HostKeyRepo::new(db.clone());
    let pool = SshPool::new(config.ssh.clone(), Arc::new(host_keys.clone()));
    let runtime = Arc::new(
        Runtime::new(
            RuntimeConfig {
                limits: config.limits.clone(),
                cache_dir: Some(config.cache_dir()),
                grants: config.grants.clone(),
            },
            HostCapabilities {
                devices: Arc::new(repo.clone()),
                ssh: Arc::new(SshRemote::new(repo.clone(), pool.clone())),
            },
        )
        .context("starting the plugin runtime")?,
    );

    // Watch before scanning so a file dropped during the scan is not missed.
    tokio::fs::create_dir_all(&config.plugins_dir)
        .await
        .with_context(|| format!("creating {}", config.plugins_dir.display()))?;
    // The watcher reports absolute paths; the registry keys plugins by path,
    // so the scan must use the same absolute form.
    let mut config = config;
    config.plugins_dir = tokio::fs::canonicalize(&config.plugins_dir)
        .await
        .with_context(|| format!("resolving {}", config.plugins_dir.display()))?;
    let watcher = if config.watch_plugins {
        Some(plugins::watch(
            runtime.clone(),
            config.plugins_dir.clone(),
            shutdown.child_token(),
        )?)
    } else {
        None
    };
    let scanned = Arc::new(AtomicBool::new(false));
    {
        let (runtime, dir, scanned) =
            (runtime.clone(), config.plugins_dir.clone(), scanned.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match plugins::scan(&runtime, &dir).await {
                Ok(n) => tracing::info!(
                    plugins = n,
                    tools = runtime.registry().snapshot().tool_count(),
                    ms = started.elapsed().as_millis() as u64,
                    dir = %dir.display(),
                    "plugin scan finished"
                ),
                Err(e) => tracing::error!(error = %format!("{e:#}"), "plugin scan failed"),
            }
            scanned.store(true, Ordering::Release);
        });
    }

    let tools = Arc::new(ToolService::new(runtime.clone()));
    let mcp_service = mcp::service(
        McpHandler::new(tools.clone()),
        config.allowed_hosts.clone(),
        config.allowed_origins.clone(),
        config.mcp_sessions,
        shutdown.child_token(),
    );

    let protected = Router::new()
        .nest_service("/mcp", mcp_service)
        .nest("/api/tools", api::tools::router(tools))
        .nest(
            "/api/devices",
            toolhost_devices::router::<RegistryCaller>(repo.clone())
                .merge(api::host_keys::router(repo, host_keys, pool))
                .layer(middleware::from_fn(registry_caller)),
        )
        .layer(middleware::from_fn_with_state(
            auth_state,
            toolhost_auth::require_bearer,
        ));
    let app = Router::new()
        .merge(api::health::router(api::health::HealthState {
            db: db.clone(),
            runtime: runtime.clone(),
            plugins_scanned: scanned,
        }))
        .merge(toolhost_auth::metadata_routes(
            toolhost_auth::metadata_document(&resource, &config.auth.authorization_servers),
        ))
        .merge(protected);

    on_started(Started { url: base });
    // Nagle plus delayed ACK would add ~40 ms to every streamed response.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let stop = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("serving HTTP")?;
    if let Some(w) = watcher {
        w.abort();
    }
    db.close().await;
    Ok(())
}
