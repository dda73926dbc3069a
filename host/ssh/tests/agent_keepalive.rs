//! ssh-agent authentication and keepalives, against a real OpenSSH sshd on
//! 127.0.0.x and a real `ssh-agent` on a private socket (no test touches
//! `SSH_AUTH_SOCK`: tests run in parallel threads of one process).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use toolhost_ssh::testing::{TestSshd, descendants};
use toolhost_ssh::{ExecOptions, MemoryHostKeyStore, SshConfig, SshError, SshPool, SshTarget};

/// How long a started ssh-agent may take to create its socket.
const AGENT_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Keepalive interval for the keepalive test.
const KEEPALIVE_INTERVAL_MS: u64 = 200;
/// Unanswered keepalives before the pool gives a connection up.
const KEEPALIVE_MAX: usize = 2;
/// Slack on top of `interval × (max + 1)` before a frozen connection must be
/// seen dead: generous, so a loaded machine does not fail the test.
const DETECTION_MARGIN: Duration = Duration::from_secs(10);
/// Pause between two looks at the pool's stats.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn pool(config: SshConfig) -> SshPool {
    SshPool::new(config, Arc::new(MemoryHostKeyStore::new()))
}

/// A pool configuration with no key file: the agent is the only credential.
fn agent_config(sshd: &TestSshd, use_agent: bool, socket: &Path) -> SshConfig {
    SshConfig {
        identity_file: None,
        use_agent,
        agent_socket: Some(socket.to_owned()),
        ..sshd.config()
    }
}

/// An `ssh-agent -D` on a socket in its own temporary directory; killed on
/// drop.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ssh-agent (apt-get install -y openssh-client)");
        let agent = Agent {
            child,
            socket,
            _dir: dir,
        };
        let started = Instant::now();
        while !agent.socket.exists() {
            assert!(
                started.elapsed() < AGENT_START_TIMEOUT,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        agent
    }

    /// Loads the private key at `key` into the agent.
    fn add(&self, key: &Path) {
        let status = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .status()
            .expect("run ssh-add");
        assert!(status.success(), "ssh-add {} failed", key.display());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn auth_failed_reason(result: Result<toolhost_ssh::ExecOutput, SshError>) -> String {
    match result {
        Err(SshError::AuthFailed { reason, .. }) => reason,
        other => panic!("expected auth-failed, got {other:?}"),
    }
}

#[tokio::test]
async fn the_agent_authenticates_when_no_key_file_is_configured() {
    let sshd = TestSshd::start();
    let agent = Agent::start();
    agent.add(&sshd.add_client_key("agent_ed25519", "ed25519", None));

    let pool = pool(agent_config(&sshd, true, &agent.socket));
    let out = pool
        .exec(
            &sshd.target("dev"),
            &argv(&["echo", "via agent"]),
            ExecOptions::default(),
        )
        .await
        .expect("exec through the agent's key");
    assert_eq!(out.stdout, b"via agent\n");
    assert_eq!(pool.stats().connections_opened, 1);
}

#[tokio::test]
async fn a_device_set_to_use_the_agent_uses_it_when_use_agent_is_off() {
    let sshd = TestSshd::start();
    let agent = Agent::start();
    agent.add(&sshd.add_client_key("agent_ed25519", "ed25519", None));
    let pool = pool(agent_config(&sshd, false, &agent.socket));

    let agent_device = SshTarget {
        use_agent: true,
        ..sshd.target("agent-device")
    };
    let out = pool
        .exec(&agent_device, &argv(&["true"]), ExecOptions::default())
        .await
        .expect("the device's auth_method turns the agent on");
    assert!(out.success());

    // Neither the configuration nor the device asks for the agent: it is
    // not consulted, and nothing else is configured.
    let reason = auth_failed_reason(
        pool.exec(
            &sshd.target("key-device"),
            &argv(&["true"]),
            ExecOptions::default(),
        )
        .await,
    );
    assert!(reason.contains("no credentials are configured"), "{reason}");
}

#[tokio::test]
async fn without_a_usable_agent_authentication_fails() {
    let sshd = TestSshd::start();
    let target = sshd.target("dev");
    let run = |config: SshConfig| {
        let target = target.clone();
        async move {
            pool(config)
                .exec(&target, &argv(&["true"]), ExecOptions::default())
                .await
        }
    };

    let empty = Agent::start();
    let reason = auth_failed_reason(run(agent_config(&sshd, true, &empty.socket)).await);
    assert!(reason.contains("holds no keys"), "{reason}");

    let stranger = Agent::start();
    stranger.add(&sshd.wrong_key);
    let reason = auth_failed_reason(run(agent_config(&sshd, true, &stranger.socket)).await);
    assert!(reason.contains("refused every configured key"), "{reason}");

    let gone = empty.socket.clone();
    drop(empty);
    let reason = auth_failed_reason(run(agent_config(&sshd, true, &gone)).await);
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(
        !reason.contains(&gone.display().to_string()),
        "socket path leaked: {reason}"
    );
}

/// Processes stopped with SIGSTOP; continued on drop.
struct Frozen(Vec<u32>);

impl Frozen {
    fn stop(pids: Vec<u32>) -> Frozen {
        signal("STOP", &pids);
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.0);
    }
}

fn signal(name: &str, pids: &[u32]) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pids:?}");
}

#[tokio::test]
async fn keepalives_drop_a_frozen_connection_and_the_next_exec_reconnects() {
    let sshd = TestSshd::start();
    let pool = pool(SshConfig {
        keepalive_interval_ms: KEEPALIVE_INTERVAL_MS,
        keepalive_max: KEEPALIVE_MAX,
        ..sshd.config()
    });
    let target = sshd.target("dev");
    let true_argv = argv(&["true"]);
    let exec_true = || pool.exec(&target, &true_argv, ExecOptions::default());
    let dead_after = Duration::from_millis(KEEPALIVE_INTERVAL_MS) * (KEEPALIVE_MAX as u32 + 1);

    assert!(exec_true().await.expect("first exec").success());
    // Answered keepalives keep a quiet connection: well past the point where
    // unanswered ones would have dropped it, it is still pooled and reused.
    tokio::time::sleep(dead_after * 2).await;
    assert_eq!(pool.stats().connections_open, 1);
    assert!(exec_true().await.expect("reused").success());
    assert_eq!(pool.stats().connections_opened, 1);

    let listener = sshd.pid().expect("sshd runs");
    let sessions = descendants(listener);
    assert!(!sessions.is_empty(), "no per-connection sshd processes");
    let frozen = Frozen::stop(sessions);
    let limit = dead_after + DETECTION_MARGIN;
    let started = Instant::now();
    while pool.stats().connections_open != 0 {
        assert!(
            started.elapsed() < limit,
            "a connection whose server stopped answering was still open after {limit:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    drop(frozen);

    let out = exec_true().await.expect("exec after the drop");
    assert!(out.success());
    let stats = pool.stats();
    assert_eq!(stats.connections_opened, 2, "{stats:?}");
    assert_eq!(stats.connections_open, 1, "{stats:?}");
}
