//! Running programs on registered devices through the host's `ssh` capability.
//!
//! [`run`] executes one argv (never a shell string: the host hands every
//! element to the remote program as one literal argument) with the default
//! [`DEFAULT_TIMEOUT_MS`] and [`DEFAULT_MAX_OUTPUT_BYTES`]; [`run_with`] takes
//! explicit [`ExecOptions`]. A plugin calling them must declare
//! `Capability::Ssh(vec![...])` listing every program (`argv[0]`) it runs.
//!
//! A non-zero exit status is not an error here: [`Output`] carries it, and
//! [`Output::ensure_success`] / [`Output::program_missing`] help interpret it.
//! Transport problems ([`SshError`]) become a [`ToolError`] whose message keeps
//! the WIT variant name, e.g. `ssh connect-failed: connection refused`.

use crate::ToolError;
pub use crate::bindings::toolhost::plugin::ssh::{ExecOptions, ExecOutput, SshError, exec};

/// Wall-clock limit [`run`] asks the host for, per command.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;

/// Output cap (per stream) [`run`] asks the host for.
pub const DEFAULT_MAX_OUTPUT_BYTES: u32 = 4 * 1024 * 1024;

/// Exit status shells and `env` use for "command not found".
pub const EXIT_NOT_FOUND: i32 = 127;

/// What a finished remote command produced, with output decoded as UTF-8
/// (invalid sequences replaced).
#[derive(Debug, Clone)]
pub struct Output {
    /// `None` when the program was killed by a signal.
    pub exit_code: Option<i32>,
    /// The signal name when the program was killed by one.
    pub signal: Option<String>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The host cut stdout at the output cap.
    pub stdout_truncated: bool,
    /// The host cut stderr at the output cap.
    pub stderr_truncated: bool,
    /// How long the command ran, as measured by the host.
    pub duration_ms: u32,
}

impl Output {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The program does not exist on the device: exit status 127, or an
    /// error message saying so (`command not found`, `No such file`,
    /// `executable file not found`).
    pub fn program_missing(&self) -> bool {
        if self.exit_code == Some(EXIT_NOT_FOUND) {
            return true;
        }
        if self.success() || !self.stdout.trim().is_empty() {
            return false;
        }
        let err = self.stderr.to_ascii_lowercase();
        err.contains("command not found")
            || err.contains("executable file not found")
            || (err.contains("no such file or directory") && self.exit_code != Some(1))
    }

    /// The first non-empty line of stderr, trimmed, or a description of the
    /// exit status when stderr is empty.
    pub fn error_summary(&self) -> String {
        if let Some(line) = self.stderr.lines().map(str::trim).find(|l| !l.is_empty()) {
            return line.to_owned();
        }
        match (&self.exit_code, &self.signal) {
            (_, Some(sig)) => format!("killed by signal {sig}"),
            (Some(code), None) => format!("exit status {code}"),
            (None, None) => "no exit status".to_owned(),
        }
    }

    /// `Ok(self)` when the command exited 0; otherwise a
    /// [`ToolError::unavailable`] for a missing program or a
    /// [`ToolError::failed`] naming `program` and the first stderr line.
    pub fn ensure_success(self, program: &str) -> Result<Self, ToolError> {
        if self.success() {
            Ok(self)
        } else if self.program_missing() {
            Err(ToolError::unavailable(format!(
                "`{program}` is not installed on the device"
            )))
        } else {
            Err(ToolError::failed(format!(
                "`{program}` failed: {}",
                self.error_summary()
            )))
        }
    }
}

impl From<ExecOutput> for Output {
    fn from(o: ExecOutput) -> Self {
        Output {
            exit_code: o.exit_code,
            signal: o.signal,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            stdout_truncated: o.stdout_truncated,
            stderr_truncated: o.stderr_truncated,
            duration_ms: o.duration_ms,
        }
    }
}

/// The options [`run`] uses: [`DEFAULT_TIMEOUT_MS`],
/// [`DEFAULT_MAX_OUTPUT_BYTES`], no stdin.
pub fn default_options() -> ExecOptions {
    ExecOptions {
        timeout_ms: Some(DEFAULT_TIMEOUT_MS),
        max_output_bytes: Some(DEFAULT_MAX_OUTPUT_BYTES),
        stdin: None,
    }
}

/// Runs `argv` on `device` (id or name) with the default options.
///
/// `Err` only for transport or policy problems (see [`error_to_tool_error`]);
/// a program that ran and failed is an `Ok` with a non-zero
/// [`Output::exit_code`].
pub fn run(device: &str, argv: &[&str]) -> Result<Output, ToolError> {
    run_with(device, argv, &default_options())
}

/// Runs `argv` on `device` with explicit options.
pub fn run_with(device: &str, argv: &[&str], options: &ExecOptions) -> Result<Output, ToolError> {
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
    exec(device, &argv, options)
        .map(Output::from)
        .map_err(error_to_tool_error)
}

/// The WIT name of an [`SshError`] variant: `unknown-device`, `denied`,
/// `connect-failed`, `auth-failed`, `host-key-mismatch`, `timeout`,
/// `device-offline` or `failed`.
pub fn error_kind(err: &SshError) -> &'static str {
    match err {
        SshError::UnknownDevice(_) => "unknown-device",
        SshError::Denied(_) => "denied",
        SshError::ConnectFailed(_) => "connect-failed",
        SshError::AuthFailed(_) => "auth-failed",
        SshError::HostKeyMismatch(_) => "host-key-mismatch",
        SshError::Timeout(_) => "timeout",
        SshError::DeviceOffline(_) => "device-offline",
        SshError::Failed(_) => "failed",
    }
}

/// The message an [`SshError`] carries.
pub fn error_message(err: &SshError) -> &str {
    match err {
        SshError::UnknownDevice(m)
        | SshError::Denied(m)
        | SshError::ConnectFailed(m)
        | SshError::AuthFailed(m)
        | SshError::HostKeyMismatch(m)
        | SshError::Timeout(m)
        | SshError::DeviceOffline(m)
        | SshError::Failed(m) => m,
    }
}

/// Maps an [`SshError`] to a [`ToolError`] whose message is
/// `ssh <variant>: <message>`: `unknown-device` → not-found, `denied` →
/// denied, `connect-failed` / `auth-failed` / `host-key-mismatch` /
/// `timeout` / `device-offline` → unavailable, `failed` → failed.
pub fn error_to_tool_error(err: SshError) -> ToolError {
    let message = format!("ssh {}: {}", error_kind(&err), error_message(&err));
    match err {
        SshError::UnknownDevice(_) => ToolError::not_found(message),
        SshError::Denied(_) => ToolError::denied(message),
        SshError::ConnectFailed(_)
        | SshError::AuthFailed(_)
        | SshError::HostKeyMismatch(_)
        | SshError::Timeout(_)
        | SshError::DeviceOffline(_) => ToolError::unavailable(message),
        SshError::Failed(_) => ToolError::failed(message),
    }
}

impl From<SshError> for ToolError {
    fn from(err: SshError) -> Self {
        error_to_tool_error(err)
    }
}
