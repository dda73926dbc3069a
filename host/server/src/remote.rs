//! The `ssh` capability's backend: resolves a device in the registry and
//! runs the command through the SSH connection pool.

use std::path::PathBuf;
use std::time::Duration;

use toolhost_devices::{AuthMethod, DeviceRecord, DeviceRepo};
use toolhost_runtime::caps::devices::{BoxFuture, DeviceStatus};
use toolhost_runtime::caps::ssh::{ExecError, ExecRequest, ExecResult, RemoteExec};
use toolhost_ssh::{ExecOptions, SshError, SshPool, SshTarget};

/// Time left before a call's deadline that the pool keeps for killing a
/// timed-out command (its kill wait is bounded by two seconds).
const KILL_MARGIN: Duration = Duration::from_millis(2_500);

/// Runs plugin execs on registered devices.
pub struct SshRemote {
    repo: DeviceRepo,
    pool: SshPool,
}

impl SshRemote {
    pub fn new(repo: DeviceRepo, pool: SshPool) -> SshRemote {
        SshRemote { repo, pool }
    }

    async fn run(&self, request: ExecRequest) -> Result<ExecResult, ExecError> {
        let record = self
            .repo
            .get(&request.device)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "device lookup failed");
                ExecError::Failed("the device registry is unavailable".into())
            })?
            .ok_or_else(|| ExecError::UnknownDevice(request.device.clone()))?;
        if record.device.status == DeviceStatus::Maintenance {
            return Err(ExecError::DeviceOffline(format!(
                "device {:?} is in maintenance",
                record.device.name
            )));
        }
        let target = ssh_target(record);
        // The command should end, killed if need be, before the tool call's
        // own deadline drops this future, so the plugin sees a typed
        // `timeout` it can report (a dropped exec is killed too, but the
        // plugin never hears why).
        let mut timeout = request
            .timeout
            .unwrap_or(Duration::from_millis(self.pool.config().command_timeout_ms));
        if let Some(deadline) = request.call_deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            timeout = timeout.min(left.saturating_sub(KILL_MARGIN).max(left / 2));
        }
        let out = self
            .pool
            .exec(
                &target,
                &request.argv,
                ExecOptions {
                    timeout: Some(timeout),
                    max_output_bytes: request.max_output_bytes,
                    stdin: request.stdin,
                },
            )
            .await
            .map_err(exec_error)?;
        Ok(ExecResult {
            exit_code: out.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX)),
            signal: out.signal,
            stdout: out.stdout,
            stderr: out.stderr,
            stdout_truncated: out.stdout_truncated,
            stderr_truncated: out.stderr_truncated,
            duration: out.duration,
        })
    }
}

/// Where and how the SSH layer reaches a registered device. A device whose
/// `auth_method` is `agent` is offered the ssh-agent's identities even when
/// `[ssh] use_agent` is off.
pub(crate) fn ssh_target(record: DeviceRecord) -> SshTarget {
    let device = record.device;
    SshTarget {
        device_id: device.id,
        name: device.name,
        host: device.hostname,
        port: device.port,
        username: device.username,
        key_path: record.key_path.map(PathBuf::from),
        use_agent: record.auth_method == AuthMethod::Agent,
    }
}

/// Keeps the variant (what a model does next) and the safe message.
fn exec_error(e: SshError) -> ExecError {
    let message = e.to_string();
    match e {
        SshError::UnknownDevice(d) => ExecError::UnknownDevice(d),
        SshError::Denied(_) => ExecError::Denied(message),
        SshError::ConnectFailed { .. } => ExecError::ConnectFailed(message),
        SshError::AuthFailed { .. } => ExecError::AuthFailed(message),
        SshError::HostKeyMismatch { .. } | SshError::HostKeyUnknown { .. } => {
            ExecError::HostKeyMismatch(message)
        }
        SshError::Timeout { .. } => ExecError::Timeout(message),
        SshError::DeviceOffline { .. } => ExecError::DeviceOffline(message),
        SshError::InvalidRequest(_) | SshError::Failed(_) => ExecError::Failed(message),
    }
}

impl RemoteExec for SshRemote {
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResult, ExecError>> {
        Box::pin(self.run(request))
    }
}
