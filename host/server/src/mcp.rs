//! The MCP edge: an rmcp [`ServerHandler`] over the dynamic tool catalog,
//! mounted as rmcp's streamable HTTP service.
//!
//! Failures pick their channel by [`ToolCallError`]: unknown tool, missing
//! scope and invalid arguments are JSON-RPC errors; a tool that ran and
//! failed (or hit a limit) is a result with `isError: true`.
//!
//! MCP logging (`notifications/message`, `logging/setLevel`) is deprecated
//! from revision 2026-07-28 (SEP-2577) but is how 2025-11-25 clients see a
//! plugin's `context.log`, so it stays until those clients are gone.
#![allow(deprecated)]

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use tokio_util::sync::CancellationToken;
use toolhost_auth::Principal;
use toolhost_runtime::{CallEvent, Catalog, Content, LogLevel, ToolOutput, event_channel};

use crate::tools::{ToolCallError, ToolService};

/// Tool definitions rebuilt only when the registry's generation changes.
type ToolListCache = ArcSwapOption<(u64, Arc<Vec<Tool>>)>;

/// One handler per MCP session (or per stateless request); they share the
/// tool service and the tool-list cache.
#[derive(Clone)]
pub struct McpHandler {
    tools: Arc<ToolService>,
    cache: Arc<ToolListCache>,
    /// Minimum level of log notifications, set by `logging/setLevel`.
    min_level: Arc<AtomicU8>,
}

impl McpHandler {
    pub fn new(tools: Arc<ToolService>) -> McpHandler {
        McpHandler {
            tools,
            cache: Arc::new(ArcSwapOption::empty()),
            min_level: Arc::new(AtomicU8::new(level_rank(LogLevel::Info))),
        }
    }

    fn fresh(&self) -> McpHandler {
        McpHandler {
            tools: self.tools.clone(),
            cache: self.cache.clone(),
            min_level: Arc::new(AtomicU8::new(level_rank(LogLevel::Info))),
        }
    }

    fn tool_list(&self) -> Arc<Vec<Tool>> {
        let catalog = self.tools.runtime().registry().snapshot();
        if let Some(cached) = self.cache.load_full()
            && cached.0 == catalog.generation
        {
            return cached.1.clone();
        }
        let list = Arc::new(build_tool_list(&catalog));
        self.cache
            .store(Some(Arc::new((catalog.generation, list.clone()))));
        list
    }
}

