//! [`Runtime`]: the engine, the linker with every provided capability, the
//! component cache, the registry and the call path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{self, PluginPre};
use crate::cache::{CacheOutcome, ComponentCache, digest};
use crate::call::{
    CallContext, CallError, CallState, Caller, Limit, ToolOutput, classify_trap, configure_store,
    convert_output, convert_tool_error,
};
use crate::caps::devices::DeviceDirectory;
use crate::caps::ssh::RemoteExec;
use crate::engine::{EpochTicker, build_engine};
use crate::grant::{Grant, GrantPolicy};
use crate::limits::{Limits, MAX_COMPONENT_BYTES};
use crate::plugin::{LoadedPlugin, build_manifest};
use crate::registry::Registry;

/// The capability interfaces this host links, by WIT interface name.
const PROVIDED_INTERFACES: &[&str] = &["types", "tools", "context", "devices", "ssh"];
/// Interfaces declared in the WIT package but not provided yet, with the
/// issue that will provide them.
const DECLARED_NOT_PROVIDED: &[&str] = &["store", "metrics"];

/// The backends of the capabilities the runtime provides to plugins.
#[derive(Clone)]
pub struct HostCapabilities {
    pub devices: Arc<dyn DeviceDirectory>,
    pub ssh: Arc<dyn RemoteExec>,
}

/// Host-wide runtime configuration.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub limits: Limits,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub grants: GrantPolicy,
}

/// Why a plugin file could not be loaded. The previous state keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is {size} bytes; components larger than {MAX_COMPONENT_BYTES} bytes are refused"
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error("{path} was refused: {}", .problems.join("; "))]
    Refused {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{path}: describe() failed: {source}")]
    Describe { path: PathBuf, source: CallError },
    #[error("{path}: {source:#}")]
    Host {
        path: PathBuf,
        source: anyhow::Error,
    },
}

/// Timing and cache facts about one load, for logs and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct LoadStats {
    pub cache: CacheOutcome,
    pub compile_or_deserialize: std::time::Duration,
    pub total: std::time::Duration,
}

