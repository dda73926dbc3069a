//! On-disk cache of compiled components, keyed by the component's content
//! hash and the engine's compatibility hash, so a restart never recompiles
//! and compilation never runs on a request path.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled artifacts live and which engine they are for.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_tag: String,
}

/// Whether a load compiled or reused an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl ComponentCache {
    /// A cache in `dir` (created on first write); `None` disables caching.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> ComponentCache {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ComponentCache {
            dir,
            engine_tag: format!("{:016x}", h.finish()),
        }
    }

    fn artifact_path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_tag)))
    }

    /// Returns the compiled component for `bytes` (whose SHA-256 is
    /// `digest`), compiling and storing it on a miss. Blocking; call it off
    /// the async executor.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        if let Some(path) = self.artifact_path(digest) {
            if path.exists() {
                // SAFETY: the file was written by `store` below from
                // `Component::serialize` of this engine configuration (the
                // name carries the engine's compatibility hash) in a
                // directory only the host writes; wasmtime still checks the
                // header and rejects a mismatched artifact with an error.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(c) => return Ok((c, CacheOutcome::Hit)),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "discarding unusable cached artifact"
                    ),
                }
            }
            let component = Component::new(engine, bytes)?;
            if let Err(e) = store(&path, &component) {
                tracing::warn!(path = %path.display(), error = %e, "could not cache compiled component");
            }
            return Ok((component, CacheOutcome::Compiled));
        }
        Ok((Component::new(engine, bytes)?, CacheOutcome::Compiled))
    }
}

/// Writes atomically: a reader never sees a half-written artifact.
fn store(path: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = path.parent().context("artifact path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
