//! A small MCP demo server built on `rmcp`'s Streamable HTTP transport.
//!
//! [`demo_router`] returns an [`axum::Router`] that serves the MCP endpoint at
//! `/mcp`. The server exposes a handful of tools that are useful for exercising
//! an authorizing gateway in front of it:
//!
//! * `echo`, `add` – trivial request/response tools.
//! * `slow` – emits `notifications/progress` while it works.
//! * `write_note` – stands in for a tool that needs a write scope.
//! * `whoami` – reports the caller identity the gateway forwarded in
//!   `x-mcp-auth-*` headers (read from [`http::request::Parts`]).
//!
//! Used by `mcp-auth demo-server`, `mcp-auth up`, the tests and `mcp-auth bench`.
//! For a Rust server that reads the verified principal from the request extensions
//! (the tower layer in process, no gateway), see
//! `crates/resource/examples/rmcp_server.rs`.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::Extension, wrapper::Parameters},
    model::ProgressNotificationParam,
    service::RequestContext,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use serde::Deserialize;

/// Header carrying the issuer of the verified token: a user is (issuer, subject).
pub(crate) const HEADER_ISSUER: &str = "x-mcp-auth-issuer";
/// Header carrying the verified subject forwarded by the gateway.
pub(crate) const HEADER_SUBJECT: &str = "x-mcp-auth-subject";
/// Header carrying the verified OAuth client id forwarded by the gateway.
pub(crate) const HEADER_CLIENT_ID: &str = "x-mcp-auth-client-id";
/// Header carrying the granted scope forwarded by the gateway.
pub(crate) const HEADER_SCOPE: &str = "x-mcp-auth-scope";
/// Header carrying the authentication profile forwarded by the gateway.
pub(crate) const HEADER_PROFILE: &str = "x-mcp-auth-profile";

/// Upper bound for the `slow` tool's `steps` argument.
const MAX_STEPS: u32 = 100;
/// Upper bound for the `slow` tool's `delay_ms` argument.
const MAX_DELAY_MS: u64 = 10_000;

/// Configuration for [`demo_router`].
#[derive(Debug, Clone)]
pub(crate) struct DemoConfig {
    /// Enable rmcp's legacy session mode (`legacy_session_mode`).
    ///
    /// When `true`, protocol versions before `2026-07-28` use the
    /// `initialize` handshake, `Mcp-Session-Id`, the standalone GET SSE stream
    /// and DELETE. Requests that negotiate `2026-07-28` (per-request `_meta`)
    /// are served statelessly either way. When `false`, every request is
    /// served statelessly and GET/DELETE answer `405`.
    pub(crate) stateful: bool,
    /// Prefer `application/json` over `text/event-stream` for responses.
    ///
    /// rmcp honours this only on the stateless path; session-mode POSTs always
    /// answer with SSE. Even when set, rmcp falls back to SSE as soon as the
    /// handler emits a notification (e.g. progress) before its result.
    pub(crate) json_response: bool,
    /// `Host` header allow-list (DNS-rebinding protection).
    ///
    /// `None` keeps rmcp's default of loopback hosts only; `Some(vec![])`
    /// disables the check.
    pub(crate) allowed_hosts: Option<Vec<String>>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            stateful: true,
            json_response: false,
            allowed_hosts: None,
        }
    }
}

/// Arguments of the `echo` tool.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct EchoArgs {
    /// Text to return unchanged.
    pub(crate) text: String,
}

/// Arguments of the `add` tool.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AddArgs {
    /// First addend.
    pub(crate) a: f64,
    /// Second addend.
    pub(crate) b: f64,
}

/// Arguments of the `slow` tool.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SlowArgs {
    /// Number of steps (one progress notification each), at most 100.
    #[serde(default = "default_steps")]
    pub(crate) steps: u32,
    /// Delay before each step, in milliseconds, at most 10000.
    #[serde(default = "default_delay_ms")]
    pub(crate) delay_ms: u64,
}

/// Arguments of the `announce` tool.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AnnounceArgs {
    /// Delay before the notification, in milliseconds, at most 10000.
    #[serde(default = "default_delay_ms")]
    pub(crate) delay_ms: u64,
}

fn default_steps() -> u32 {
    5
}

fn default_delay_ms() -> u64 {
    200
}

/// Arguments of the `write_note` tool.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct WriteNoteArgs {
    /// The note to store.
    pub(crate) note: String,
}

/// The MCP demo server: a stateless tool handler; rmcp creates one per session
/// (or per request in stateless mode), so its tool table is built once and shared:
/// building it validates every tool name into hash maps, which cost more than the
/// call itself when done for each request (issue 18's profile of the gateway bench).
#[derive(Debug, Clone)]
pub(crate) struct DemoServer {
    tools: Arc<ToolRouter<DemoServer>>,
}

