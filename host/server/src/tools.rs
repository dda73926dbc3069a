//! The tool service shared by MCP and REST: resolves a tool, checks the
//! caller's scope against the tool's annotations, and invokes the runtime.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use toolhost_auth::{Principal, Scope};
use toolhost_runtime::{
    CallContext, CallError, CallEvent, Caller, LoadedPlugin, Runtime, ToolOutput, ToolSpec,
};

/// Why a call was not run or did not succeed, by what the edge does next.
#[derive(Debug, thiserror::Error)]
pub enum ToolCallError {
    /// No plugin serves the name (JSON-RPC error / 404).
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// The caller lacks the scope the tool needs (JSON-RPC error / 403).
    #[error("tool {tool:?} needs the {required} scope")]
    Forbidden { tool: String, required: Scope },
    /// Arguments failed the input schema (JSON-RPC invalid params / 422).
    #[error("invalid arguments for {tool:?}: {}", .problems.join("; "))]
    InvalidArguments { tool: String, problems: Vec<String> },
    /// The tool ran and failed, or hit a limit (an `isError` result).
    #[error(transparent)]
    Failed(CallError),
    /// A host fault (JSON-RPC internal error / 500); details are logged.
    #[error("internal error")]
    Internal,
}

/// The scope a tool needs: destructive tools need `write`.
pub fn required_scope(spec: &ToolSpec) -> Scope {
    if spec.annotations.destructive {
        Scope::Write
    } else {
        Scope::Read
    }
}

/// Converts the authenticated principal to the identity plugins see.
pub fn caller_of(principal: &Principal) -> Caller {
    Caller {
        subject: principal.subject.clone(),
        scopes: principal.scope_strings().to_vec(),
    }
}

/// Resolve, authorize and invoke tools.
pub struct ToolService {
    runtime: Arc<Runtime>,
}

impl ToolService {
    pub fn new(runtime: Arc<Runtime>) -> ToolService {
        ToolService { runtime }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Runs `tool` as `principal`. Events (log, progress) go to `events`.
    pub async fn call(
        &self,
        principal: &Principal,
        tool: &str,
        args: serde_json::Value,
        events: Option<mpsc::Sender<CallEvent>>,
        cancel: CancellationToken,
    ) -> Result<ToolOutput, ToolCallError> {
        let plugin: Arc<LoadedPlugin> = self
            .runtime
            .registry()
            .lookup(tool)
            .ok_or_else(|| ToolCallError::UnknownTool(tool.to_owned()))?;
        let spec = plugin
            .tool(tool)
            .ok_or_else(|| ToolCallError::UnknownTool(tool.to_owned()))?;
        let required = required_scope(spec);
        if !principal.scopes.allows(required) {
            return Err(ToolCallError::Forbidden {
                tool: tool.to_owned(),
                required,
            });
        }
        let ctx = CallContext {
            caller: caller_of(principal),
            events,
            cancel,
            plugin: plugin.name().into(),
        };
        match self.runtime.invoke(&plugin, tool, &args, ctx).await {
            Ok(out) => Ok(out),
            Err(CallError::UnknownTool(t)) => Err(ToolCallError::UnknownTool(t)),
            Err(CallError::InvalidArguments(problems)) => Err(ToolCallError::InvalidArguments {
                tool: tool.to_owned(),
                problems,
            }),
            Err(CallError::Limit {
                limit: toolhost_runtime::Limit::ArgumentSize,
                detail,
                ..
            }) => Err(ToolCallError::InvalidArguments {
                tool: tool.to_owned(),
                problems: vec![format!("arguments too large: {detail}")],
            }),
            Err(CallError::Host(e)) => {
                tracing::error!(tool, error = %format!("{e:#}"), "host fault during tool call");
                Err(ToolCallError::Internal)
            }
            Err(other) => Err(ToolCallError::Failed(other)),
        }
    }
}
