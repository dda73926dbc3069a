//! Host bindings generated from `wit/plugin.wit`, world `plugin`.
//!
//! Only interfaces in that world are generated; `store` and `metrics` are
//! declared in the package but not provided by this host version.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit",
    imports: {
        "toolhost:plugin/devices": async | trappable,
        "toolhost:plugin/ssh": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use exports::toolhost::plugin::tools as guest;
pub use toolhost::plugin::{context, devices, ssh, types};