/// The plugin runtime. Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: ComponentCache,
    config: RuntimeConfig,
    caps: HostCapabilities,
    registry: Registry,
    slots: Semaphore,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Builds the engine, links the provided capabilities and starts the
    /// epoch ticker.
    pub fn new(config: RuntimeConfig, caps: HostCapabilities) -> anyhow::Result<Runtime> {
        if let Err(errors) = config.grants.validate() {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::bail!("invalid grants: {}", list.join("; "));
        }
        let engine = build_engine(&config.limits)?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        bindings::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)
            .context("linking types")?;
        bindings::context::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| &mut s.context)
            .map_err(anyhow::Error::from)
            .context("linking context")?;
        bindings::devices::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| &mut s.devices)
            .map_err(anyhow::Error::from)
            .context("linking devices")?;
        bindings::ssh::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| &mut s.ssh)
            .map_err(anyhow::Error::from)
            .context("linking ssh")?;
        let cache = ComponentCache::new(&engine, config.cache_dir.clone());
        let ticker = EpochTicker::start(&engine)?;
        Ok(Runtime {
            slots: Semaphore::new(config.limits.max_concurrent_instances as usize),
            engine,
            linker,
            cache,
            config,
            caps,
            registry: Registry::default(),
            _ticker: ticker,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Compiles (or fetches from cache), links, describes and validates a
    /// component file. Does not register it.
    pub async fn load_file(&self, path: &Path) -> Result<(LoadedPlugin, LoadStats), LoadError> {
        let started = Instant::now();
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        let size = tokio::fs::metadata(path).await.map_err(io)?.len();
        if size > MAX_COMPONENT_BYTES {
            return Err(LoadError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let bytes = tokio::fs::read(path).await.map_err(io)?;
        let digest = digest(&bytes);

        let compile_started = Instant::now();
        let (engine, cache, d) = (self.engine.clone(), self.cache.clone(), digest.clone());
        let (component, outcome) =
            tokio::task::spawn_blocking(move || cache.load(&engine, &bytes, &d))
                .await
                .map_err(|e| LoadError::Host {
                    path: path.to_owned(),
                    source: e.into(),
                })?
                .map_err(|e| LoadError::NotAComponent {
                    path: path.to_owned(),
                    reason: format!("{e:#}"),
                })?;
        let compile_or_deserialize = compile_started.elapsed();

        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let problems = import_problems(&imports);
        if !problems.is_empty() {
            return Err(LoadError::Refused {
                path: path.to_owned(),
                problems,
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| LoadError::Refused {
                path: path.to_owned(),
                problems: vec![format!("does not fit the toolhost:plugin world: {e:#}")],
            })?;

        let info = self
            .describe(&pre, path)
            .await
            .map_err(|source| LoadError::Describe {
                path: path.to_owned(),
                source,
            })?;
        let manifest = build_manifest(info).map_err(|problems| LoadError::Refused {
            path: path.to_owned(),
            problems,
        })?;
        let grant = self
            .config
            .grants
            .resolve(&manifest.name, &manifest.capabilities)
            .map_err(|problems| LoadError::Refused {
                path: path.to_owned(),
                problems,
            })?;
        Ok((
            LoadedPlugin {
                manifest,
                grant,
                path: path.to_owned(),
                digest,
                imports,
                pre,
            },
            LoadStats {
                cache: outcome,
                compile_or_deserialize,
                total: started.elapsed(),
            },
        ))
    }

    async fn describe(
        &self,
        pre: &PluginPre<CallState>,
        path: &Path,
    ) -> Result<bindings::types::PluginInfo, CallError> {
        let plugin: Arc<str> = path.display().to_string().into();
        let ctx = CallContext {
            caller: Caller {
                subject: "toolhost-loader".into(),
                scopes: vec![],
            },
            plugin: plugin.clone(),
            ..Default::default()
        };
        self.run(pre, ctx, &Grant::default(), |store, instance| {
            Box::pin(async move { instance.toolhost_plugin_tools().call_describe(store).await })
        })
        .await
    }

    /// Runs `tool` of `plugin` with `args` as `ctx.caller`: validates the
    /// arguments, then a fresh store and instance run the call under the
    /// CPU, wall-clock, memory and output limits.
    pub async fn invoke(
        &self,
        plugin: &Arc<LoadedPlugin>,
        tool: &str,
        args: &serde_json::Value,
        mut ctx: CallContext,
    ) -> Result<ToolOutput, CallError> {
        let spec = plugin
            .tool(tool)
            .ok_or_else(|| CallError::UnknownTool(tool.to_owned()))?;
        let args_json = serde_json::to_string(args).map_err(|e| CallError::Host(e.into()))?;
        if args_json.len() > self.config.limits.max_args_bytes {
            return Err(CallError::Limit {
                plugin: plugin.name().into(),
                limit: Limit::ArgumentSize,
                detail: format!(
                    "{} bytes of arguments, at most {} allowed",
                    args_json.len(),
                    self.config.limits.max_args_bytes
                ),
            });
        }
        spec.validate_args(args)
            .map_err(CallError::InvalidArguments)?;
        ctx.plugin = plugin.name().into();
        let name: Arc<str> = ctx.plugin.clone();
        let tool = tool.to_owned();
        let out = self
            .run(&plugin.pre, ctx, &plugin.grant, move |store, instance| {
                Box::pin(async move {
                    instance
                        .toolhost_plugin_tools()
                        .call_call(store, &tool, &args_json)
                        .await
                })
            })
            .await?;
        match out {
            Ok(out) => convert_output(out, &name, &self.config.limits),
            Err(e) => Err(convert_tool_error(e)),
        }
    }

    /// The common path: slot, store, instance, deadline, classification.
    async fn run<R: Send>(
        &self,
        pre: &PluginPre<CallState>,
        ctx: CallContext,
        grant: &Grant,
        f: impl for<'a> FnOnce(
            &'a mut Store<CallState>,
            bindings::Plugin,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>,
        > + Send,
    ) -> Result<R, CallError> {
        let plugin = ctx.plugin.clone();
        let limits = &self.config.limits;
        // The wall-clock budget covers waiting for an instance slot too.
        let deadline = tokio::time::Instant::now() + limits.wall_time();
        let _slot = match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(e)) => return Err(CallError::Host(e.into())),
            Err(_) => {
                return Err(CallError::Limit {
                    plugin,
                    limit: Limit::WallTime,
                    detail: format!("{} ms waiting for a free instance slot", limits.wall_ms),
                });
            }
        };
        let cancel = ctx.cancel.clone();
        let mut store = Store::new(
            &self.engine,
            CallState::new(ctx, grant, &self.caps, limits, deadline),
        );
        configure_store(&mut store);
        let result = {
            let store = &mut store;
            let work = async move {
                let instance = pre.instantiate_async(&mut *store).await?;
                f(store, instance).await
            };
            tokio::select! {
                r = tokio::time::timeout_at(deadline, work) => Some(r),
                () = cancel.cancelled() => None,
            }
        };
        match result {
            None => Err(CallError::Cancelled),
            Some(Err(_elapsed)) => Err(CallError::Limit {
                plugin,
                limit: Limit::WallTime,
                detail: format!("{} ms", limits.wall_ms),
            }),
            Some(Ok(Err(trap))) => {
                let err = classify_trap(trap, store.data(), &plugin, limits);
                tracing::info!(plugin = &*plugin, error = %err, "plugin call failed");
                Err(err)
            }
            Some(Ok(Ok(r))) => Ok(r),
        }
    }
}

/// Every import the host cannot satisfy, explained.
fn import_problems(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter_map(|name| {
            if name.starts_with("wasi:") {
                return None;
            }
            let Some(rest) = name.strip_prefix("toolhost:plugin/") else {
                return Some(format!("imports {name}, which this host does not provide"));
            };
            let iface = rest.split('@').next().unwrap_or(rest);
            if PROVIDED_INTERFACES.contains(&iface) {
                None
            } else if DECLARED_NOT_PROVIDED.contains(&iface) {
                Some(format!(
                    "imports {name}: the `{iface}` capability is declared in the WIT package \
                     but not provided by this host version"
                ))
            } else {
                Some(format!(
                    "imports {name}, which is not part of the toolhost:plugin package"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_every_unprovided_import() {
        let imports = vec![
            "wasi:cli/environment@0.2.6".to_owned(),
            "toolhost:plugin/context@0.1.0".to_owned(),
            "toolhost:plugin/ssh@0.1.0".to_owned(),
            "toolhost:plugin/store@0.1.0".to_owned(),
            "toolhost:plugin/metrics@0.1.0".to_owned(),
            "acme:evil/net".to_owned(),
        ];
        let problems = import_problems(&imports);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("`store` capability"));
        assert!(problems[1].contains("`metrics` capability"));
        assert!(problems[2].contains("acme:evil/net"));
    }
}
