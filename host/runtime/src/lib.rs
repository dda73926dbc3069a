//! toolhost's plugin runtime: the wasmtime engine, loading and caching
//! components, the registry of live plugins, per-call stores with limits, and
//! the host side of the capability interfaces.
//!
//! It knows nothing of SQL, HTTP or MCP: the embedder passes capability
//! backends in (a [`caps::devices::DeviceDirectory`]) and receives typed
//! outcomes ([`CallError`]).
//!
//! Map:
//! - [`runtime`]: [`Runtime`] — load a file, invoke a tool.
//! - [`registry`]: the live catalog, swapped atomically.
//! - [`plugin`]: a loaded plugin's validated manifest.
//! - [`call`]: per-call store state, events, limits classification.
//! - [`grant`]: capabilities declared vs granted.
//! - [`caps`]: host implementations of the capability interfaces.
//! - [`cache`], [`engine`], [`limits`]: compilation cache, engine setup, limits.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod engine;
pub mod grant;
pub mod limits;
pub mod plugin;
pub mod registry;
pub mod runtime;

pub mod caps {
    pub mod context;
    pub mod devices;
    pub mod ssh;
}

pub use call::{
    CallContext, CallError, CallEvent, Caller, Content, EventReceiver, Limit, LogLevel,
    ToolErrorKind, ToolOutput, event_channel,
};
pub use grant::{Capability, Grant, GrantPolicy};
pub use limits::Limits;
pub use plugin::{Annotations, LoadedPlugin, ToolSpec};
pub use registry::{Catalog, Installed, Registry, RegistryError};
pub use runtime::{HostCapabilities, LoadError, LoadStats, Runtime, RuntimeConfig};
