//! The `ssh` capability: run a program by argv on a registered device.
//!
//! The runtime never speaks SSH itself: the embedder hands it a
//! [`RemoteExec`] (the server backs it with a connection pool). Every call is
//! checked on its first line against the plugin's grant: argv\[0\] must be one
//! of the programs the operator granted. Timeouts and output caps requested
//! by the guest are clamped to host maxima.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::bindings::ssh as wit;
use crate::caps::devices::BoxFuture;

/// Longest command timeout a guest may ask for.
pub const MAX_EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest per-stream output cap a guest may ask for.
pub const MAX_EXEC_OUTPUT_BYTES: usize = 16 << 20;
/// Largest stdin a guest may send.
pub const MAX_EXEC_STDIN_BYTES: usize = 1 << 20;
/// Most arguments in one argv.
pub const MAX_ARGV_LEN: usize = 4_096;
/// Longest single argument.
pub const MAX_ARG_BYTES: usize = 128 << 10;

/// One remote execution, as the runtime asks the embedder.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecRequest {
    /// Device id or name, as the plugin gave it.
    pub device: String,
    pub argv: Vec<String>,
    /// What the guest asked for (clamped); `None` takes the backend's default.
    pub timeout: Option<Duration>,
    /// When the whole tool call runs out of wall-clock time. The backend
    /// must end (and kill) the command before then: a command outliving its
    /// call would run on unobserved.
    pub call_deadline: Option<tokio::time::Instant>,
    /// Cap per stream (stdout and stderr each); `None` takes the backend's
    /// default.
    pub max_output_bytes: Option<usize>,
    pub stdin: Option<Vec<u8>>,
}

/// What a finished remote command produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecResult {
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration: Duration,
}

/// Why a remote execution did not run to completion; each variant tells a
/// model something different to do next.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ExecError {
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("connect failed: {0}")]
    ConnectFailed(String),
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    #[error("host key mismatch: {0}")]
    HostKeyMismatch(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("device offline: {0}")]
    DeviceOffline(String),
    #[error("{0}")]
    Failed(String),
}

/// Remote execution as the runtime needs it.
pub trait RemoteExec: Send + Sync + 'static {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, ExecError>>;
}

/// A host with no SSH configured: every call fails clearly.
pub struct NoRemoteExec;

impl RemoteExec for NoRemoteExec {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, ExecError>> {
        Box::pin(async move {
            Err(ExecError::Failed(format!(
                "this host has no SSH configured; cannot reach {}",
                request.device
            )))
        })
    }
}

/// Per-call state of the `ssh` capability.
pub struct SshCtx {
    programs: Arc<BTreeSet<String>>,
    exec: Arc<dyn RemoteExec>,
    plugin: Arc<str>,
    call_deadline: Option<tokio::time::Instant>,
}

impl SshCtx {
    pub(crate) fn new(
        programs: Arc<BTreeSet<String>>,
        exec: Arc<dyn RemoteExec>,
        plugin: Arc<str>,
        call_deadline: Option<tokio::time::Instant>,
    ) -> SshCtx {
        SshCtx {
            programs,
            exec,
            plugin,
            call_deadline,
        }
    }

