//! `toolhost plugin inspect FILE`: load a component exactly as the server
//! would (compile, link, describe, validate, resolve grants) and print it.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use toolhost_runtime::caps::devices::{
    BoxFuture, Device, DeviceDirectory, DeviceFilter, DevicePage, DirectoryError,
};
use toolhost_runtime::caps::ssh::NoRemoteExec;
use toolhost_runtime::{HostCapabilities, Runtime, RuntimeConfig};

use crate::config::Config;
use crate::tools::required_scope;

/// Inspection never reads the registry.
struct NoDevices;

impl DeviceDirectory for NoDevices {
    fn list(&self, _: DeviceFilter) -> BoxFuture<'_, Result<DevicePage, DirectoryError>> {
        Box::pin(async { Err(DirectoryError::Unavailable("not serving".into())) })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Device>, DirectoryError>> {
        Box::pin(async { Err(DirectoryError::Unavailable("not serving".into())) })
    }
}

pub async fn run(config: &Config, file: &Path, as_json: bool) -> anyhow::Result<()> {
    let runtime = Runtime::new(
        RuntimeConfig {
            limits: config.limits.clone(),
            cache_dir: None,
            grants: config.grants.clone(),
        },
        HostCapabilities {
            devices: Arc::new(NoDevices),
            ssh: Arc::new(NoRemoteExec),
        },
    )?;
    let (plugin, stats) = runtime.load_file(file).await?;
    let m = &plugin.manifest;
    if as_json {
        let tools: Vec<_> = m
            .tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "title": t.title,
                    "description": t.description,
                    "annotations": t.annotations,
                    "requiredScope": required_scope(t).to_string(),
                    "inputSchema": &*t.input_schema,
                    "outputSchema": t.output_schema.as_deref(),
                })
            })
            .collect();
        let doc = json!({
            "name": m.name,
            "version": m.version,
            "description": m.description,
            "digest": plugin.digest,
            "capabilities": m.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "imports": plugin.imports,
            "tools": tools,
            "resources": m.extras.resources,
            "resourceTemplates": m.extras.resource_templates,
            "prompts": m.extras.prompts,
            "collectors": m.extras.collectors,
            "compileMs": stats.compile_or_deserialize.as_millis() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("{} {} — {}", m.name, m.version, m.description);
    println!("  sha256: {}", plugin.digest);
    let caps: Vec<String> = m.capabilities.iter().map(ToString::to_string).collect();
    println!(
        "  capabilities: {}",
        if caps.is_empty() {
            "none".into()
        } else {
            caps.join(", ")
        }
    );
    println!("  imports: {}", plugin.imports.join(", "));
    println!("  tools ({}):", m.tools.len());
    for t in &m.tools {
        let a = t.annotations;
        let mut flags = Vec::new();
        if a.read_only {
            flags.push("read-only");
        }
        if a.destructive {
            flags.push("destructive");
        }
        if a.idempotent {
            flags.push("idempotent");
        }
        println!(
            "    {:<24} [{}; needs {}] {}",
            t.name,
            flags.join(", "),
            required_scope(t),
            t.description
        );
    }
    Ok(())
}
