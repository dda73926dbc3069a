//! The plugins directory: the startup scan and the watcher that adds,
//! replaces and removes plugins while the server runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use toolhost_runtime::{Installed, Runtime};

/// Quiet time after the last event on a file before it is (re)loaded, so a
/// file being copied in is read once it is complete.
pub const DEBOUNCE: Duration = Duration::from_millis(25);

fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
}

/// Loads every plugin file in `dir` (in parallel) and registers the good
/// ones. Returns how many were registered.
pub async fn scan(runtime: &Arc<Runtime>, dir: &Path) -> anyhow::Result<usize> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating plugins directory {}", dir.display()))?;
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .with_context(|| format!("reading plugins directory {}", dir.display()))?;
    let mut files = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        if is_plugin_file(&path) {
            files.push(path);
        }
    }
    files.sort();
    let loads = files.into_iter().map(|path| {
        let runtime = runtime.clone();
        async move { reload(&runtime, &path).await }
    });
    let results = futures::future::join_all(loads).await;
    Ok(results.into_iter().filter(|ok| *ok).count())
}

/// Brings the registry in line with `path`: loads and installs it if it
/// exists, unregisters it if not. A bad file leaves the previous version
/// serving. Returns whether the file is now registered.
pub async fn reload(runtime: &Runtime, path: &Path) -> bool {
    if !path.exists() {
        if let Some(old) = runtime.registry().remove_file(path) {
            tracing::info!(plugin = old.name(), file = %path.display(), "plugin removed");
        }
        return false;
    }
    match runtime.load_file(path).await {
        Ok((plugin, stats)) => {
            let name = plugin.name().to_owned();
            let version = plugin.manifest.version.clone();
            let tools = plugin.manifest.tools.len();
            match runtime.registry().install(Arc::new(plugin)) {
                Ok(Installed::Added) => {
                    tracing::info!(plugin = %name, %version, tools, cache = ?stats.cache,
                        load_ms = stats.total.as_millis() as u64, "plugin loaded");
                    true
                }
                Ok(Installed::Replaced { previous_version }) => {
                    tracing::info!(plugin = %name, %version, %previous_version, tools,
                        cache = ?stats.cache, load_ms = stats.total.as_millis() as u64,
                        "plugin replaced");
                    true
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "plugin rejected");
                    false
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "plugin rejected");
            false
        }
    }
}

/// Watches `dir` until `shutdown`, reloading each changed plugin file after
/// [`DEBOUNCE`] of quiet. Reloads run one at a time.
pub fn watch(
    runtime: Arc<Runtime>,
    dir: PathBuf,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            // Our own reads of a plugin file raise access events; only
            // content and name changes matter.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => {}
            Ok(event) => {
                for path in event.paths {
                    if is_plugin_file(&path) {
                        let _ = tx.send(path);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
        }
    })
    .context("creating the plugin directory watcher")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;

    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
        loop {
            let next = pending.values().min().copied();
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = rx.recv() => match got {
                    Some(path) => { pending.insert(path, Instant::now() + DEBOUNCE); }
                    None => return,
                },
                () = async {
                    match next {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    let due: Vec<PathBuf> = pending
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(p, _)| p.clone())
                        .collect();
                    for path in due {
                        pending.remove(&path);
                        reload(&runtime, &path).await;
                    }
                }
            }
        }
    }))
}
