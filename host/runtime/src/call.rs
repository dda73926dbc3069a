//! One tool call: a fresh store and instance, limits, and the outcome.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::types;
use crate::caps::context::ContextCtx;
use crate::caps::devices::DevicesCtx;
use crate::caps::ssh::SshCtx;
use crate::grant::Grant;
use crate::limits::{Limits, MAX_PENDING_EVENTS, MAX_STDERR_BYTES};
use crate::runtime::HostCapabilities;

/// Who is calling; plugins see it through `context.caller`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub scopes: Vec<String>,
}

/// Severity of a plugin log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// Something a running call reports before it returns.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Log {
        level: LogLevel,
        message: String,
    },
    Progress {
        done: f64,
        total: Option<f64>,
        message: Option<String>,
    },
}

/// The receiving end of a call's events; the embedder drains it while the
/// call runs and forwards events to the client.
pub type EventReceiver = mpsc::Receiver<CallEvent>;

/// A bounded channel for call events.
pub fn event_channel() -> (mpsc::Sender<CallEvent>, EventReceiver) {
    mpsc::channel(MAX_PENDING_EVENTS)
}

/// Everything about one call that does not come from the plugin.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub caller: Caller,
    /// Where `context.log` / `context.progress` go; `None` drops them.
    pub events: Option<mpsc::Sender<CallEvent>>,
    /// Cancelled when the client gives up on the call.
    pub cancel: CancellationToken,
    /// Name of the plugin, for host-side logs.
    pub plugin: Arc<str>,
}

/// A successful tool result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub content: Vec<Content>,
    /// Structured result, already parsed as JSON.
    pub structured: Option<serde_json::Value>,
}

/// A piece of tool output.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    Image { mime_type: String, data: Vec<u8> },
    Audio { mime_type: String, data: Vec<u8> },
}

/// What a guest-reported failure was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolErrorKind {
    InvalidInput,
    NotFound,
    Denied,
    Unavailable,
    Failed,
}

/// Which limit a call ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    CpuTime,
    WallTime,
    Memory,
    Stack,
    OutputSize,
    ArgumentSize,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::CpuTime => "CPU time limit",
            Limit::WallTime => "wall-clock time limit",
            Limit::Memory => "memory limit",
            Limit::Stack => "stack limit",
            Limit::OutputSize => "output size limit",
            Limit::ArgumentSize => "argument size limit",
        })
    }
}

/// Why a call did not produce a result. Every variant but `Host` is the
/// plugin's doing and is shown to the client as a failed tool result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin returned a `tool-error`.
    #[error("{message}")]
    Tool {
        kind: ToolErrorKind,
        message: String,
    },
    /// The call exceeded a limit and was stopped.
    #[error("plugin {plugin} exceeded its {limit} ({detail})")]
    Limit {
        plugin: Arc<str>,
        limit: Limit,
        detail: String,
    },
    /// The plugin panicked or trapped.
    #[error("plugin {plugin} crashed: {reason}")]
    Crashed { plugin: Arc<str>, reason: String },
    /// The plugin broke the contract (bad JSON in `structured`, …).
    #[error("plugin {plugin} returned an invalid result: {reason}")]
    InvalidOutput { plugin: Arc<str>, reason: String },
    /// No loaded plugin serves this tool.
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// The arguments do not match the tool's input schema.
    #[error("invalid arguments: {}", .0.join("; "))]
    InvalidArguments(Vec<String>),
    /// The client cancelled the call.
    #[error("call cancelled")]
    Cancelled,
    /// A host fault; details are logged, not shown.
    #[error("internal error")]
    Host(#[source] anyhow::Error),
}

/// Marker error the epoch callback raises when the CPU budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("CPU budget exhausted")]
struct CpuBudgetExhausted;

/// Wraps [`StoreLimits`] to remember that the memory cap, not the guest,
/// caused a failed growth.
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub(crate) memory_denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        if !ok {
            self.memory_denied = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

/// The data of one call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) context: ContextCtx,
    pub(crate) devices: DevicesCtx,
    pub(crate) ssh: SshCtx,
    stderr: MemoryOutputPipe,
    cpu_ticks_left: u64,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::types::Host for CallState {}

impl CallState {
    /// A deny-everything WASI context: no preopens, no environment, no
    /// network, no stdin; stdout discarded, stderr captured (bounded).
    pub(crate) fn new(
        ctx: CallContext,
        grant: &Grant,
        caps: &HostCapabilities,
        limits: &Limits,
        deadline: tokio::time::Instant,
    ) -> CallState {
        let stderr = MemoryOutputPipe::new(MAX_STDERR_BYTES);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(limits.max_memory_bytes)
                    .build(),
                memory_denied: false,
            },
            devices: DevicesCtx::new(grant.devices_read, caps.devices.clone(), ctx.plugin.clone()),
            ssh: SshCtx::new(
                grant.ssh_programs.clone(),
                caps.ssh.clone(),
                ctx.plugin.clone(),
                Some(deadline),
            ),
            context: ContextCtx::new(ctx),
            stderr,
            cpu_ticks_left: limits.cpu_ticks(),
        }
    }

    /// What the guest wrote to stderr, lossily decoded and trimmed.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_owned()
    }
}