#[tool_router]
impl DemoServer {
    /// Return `text` unchanged.
    #[tool(description = "Echo the given text back to the caller.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    /// Return `a + b` as text.
    #[tool(
        description = "Add two numbers and return the sum as text.",
        annotations(read_only_hint = true)
    )]
    async fn add(&self, Parameters(args): Parameters<AddArgs>) -> String {
        (args.a + args.b).to_string()
    }

    /// Work for `steps` × `delay_ms`, reporting progress when the client asked
    /// for it with `_meta.progressToken`.
    #[tool(
        description = "Run for `steps` steps of `delay_ms` ms each, sending notifications/progress \
                       per step when the request carries _meta.progressToken."
    )]
    async fn slow(
        &self,
        Parameters(args): Parameters<SlowArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        if args.steps > MAX_STEPS || args.delay_ms > MAX_DELAY_MS {
            return Err(ErrorData::invalid_params(
                format!("steps must be <= {MAX_STEPS} and delay_ms <= {MAX_DELAY_MS}"),
                None,
            ));
        }
        let progress_token = context.meta.get_progress_token();
        for step in 1..=args.steps {
            tokio::select! {
                () = context.ct.cancelled() => {
                    return Err(ErrorData::internal_error("request cancelled", None));
                }
                () = tokio::time::sleep(Duration::from_millis(args.delay_ms)) => {}
            }
            if let Some(token) = &progress_token {
                let params = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(args.steps))
                    .with_message(format!("step {step}/{}", args.steps));
                context.peer.notify_progress(params).await.map_err(|e| {
                    ErrorData::internal_error(format!("failed to send progress: {e}"), None)
                })?;
            }
        }
        Ok(format!("done after {} steps", args.steps))
    }

    /// Answers at once, then sends `notifications/tools/list_changed` a moment
    /// later: outside any request, so it travels on the session's standalone GET
    /// stream (for trying clients and bridges that must relay such messages).
    #[tool(
        description = "Answer, then send notifications/tools/list_changed after `delay_ms` ms on \
                       the session's standalone stream (2025-11-25 sessions only)."
    )]
    async fn announce(
        &self,
        Parameters(args): Parameters<AnnounceArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        if args.delay_ms > MAX_DELAY_MS {
            return Err(ErrorData::invalid_params(
                format!("delay_ms must be <= {MAX_DELAY_MS}"),
                None,
            ));
        }
        let peer = context.peer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "announce: the notification was not sent");
            }
        });
        Ok(format!("announcing in {} ms", args.delay_ms))
    }

    /// Pretend to persist a note (the gateway requires a write scope for this).
    #[tool(
        description = "Save a note. Requires the write scope at the gateway.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn write_note(&self, Parameters(args): Parameters<WriteNoteArgs>) -> String {
        format!("saved: {}", args.note)
    }

    /// Report the caller identity forwarded by the gateway in `x-mcp-auth-*`
    /// headers, read from the HTTP request parts rmcp stores in the request
    /// context extensions.
    #[tool(
        description = "Return the verified caller identity forwarded by the gateway as JSON.",
        annotations(read_only_hint = true)
    )]
    async fn whoami(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<String, ErrorData> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let identity = serde_json::json!({
            "issuer": header(HEADER_ISSUER),
            "subject": header(HEADER_SUBJECT),
            "client_id": header(HEADER_CLIENT_ID),
            "scope": header(HEADER_SCOPE),
            "profile": header(HEADER_PROFILE),
            "mcp_session_id": header("mcp-session-id"),
            "mcp_protocol_version": header("mcp-protocol-version"),
        });
        serde_json::to_string(&identity)
            .map_err(|e| ErrorData::internal_error(format!("serialize identity: {e}"), None))
    }
}

#[tool_handler(
    router = self.tools,
    name = "mcp-auth-demo",
    instructions = "Demo MCP server behind the mcp-auth gateway."
)]
impl ServerHandler for DemoServer {}

/// Build an axum router serving the demo MCP server at `/mcp`.
pub(crate) fn demo_router(config: DemoConfig) -> axum::Router {
    let mut http_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(config.stateful)
        .with_json_response(config.json_response);
    if let Some(hosts) = config.allowed_hosts {
        http_config = http_config.with_allowed_hosts(hosts);
    }
    let tools = Arc::new(DemoServer::tool_router());
    let service = StreamableHttpService::new(
        move || {
            Ok(DemoServer {
                tools: Arc::clone(&tools),
            })
        },
        Arc::new(LocalSessionManager::default()),
        http_config,
    );
    axum::Router::new().route_service("/mcp", service)
}

/// `mcp-auth demo-server`.
pub(crate) fn run(args: &crate::cli::DemoServerArgs) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        crate::observability::init_json_logs();
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        crate::output::print(&format!(
            "mcp-auth demo MCP server\n  endpoint: http://{}/mcp\n  tools:    echo, add, slow, write_note, whoami\n",
            listener.local_addr()?
        ))?;
        let router = demo_router(DemoConfig {
            stateful: !args.stateless,
            json_response: args.json_response,
            allowed_hosts: None,
        });
        crate::observability::serve(listener, router)
            .with_graceful_shutdown(crate::observability::shutdown_signal())
            .await
            .context("serving")?;
        Ok(std::process::ExitCode::SUCCESS)
    })
}