/// Builds the service mounted at `/mcp`.
pub fn service(
    handler: McpHandler,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    sessions: bool,
    shutdown: CancellationToken,
) -> StreamableHttpService<McpHandler, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts)
        .with_legacy_session_mode(sessions)
        .with_cancellation_token(shutdown);
    if !allowed_origins.is_empty() {
        config = config.with_allowed_origins(allowed_origins);
    }
    StreamableHttpService::new(
        move || Ok(handler.fresh()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

fn build_tool_list(catalog: &Catalog) -> Vec<Tool> {
    let mut tools: Vec<Tool> = catalog
        .plugins()
        .flat_map(|p| p.manifest.tools.iter())
        .map(|spec| {
            let mut annotations = ToolAnnotations::default();
            annotations.title = spec.title.clone();
            annotations.read_only_hint = Some(spec.annotations.read_only);
            annotations.destructive_hint = Some(spec.annotations.destructive);
            annotations.idempotent_hint = Some(spec.annotations.idempotent);
            annotations.open_world_hint = Some(spec.annotations.open_world);
            let mut tool = Tool::new_with_raw(
                spec.name.clone(),
                Some(Cow::Owned(spec.description.clone())),
                spec.input_schema.clone(),
            )
            .with_annotations(annotations);
            if let Some(title) = &spec.title {
                tool = tool.with_title(title.clone());
            }
            if let Some(out) = &spec.output_schema {
                tool = tool.with_raw_output_schema(out.clone());
            }
            tool
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

fn level_rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Notice => 2,
        LogLevel::Warning => 3,
        LogLevel::Error => 4,
    }
}

fn mcp_level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        _ => 4,
    }
}

fn to_mcp_level(level: LogLevel) -> LoggingLevel {
    match level {
        LogLevel::Debug => LoggingLevel::Debug,
        LogLevel::Info => LoggingLevel::Info,
        LogLevel::Notice => LoggingLevel::Notice,
        LogLevel::Warning => LoggingLevel::Warning,
        LogLevel::Error => LoggingLevel::Error,
    }
}

/// Converts a successful tool output to an MCP result.
pub fn success_result(out: ToolOutput) -> CallToolResult {
    let b64 = base64::engine::general_purpose::STANDARD;
    let content = out
        .content
        .into_iter()
        .map(|c| match c {
            Content::Text(t) => ContentBlock::text(t),
            Content::Image { mime_type, data } => ContentBlock::image(b64.encode(data), mime_type),
            Content::Audio { mime_type, data } => ContentBlock::audio(b64.encode(data), mime_type),
        })
        .collect();
    let mut result = CallToolResult::success(content);
    result.structured_content = out.structured;
    result
}

/// Maps a failed call to its MCP channel.
pub fn failure(err: ToolCallError) -> Result<CallToolResult, ErrorData> {
    match err {
        ToolCallError::UnknownTool(name) => Err(ErrorData::invalid_params(
            format!("unknown tool: {name}"),
            None,
        )),
        ToolCallError::InvalidArguments { tool, problems } => Err(ErrorData::invalid_params(
            format!("invalid arguments for {tool}: {}", problems.join("; ")),
            Some(serde_json::json!({ "problems": problems })),
        )),
        ToolCallError::Forbidden { tool, required } => Err(ErrorData::invalid_request(
            format!("tool {tool} needs the {required} scope"),
            Some(serde_json::json!({ "requiredScope": required.to_string() })),
        )),
        ToolCallError::Failed(e) => Ok(CallToolResult::error(vec![ContentBlock::text(
            e.to_string(),
        )])),
        ToolCallError::Internal => Err(ErrorData::internal_error("internal error", None)),
    }
}

/// Forwards call events to the client until the call's senders are gone.
async fn forward_events(
    mut rx: toolhost_runtime::EventReceiver,
    peer: Peer<RoleServer>,
    progress_token: Option<ProgressToken>,
    min_level: u8,
    logger: String,
) {
    while let Some(event) = rx.recv().await {
        let sent = match event {
            CallEvent::Progress {
                done,
                total,
                message,
            } => match &progress_token {
                Some(token) => {
                    let mut p = ProgressNotificationParam::new(token.clone(), done);
                    p.total = total;
                    p.message = message;
                    peer.notify_progress(p).await
                }
                None => Ok(()),
            },
            CallEvent::Log { level, message } if level_rank(level) >= min_level => {
                let mut p = LoggingMessageNotificationParam::new(
                    to_mcp_level(level),
                    serde_json::Value::String(message),
                );
                p.logger = Some(logger.clone());
                peer.notify_logging_message(p).await
            }
            CallEvent::Log { .. } => Ok(()),
        };
        if sent.is_err() {
            // The client went away; drain silently so the call is not blocked.
            while rx.recv().await.is_some() {}
            return;
        }
    }
}

fn principal_of(context: &RequestContext<RoleServer>) -> Option<Principal> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>())
        .cloned()
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("toolhost", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "toolhost serves tools from WebAssembly plugins to inspect and operate a fleet of \
             Linux devices. Start with list_devices.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tool_list();
        Ok(ListToolsResult::with_all_items((*tools).clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(principal) = principal_of(&context) else {
            tracing::error!("MCP request reached the handler without an authenticated principal");
            return Err(ErrorData::internal_error("internal error", None));
        };
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let (tx, rx) = event_channel();
        let forwarder = forward_events(
            rx,
            context.peer.clone(),
            context.meta.get_progress_token(),
            self.min_level.load(Ordering::Relaxed),
            request.name.to_string(),
        );
        let call = self.tools.call(
            &principal,
            &request.name,
            args,
            Some(tx),
            context.ct.clone(),
        );
        // The forwarder ends once the call's senders are dropped, i.e. when
        // the call returns, so notifications reach the client before the
        // result does.
        let (outcome, ()) = tokio::join!(call, forwarder);
        let result = match outcome {
            Ok(out) => Ok(success_result(out)),
            Err(e) => failure(e),
        }?;
        Ok(result.into())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.min_level
            .store(mcp_level_rank(request.level), Ordering::Relaxed);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        // Sessions of revisions with sessions get list_changed pushed.
        let mut changes = self.tools.runtime().registry().subscribe();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            changes.mark_unchanged();
            while changes.changed().await.is_ok() {
                if peer.notify_tool_list_changed().await.is_err() {
                    break;
                }
            }
        });
    }
}