    /// The grant check and argument limits; `Ok` means the request may run.
    fn check(&self, argv: &[String], options: &wit::ExecOptions) -> Result<(), wit::SshError> {
        let Some(program) = argv.first() else {
            return Err(wit::SshError::Failed("argv is empty".into()));
        };
        if !self.programs.contains(program) {
            tracing::info!(plugin = &*self.plugin, program, "ssh program denied");
            return Err(wit::SshError::Denied(format!(
                "plugin {} may not run {program:?} (granted: {})",
                self.plugin,
                if self.programs.is_empty() {
                    "nothing".to_owned()
                } else {
                    self.programs.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            )));
        }
        if argv.len() > MAX_ARGV_LEN {
            return Err(wit::SshError::Failed(format!(
                "argv has {} elements; at most {MAX_ARGV_LEN} are allowed",
                argv.len()
            )));
        }
        if let Some(arg) = argv.iter().find(|a| a.len() > MAX_ARG_BYTES) {
            return Err(wit::SshError::Failed(format!(
                "an argument is {} bytes; at most {MAX_ARG_BYTES} are allowed",
                arg.len()
            )));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(wit::SshError::Failed(
                "arguments cannot contain NUL bytes".into(),
            ));
        }
        if options
            .stdin
            .as_ref()
            .is_some_and(|s| s.len() > MAX_EXEC_STDIN_BYTES)
        {
            return Err(wit::SshError::Failed(format!(
                "stdin is limited to {MAX_EXEC_STDIN_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

fn to_wit_error(e: ExecError) -> wit::SshError {
    match e {
        ExecError::UnknownDevice(m) => wit::SshError::UnknownDevice(m),
        ExecError::Denied(m) => wit::SshError::Denied(m),
        ExecError::ConnectFailed(m) => wit::SshError::ConnectFailed(m),
        ExecError::AuthFailed(m) => wit::SshError::AuthFailed(m),
        ExecError::HostKeyMismatch(m) => wit::SshError::HostKeyMismatch(m),
        ExecError::Timeout(m) => wit::SshError::Timeout(m),
        ExecError::DeviceOffline(m) => wit::SshError::DeviceOffline(m),
        ExecError::Failed(m) => wit::SshError::Failed(m),
    }
}

impl wit::Host for SshCtx {
    async fn exec(
        &mut self,
        device: String,
        argv: Vec<String>,
        options: wit::ExecOptions,
    ) -> wasmtime::Result<Result<wit::ExecOutput, wit::SshError>> {
        if let Err(e) = self.check(&argv, &options) {
            return Ok(Err(e));
        }
        let timeout = options
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)).min(MAX_EXEC_TIMEOUT));
        let max_output_bytes = options
            .max_output_bytes
            .map(|b| (b as usize).min(MAX_EXEC_OUTPUT_BYTES));
        let request = ExecRequest {
            device,
            argv,
            timeout,
            call_deadline: self.call_deadline,
            max_output_bytes,
            stdin: options.stdin,
        };
        Ok(match self.exec.exec(request).await {
            Ok(r) => Ok(wit::ExecOutput {
                exit_code: r.exit_code,
                signal: r.signal,
                stdout: r.stdout,
                stderr: r.stderr,
                stdout_truncated: r.stdout_truncated,
                stderr_truncated: r.stderr_truncated,
                duration_ms: u32::try_from(r.duration.as_millis()).unwrap_or(u32::MAX),
            }),
            Err(e) => {
                tracing::info!(plugin = &*self.plugin, error = %e, "ssh exec failed");
                Err(to_wit_error(e))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wit::Host as _;

    /// Records requests and answers with an empty success.
    #[derive(Default)]
    struct Recording(Mutex<Vec<ExecRequest>>);

    impl RemoteExec for Recording {
        fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, ExecError>> {
            self.0.lock().expect("lock").push(request);
            Box::pin(async { Ok(ExecResult::default()) })
        }
    }

    fn ctx(programs: &[&str], exec: Arc<Recording>) -> SshCtx {
        SshCtx::new(
            Arc::new(programs.iter().map(|s| s.to_string()).collect()),
            exec,
            "p".into(),
            None,
        )
    }

    fn opts() -> wit::ExecOptions {
        wit::ExecOptions {
            timeout_ms: None,
            max_output_bytes: None,
            stdin: None,
        }
    }

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn denies_programs_not_in_grant() {
        let rec = Arc::new(Recording::default());
        let mut cx = ctx(&["cat"], rec.clone());
        let table: &[(&[&str], bool)] = &[
            (&["cat", "/proc/stat"], true),
            (&["rm", "-rf", "/"], false),
            (&["/bin/cat", "/proc/stat"], false),
            (&["cat;rm", "x"], false),
            (&[], false),
        ];
        for (args, allowed) in table {
            let got = cx
                .exec("d".into(), argv(args), opts())
                .await
                .expect("no trap");
            assert_eq!(got.is_ok(), *allowed, "{args:?}: {got:?}");
        }
        assert_eq!(
            rec.0.lock().expect("lock").len(),
            1,
            "only the allowed call ran"
        );
    }

    #[tokio::test]
    async fn clamps_guest_timeouts_and_output_caps() {
        let rec = Arc::new(Recording::default());
        let mut cx = ctx(&["true"], rec.clone());
        let o = wit::ExecOptions {
            timeout_ms: Some(u32::MAX),
            max_output_bytes: Some(u32::MAX),
            stdin: None,
        };
        cx.exec("d".into(), argv(&["true"]), o)
            .await
            .expect("no trap")
            .expect("ok");
        let req = rec.0.lock().expect("lock")[0].clone();
        assert_eq!(req.timeout, Some(MAX_EXEC_TIMEOUT));
        assert_eq!(req.max_output_bytes, Some(MAX_EXEC_OUTPUT_BYTES));
    }

    #[tokio::test]
    async fn refuses_nul_bytes_and_oversized_stdin() {
        let rec = Arc::new(Recording::default());
        let mut cx = ctx(&["cat"], rec.clone());
        let got = cx
            .exec("d".into(), argv(&["cat", "a\0b"]), opts())
            .await
            .expect("no trap");
        assert!(matches!(got, Err(wit::SshError::Failed(_))));
        let big = wit::ExecOptions {
            stdin: Some(vec![0; MAX_EXEC_STDIN_BYTES + 1]),
            ..opts()
        };
        let got = cx
            .exec("d".into(), argv(&["cat"]), big)
            .await
            .expect("no trap");
        assert!(matches!(got, Err(wit::SshError::Failed(_))));
        assert!(rec.0.lock().expect("lock").is_empty());
    }
}