/// Configures a fresh store with the CPU deadline and the memory limiter.
pub(crate) fn configure_store(store: &mut Store<CallState>) {
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let state = cx.data_mut();
        state.cpu_ticks_left = state.cpu_ticks_left.saturating_sub(1);
        if state.cpu_ticks_left == 0 {
            return Err(CpuBudgetExhausted.into());
        }
        // Yield each tick so the wall-clock timeout and other tasks run.
        Ok(UpdateDeadline::Yield(1))
    });
}

/// Classifies a wasmtime error raised by instantiate or call.
pub(crate) fn classify_trap(
    err: wasmtime::Error,
    state: &CallState,
    plugin: &Arc<str>,
    limits: &Limits,
) -> CallError {
    let plugin = plugin.clone();
    if err.downcast_ref::<CpuBudgetExhausted>().is_some() {
        return CallError::Limit {
            plugin,
            limit: Limit::CpuTime,
            detail: format!("{} ms of CPU", limits.cpu_ms),
        };
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>()
        && *trap == wasmtime::Trap::StackOverflow
    {
        return CallError::Limit {
            plugin,
            limit: Limit::Stack,
            detail: "call stack exhausted".into(),
        };
    }
    if state.limiter.memory_denied {
        return CallError::Limit {
            plugin,
            limit: Limit::Memory,
            detail: format!("{} bytes of linear memory", limits.max_memory_bytes),
        };
    }
    let stderr = state.stderr_text();
    let reason = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) if !stderr.is_empty() => format!("{trap}; stderr: {}", last_lines(&stderr)),
        Some(trap) => trap.to_string(),
        None => format!("{err:#}"),
    };
    CallError::Crashed { plugin, reason }
}

/// The last few lines of guest stderr (a panic message is at the end).
fn last_lines(text: &str) -> String {
    const KEEP_LINES: usize = 6;
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(KEEP_LINES)..].join(" | ")
}

/// Converts the guest's result, enforcing the output cap.
pub(crate) fn convert_output(
    out: types::ToolOutput,
    plugin: &Arc<str>,
    limits: &Limits,
) -> Result<ToolOutput, CallError> {
    let size: usize = out
        .content
        .iter()
        .map(|c| match c {
            types::Content::Text(t) => t.len(),
            types::Content::Image(m) | types::Content::Audio(m) => m.data.len(),
        })
        .sum::<usize>()
        + out.structured.as_ref().map_or(0, String::len);
    if size > limits.max_output_bytes {
        return Err(CallError::Limit {
            plugin: plugin.clone(),
            limit: Limit::OutputSize,
            detail: format!(
                "{size} bytes returned, at most {} allowed",
                limits.max_output_bytes
            ),
        });
    }
    let structured = match out.structured {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text).map_err(|e| CallError::InvalidOutput {
                plugin: plugin.clone(),
                reason: format!("structured output is not JSON: {e}"),
            })?,
        ),
    };
    let content = out
        .content
        .into_iter()
        .map(|c| match c {
            types::Content::Text(t) => Content::Text(t),
            types::Content::Image(m) => Content::Image {
                mime_type: m.mime_type,
                data: m.data,
            },
            types::Content::Audio(m) => Content::Audio {
                mime_type: m.mime_type,
                data: m.data,
            },
        })
        .collect();
    Ok(ToolOutput {
        content,
        structured,
    })
}

pub(crate) fn convert_tool_error(e: types::ToolError) -> CallError {
    let kind = match e.kind {
        types::ErrorKind::InvalidInput => ToolErrorKind::InvalidInput,
        types::ErrorKind::NotFound => ToolErrorKind::NotFound,
        types::ErrorKind::Denied => ToolErrorKind::Denied,
        types::ErrorKind::Unavailable => ToolErrorKind::Unavailable,
        types::ErrorKind::Failed => ToolErrorKind::Failed,
    };
    CallError::Tool {
        kind,
        message: e.message,
    }
}
