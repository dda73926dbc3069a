//! Every limit a guest can grow into, named and documented in one place.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the epoch ticker advances; the granularity of the CPU deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Default CPU budget of one call (counted in epoch ticks spent running wasm).
pub const DEFAULT_CPU_TIME: Duration = Duration::from_secs(5);
/// Default wall-clock budget of one call, including time in host functions.
pub const DEFAULT_WALL_TIME: Duration = Duration::from_secs(30);
/// Default cap on each linear memory of an instance (a component may have
/// up to [`MAX_MEMORIES_PER_COMPONENT`]).
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 64 << 20;
/// Default cap on a tool result (text, media and structured JSON together).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 4 << 20;
/// Default cap on the size of a call's JSON arguments.
pub const DEFAULT_MAX_ARGS_BYTES: usize = 1 << 20;
/// Instances that may exist at once; calls beyond it wait for a slot.
pub const DEFAULT_MAX_CONCURRENT_INSTANCES: u32 = 256;
/// Guest stack for wasm frames; deep recursion traps past it.
pub const MAX_WASM_STACK_BYTES: usize = 1 << 20;
/// Host stack of the fiber a call runs on; must exceed the wasm stack.
pub const ASYNC_STACK_BYTES: usize = 2 << 20;
/// Table elements per table (function references of a component).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Core module instances per component (Rust/C guests use a handful; a
/// componentize-py component about a dozen).
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 50;
/// Linear memories per component.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 10;
/// Tables per component.
pub const MAX_TABLES_PER_COMPONENT: u32 = 20;
/// Bytes of guest stderr kept per call (shown in crash reports and logs).
pub const MAX_STDERR_BYTES: usize = 16 << 10;
/// Log messages a call may send; later ones are dropped.
pub const MAX_LOG_MESSAGES_PER_CALL: u32 = 100;
/// Progress notifications a call may send; later ones are dropped.
pub const MAX_PROGRESS_PER_CALL: u32 = 1_000;
/// Longest log or progress message forwarded; longer ones are cut.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 4 << 10;
/// Events buffered between a running call and the client; more are dropped.
pub const MAX_PENDING_EVENTS: usize = 256;
/// Largest component file the loader accepts.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;
/// Tools one plugin may declare.
pub const MAX_TOOLS_PER_PLUGIN: usize = 256;
/// Largest JSON Schema text accepted for one tool.
pub const MAX_SCHEMA_BYTES: usize = 64 << 10;

/// Per-call limits, configurable by the operator within the engine's caps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU budget per call, in milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock budget per call, in milliseconds.
    pub wall_ms: u64,
    /// Linear memory cap per instance, in bytes.
    pub max_memory_bytes: usize,
    /// Result size cap, in bytes.
    pub max_output_bytes: usize,
    /// Argument size cap, in bytes.
    pub max_args_bytes: usize,
    /// Instances alive at once (sizes the pooling allocator).
    pub max_concurrent_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: DEFAULT_CPU_TIME.as_millis() as u64,
            wall_ms: DEFAULT_WALL_TIME.as_millis() as u64,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_args_bytes: DEFAULT_MAX_ARGS_BYTES,
            max_concurrent_instances: DEFAULT_MAX_CONCURRENT_INSTANCES,
        }
    }
}

impl Limits {
    pub fn wall_time(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }

    /// The CPU budget expressed in epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        (self.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1)
    }
}
