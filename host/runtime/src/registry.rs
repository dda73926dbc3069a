//! The live set of plugins and their tools. Readers take a snapshot with no
//! lock; writers build a new snapshot and swap it in, so a call in flight
//! keeps the plugin version it started with.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::plugin::LoadedPlugin;

/// An immutable view of the registry.
#[derive(Debug, Default)]
pub struct Catalog {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    tools: HashMap<String, Arc<LoadedPlugin>>,
    files: HashMap<PathBuf, String>,
    /// Bumped on every change; lets callers cache derived views.
    pub generation: u64,
}

impl Catalog {
    /// The plugin that serves `tool`.
    pub fn lookup(&self, tool: &str) -> Option<&Arc<LoadedPlugin>> {
        self.tools.get(tool)
    }

    /// Plugins in name order.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.plugins.values()
    }

    pub fn plugin(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(name)
    }

    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}

/// Why a plugin could not be registered; the previous state keeps serving.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RegistryError {
    #[error("plugin {name:?} is already loaded from {existing}")]
    DuplicatePlugin { name: String, existing: String },
    #[error("tool names already served by other plugins: {}", .collisions.iter().map(|(t, p)| format!("{t:?} (by {p})")).collect::<Vec<_>>().join(", "))]
    ToolCollision { collisions: Vec<(String, String)> },
}

/// What a successful install changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Added,
    Replaced { previous_version: String },
}

/// The registry: a swappable catalog plus a change signal.
pub struct Registry {
    current: ArcSwap<Catalog>,
    changes: watch::Sender<u64>,
    writer: Mutex<()>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: ArcSwap::from_pointee(Catalog::default()),
            changes: watch::channel(0).0,
            writer: Mutex::new(()),
        }
    }
}

impl Registry {
    /// The current catalog.
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// Resolves a tool to the plugin serving it now.
    pub fn lookup(&self, tool: &str) -> Option<Arc<LoadedPlugin>> {
        self.current.load().lookup(tool).cloned()
    }

    /// Fires (with the new generation) after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Registers `plugin` as what its file provides, replacing whatever that
    /// file provided before.
    pub fn install(&self, plugin: Arc<LoadedPlugin>) -> Result<Installed, RegistryError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current.load_full();
        let name = plugin.name().to_owned();
        let previous_name = old.files.get(&plugin.path).cloned();

        if let Some(existing) = old.plugins.get(&name)
            && existing.path != plugin.path
        {
            return Err(RegistryError::DuplicatePlugin {
                name,
                existing: existing.path.display().to_string(),
            });
        }
        let replaced = |owner: &str| Some(owner) == previous_name.as_deref() || owner == name;
        let collisions: Vec<(String, String)> = plugin
            .manifest
            .tools
            .iter()
            .filter_map(|t| {
                let owner = old.tools.get(&t.name)?.name();
                (!replaced(owner)).then(|| (t.name.clone(), owner.to_owned()))
            })
            .collect();
        if !collisions.is_empty() {
            return Err(RegistryError::ToolCollision { collisions });
        }

        let mut next = clone_without(&old, previous_name.as_deref());
        let previous_version = old.plugins.get(&name).map(|p| p.manifest.version.clone());
        for t in &plugin.manifest.tools {
            next.tools.insert(t.name.clone(), plugin.clone());
        }
        next.files.insert(plugin.path.clone(), name.clone());
        next.plugins.insert(name, plugin);
        self.publish(&old, next);
        Ok(match previous_version {
            Some(previous_version) => Installed::Replaced { previous_version },
            None => Installed::Added,
        })
    }

    /// Unregisters whatever `path` provided; returns it.
    pub fn remove_file(&self, path: &Path) -> Option<Arc<LoadedPlugin>> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current.load_full();
        let name = old.files.get(path)?.clone();
        let removed = old.plugins.get(&name).cloned();
        let next = clone_without(&old, Some(&name));
        self.publish(&old, next);
        removed
    }

    fn publish(&self, old: &Catalog, mut next: Catalog) {
        next.generation = old.generation + 1;
        let generation = next.generation;
        self.current.store(Arc::new(next));
        self.changes.send_replace(generation);
    }
}

/// A copy of `catalog` without plugin `name` (if given).
fn clone_without(catalog: &Catalog, name: Option<&str>) -> Catalog {
    let keep = |p: &str| Some(p) != name;
    Catalog {
        plugins: catalog
            .plugins
            .iter()
            .filter(|(n, _)| keep(n))
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect(),
        tools: catalog
            .tools
            .iter()
            .filter(|(_, p)| keep(p.name()))
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect(),
        files: catalog
            .files
            .iter()
            .filter(|(_, n)| keep(n))
            .map(|(f, n)| (f.clone(), n.clone()))
            .collect(),
        generation: catalog.generation,
    }
}
