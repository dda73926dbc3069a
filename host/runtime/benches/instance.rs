//! Per-call instance overhead: fresh store + instantiate + `call` of the
//! trivial `echo` tool through [`Runtime::invoke`] (argument validation
//! included), measured sequentially on one task.
//!
//! Needs `dist/fixtures/echo.wasm` (`plugins/build.sh`). Run with
//! `cargo bench -p toolhost-runtime --bench instance`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use toolhost_runtime::caps::devices::{
    BoxFuture, Device, DeviceDirectory, DeviceFilter, DevicePage, DirectoryError,
};
use toolhost_runtime::caps::ssh::NoRemoteExec;
use toolhost_runtime::{CallContext, HostCapabilities, Runtime, RuntimeConfig};

/// Calls measured after warm-up.
const CALLS: usize = 20_000;
const WARMUP: usize = 2_000;

struct NoDevices;

impl DeviceDirectory for NoDevices {
    fn list(&self, _: DeviceFilter) -> BoxFuture<'_, Result<DevicePage, DirectoryError>> {
        Box::pin(async { Ok(DevicePage::default()) })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Device>, DirectoryError>> {
        Box::pin(async { Ok(None) })
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let file = root.join("dist/fixtures/echo.wasm");
        anyhow::ensure!(file.exists(), "{} missing: run plugins/build.sh", file.display());
        let runtime = Runtime::new(
            RuntimeConfig::default(),
            HostCapabilities {
                devices: Arc::new(NoDevices),
                ssh: Arc::new(NoRemoteExec),
            },
        )?;
        let started = Instant::now();
        let (plugin, _) = runtime.load_file(&file).await?;
        let compile = started.elapsed();
        let plugin = Arc::new(plugin);
        let args = serde_json::json!({"text": "hello"});
        let mut samples = Vec::with_capacity(CALLS);
        for i in 0..WARMUP + CALLS {
            let t = Instant::now();
            let out = runtime
                .invoke(&plugin, "echo", &args, CallContext::default())
                .await?;
            let dt = t.elapsed();
            if i == 0 {
                anyhow::ensure!(!out.content.is_empty(), "echo returned nothing");
            }
            if i >= WARMUP {
                samples.push(dt);
            }
        }
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!("component compile (no cache): {:.1} ms", compile.as_secs_f64() * 1e3);
        println!(
            "per-call invoke (store + instantiate + call), n={CALLS}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, mean {:.1} µs",
            percentile(&samples, 0.50).as_secs_f64() * 1e6,
            percentile(&samples, 0.90).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6,
        );
        Ok(())
    })
}
