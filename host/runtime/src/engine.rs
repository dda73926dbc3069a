//! The wasmtime engine: configuration, the pooling allocator and the epoch
//! ticker that drives CPU deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use anyhow::Context as _;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::{
    ASYNC_STACK_BYTES, EPOCH_TICK, Limits, MAX_CORE_INSTANCES_PER_COMPONENT,
    MAX_MEMORIES_PER_COMPONENT, MAX_TABLE_ELEMENTS, MAX_TABLES_PER_COMPONENT, MAX_WASM_STACK_BYTES,
};

/// Linear memory and table bytes a pooled slot keeps resident between
/// instances when the kernel has `PAGEMAP_SCAN` (Linux 6.7+): only the pages
/// a call dirtied are reset, by copy, instead of `madvise` plus a page fault
/// per touched page on the next call. That pair was ~23% of the server's CPU
/// per tools/call (bench/README.md). Bounds the RSS a slot keeps.
const KEEP_RESIDENT_WITH_PAGEMAP: usize = 2 << 20;

/// Without `PAGEMAP_SCAN`, keeping memory resident means a `memset` of the
/// whole resident size on every reset, which costs more than it saves.
const KEEP_RESIDENT_WITHOUT_PAGEMAP: usize = 0;

/// Builds the engine every plugin runs in. Configuration is part of the
/// compiled-artifact cache key, so changing it invalidates the cache.
pub fn build_engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let (pagemap, keep_resident) = if PoolingAllocationConfig::is_pagemap_scan_available() {
        (Enabled::Yes, KEEP_RESIDENT_WITH_PAGEMAP)
    } else {
        (Enabled::No, KEEP_RESIDENT_WITHOUT_PAGEMAP)
    };
    let slots = limits.max_concurrent_instances;
    pool.total_component_instances(slots)
        .total_core_instances(slots * MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MAX_MEMORIES_PER_COMPONENT)
        .total_tables(slots * MAX_TABLES_PER_COMPONENT)
        .total_stacks(slots)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(limits.max_memory_bytes)
        .pagemap_scan(pagemap)
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK_BYTES)
        .async_stack_size(ASYNC_STACK_BYTES)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("configuring the wasm engine")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while alive. Each running
/// call counts the ticks it spends in wasm against its CPU budget.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> anyhow::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        thread::Builder::new()
            .name("toolhost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .context("starting the epoch ticker thread")?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
