//! `toolhost`: the MCP tool host binary.
//!
//! Map: [`cli`] parses commands, [`config`] layers settings, [`app`] is the
//! composition root that wires auth, database, device registry, plugin
//! runtime, MCP ([`mcp`]) and REST ([`api`]) together; [`plugins`] scans and
//! watches the plugins directory; [`tools`] authorizes and runs tool calls.

mod api;
mod app;
mod cli;
mod config;
mod devices_cli;
mod inspect;
mod mcp;
mod plugins;
mod remote;
mod telemetry;
mod tools;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use tokio_util::sync::CancellationToken;
use toolhost_auth::{KeyOrigin, Keys, MintRequest};

use crate::cli::{Cli, Command, PluginCommand};
use crate::config::{Config, Overrides};

/// Every call allocates a store, JSON documents and HTTP buffers on many
/// threads; mimalloc's thread-local heaps do that markedly cheaper than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lifetime of the admin token printed on first start.
const FIRST_START_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Token(args) => {
            let config = Config::load(
                args.common.config.as_deref(),
                Overrides {
                    data_dir: args.common.data_dir.clone(),
                    ..Default::default()
                },
            )?;
            let (keys, _) = Keys::load(&config.auth, &config.data_dir)?;
            let scopes = args
                .scopes
                .iter()
                .flat_map(|s| s.split([' ', ',']))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let token = toolhost_auth::mint(
                &keys,
                MintRequest {
                    subject: args.sub,
                    scopes,
                    ttl: Duration::from_secs(args.ttl_secs),
                    audience: config.auth.audience.clone(),
                    issuer: config.auth.issuer.clone(),
                },
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Device { common, command } => {
            let config = Config::load(
                common.config.as_deref(),
                Overrides {
                    data_dir: common.data_dir,
                    ..Default::default()
                },
            )?;
            devices_cli::run(&config, command).await
        }
        Command::Plugin(PluginCommand::Inspect { file, json, common }) => {
            let config = Config::load(
                common.config.as_deref(),
                Overrides {
                    data_dir: common.data_dir,
                    ..Default::default()
                },
            )?;
            inspect::run(&config, &file, json).await
        }
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn wait_for_stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

async fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.common.config.as_deref(), args.overrides())?;
    telemetry::init(config.log_format);
    let (keys, origin) = Keys::load(&config.auth, &config.data_dir)?;
    let first_token = match &origin {
        KeyOrigin::Generated(_) => Some(toolhost_auth::mint(
            &keys,
            MintRequest {
                subject: "admin".into(),
                scopes: vec!["admin".into()],
                ttl: FIRST_START_TOKEN_TTL,
                audience: config.auth.audience.clone(),
                issuer: config.auth.issuer.clone(),
            },
        )?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        });
    }
    let data_dir = config.data_dir.clone();
    app::run(config, listener, shutdown, move |started| {
        println!(
            "toolhost {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            started.url
        );
        println!("  MCP endpoint (streamable HTTP): {}/mcp", started.url);
        println!(
            "  REST: {}/api/tools, {}/api/devices",
            started.url, started.url
        );
        match first_token {
            Some(token) => {
                println!(
                    "  New signing secret in {}; admin token (30 days):",
                    data_dir.join("jwt-secret").display()
                );
                println!("  {token}");
            }
            None => println!(
                "  Mint a token: toolhost token --sub you --scope \"read write\" --data-dir {}",
                data_dir.display()
            ),
        }
        println!("  Send it as:    Authorization: Bearer <token>");
    })
    .await
}
