//! `SshPool` against a real OpenSSH sshd on 127.0.0.x.

use std::sync::Arc;
use std::time::{Duration, Instant};

use toolhost_ssh::testing::TestSshd;
use toolhost_ssh::{
    ExecMode, ExecOptions, ExecOutput, HostKeyPolicy, HostKeyStore, MemoryHostKeyStore, SshConfig,
    SshError, SshPool, SshTarget,
};

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `argv` on `target` with default options.
async fn run(pool: &SshPool, target: &SshTarget, args: &[&str]) -> Result<ExecOutput, SshError> {
    pool.exec(target, &argv(args), ExecOptions::default()).await
}

fn new_pool(config: SshConfig) -> (SshPool, Arc<MemoryHostKeyStore>) {
    let store = Arc::new(MemoryHostKeyStore::new());
    (SshPool::new(config, store.clone()), store)
}

/// Installs `argv-dump`, which prints each argument followed by a NUL.
fn install_argv_dump(sshd: &TestSshd) {
    sshd.install_script(
        "argv-dump",
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done\n",
    );
}

#[tokio::test]
async fn runs_a_command_and_returns_its_output_and_status() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    let out = run(&pool, &target, &["echo", "hello", "world"])
        .await
        .unwrap();
    assert_eq!(out.stdout, b"hello world\n");
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.stdout_truncated && !out.stderr_truncated);

    let out = run(&pool, &target, &["true"]).await.unwrap();
    assert!(out.success());
}

#[tokio::test]
async fn every_corpus_argument_arrives_as_exactly_one_literal_argument() {
    let sshd = TestSshd::start();
    install_argv_dump(&sshd);
    let (pool, _) = new_pool(sshd.config());
    let long = "x'y\"z $(id) ".repeat(5_000);
    let corpus: Vec<String> = [
        "; rm -rf /",
        "$(id)",
        "`id`",
        "'",
        "\"",
        "''",
        "'\\''",
        "a b",
        "  ",
        "",
        "line1\nline2\n",
        "\r\n",
        "*",
        "/*",
        "?",
        "[a-z]*",
        "~",
        "~root",
        "$HOME",
        "${PATH}",
        "$((1+1))",
        "&& echo pwned",
        "|| true",
        "| cat /etc/passwd",
        "> /tmp/toolhost-pwned",
        "< /etc/passwd",
        "2>&1",
        "& sleep 5",
        "#not a comment",
        "!!",
        "-n",
        "--",
        "\\",
        "\\n",
        "\t",
        "é ü 漢字 🦀",
        "a=b",
        "{a,b}",
        "\x01\x07\x1b[31m",
        long.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut command = vec!["argv-dump".to_owned()];
    command.extend(corpus.iter().cloned());
    let out = pool
        .exec(&sshd.target("dev"), &command, ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        out.exit_code,
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    assert_eq!(got.pop().as_deref(), Some(""), "output ends with a NUL");
    assert_eq!(got.len(), corpus.len());
    for (want, got) in corpus.iter().zip(&got) {
        assert_eq!(want, got);
    }
    assert!(!std::path::Path::new("/tmp/toolhost-pwned").exists());
}

#[tokio::test]
async fn refuses_nul_and_option_like_program_names_before_connecting() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    // A NUL cannot be part of a Unix argument; a program name starting
    // with '-' would be an option to the `exec` in front of it.
    for bad in [&["echo", "a\0b"][..], &["-c", "id"][..]] {
        let err = pool
            .exec(&sshd.target("dev"), &argv(bad), ExecOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SshError::InvalidRequest(_)),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(pool.stats().connections_opened, 0);
}

#[tokio::test]
async fn stdin_round_trips_and_is_closed_when_absent() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    let input: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let out = pool
        .exec(
            &target,
            &argv(&["cat"]),
            ExecOptions {
                stdin: Some(input.clone()),
                max_output_bytes: Some(1_000_000),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, input);

    // Without stdin, `cat` sees EOF at once instead of hanging.
    let out = pool
        .exec(
            &target,
            &argv(&["cat"]),
            ExecOptions {
                timeout: Some(Duration::from_secs(5)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn reports_exit_codes_stderr_and_signals() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    let out = run(&pool, &target, &["sh", "-c", "echo oops >&2; exit 42"])
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(42));
    assert_eq!(out.stderr, b"oops\n");
    assert!(out.stdout.is_empty());

    // A resident shell (the default) reports a signal death as the shell
    // does, 128 + n; a session per exec reports the signal itself.
    let out = run(&pool, &target, &["sh", "-c", "kill -TERM $$"])
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(128 + 15), "{out:?}");
    assert_eq!(out.signal, None);
    let (sessions, _) = new_pool(SshConfig {
        exec_mode: ExecMode::Session,
        ..sshd.config()
    });
    let out = run(&sessions, &target, &["sh", "-c", "kill -TERM $$"])
        .await
        .unwrap();
    assert_eq!(out.signal.as_deref(), Some("TERM"), "{out:?}");
    assert_eq!(out.exit_code, None);
    assert_eq!(sessions.stats().resident_shells_started, 0);

    let out = run(&pool, &target, &["no-such-program-xyz"]).await.unwrap();
    assert_eq!(out.exit_code, Some(127));
}

#[tokio::test]
async fn caps_100_mb_of_output_and_flags_it() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let started = Instant::now();
    let out = pool
        .exec(
            &sshd.target("dev"),
            &argv(&["sh", "-c", "head -c 100000000 /dev/zero; echo done >&2"]),
            ExecOptions {
                max_output_bytes: Some(64 * 1024),
                timeout: Some(Duration::from_secs(60)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 64 * 1024);
    assert!(out.stdout.iter().all(|b| *b == 0));
    assert!(out.stdout_truncated);
    assert!(!out.stderr_truncated);
    eprintln!("100 MB capped in {:?}: {out:?}", started.elapsed());

    // The connection is still usable afterwards.
    let out = run(&pool, &sshd.target("dev"), &["echo", "ok"])
        .await
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");
}

#[tokio::test]
async fn a_timeout_kills_the_remote_command() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    // A unique duration so pgrep finds only this test's sleep.
    let marker = format!("100.{}", std::process::id());
    let started = Instant::now();
    let err = pool
        .exec(
            &sshd.target("dev"),
            &argv(&["sleep", &marker]),
            ExecOptions {
                timeout: Some(Duration::from_secs(1)),
                ..ExecOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    assert!(
        gone_within(&format!("sleep {marker}"), Duration::from_secs(3)),
        "remote sleep still running"
    );
}

#[tokio::test]
async fn pins_the_host_key_on_first_use_and_refuses_a_changed_one() {
    let mut sshd = TestSshd::start();
    let (pool, store) = new_pool(sshd.config());
    let target = sshd.target("dev");
    run(&pool, &target, &["true"]).await.unwrap();
    let pinned = store.pinned("dev").await.unwrap();
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0].key_type, "ssh-ed25519");

    sshd.change_host_key();
    let err = run(&pool, &target, &["true"]).await.unwrap_err();
    let SshError::HostKeyMismatch { expected, got, .. } = &err else {
        panic!("expected a host key mismatch, got {err:?}");
    };
    assert!(expected.contains(&pinned[0].fingerprint_sha256));
    assert_ne!(expected, got);
    // Refused again, not silently re-pinned.
    assert!(matches!(
        run(&pool, &target, &["true"]).await,
        Err(SshError::HostKeyMismatch { .. })
    ));

    // The admin re-trusts the device.
    assert_eq!(store.forget("dev").await.unwrap(), 1);
    run(&pool, &target, &["true"]).await.unwrap();
}

#[tokio::test]
async fn strict_mode_refuses_an_unknown_key_and_accepts_a_known_hosts_entry() {
    let sshd = TestSshd::start();
    let target = sshd.target("dev");
    let (strict, store) = new_pool(SshConfig {
        host_key_policy: HostKeyPolicy::Strict,
        ..sshd.config()
    });
    let err = run(&strict, &target, &["true"]).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
    assert!(store.pinned("dev").await.unwrap().is_empty());

    let known_hosts = sshd.dir().join("known_hosts");
    std::fs::write(&known_hosts, format!("{}\n", sshd.known_hosts_line())).unwrap();
    let (strict, store) = new_pool(SshConfig {
        host_key_policy: HostKeyPolicy::Strict,
        known_hosts_file: Some(known_hosts),
        ..sshd.config()
    });
    run(&strict, &target, &["true"]).await.unwrap();
    assert_eq!(store.pinned("dev").await.unwrap().len(), 1);
}

#[tokio::test]
async fn nothing_listening_fails_fast_with_connect_failed() {
    let sshd = TestSshd::start();
    let mut target = sshd.target("dev");
    target.port = {
        let l = std::net::TcpListener::bind((sshd.ip, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let (pool, _) = new_pool(sshd.config());
    let started = Instant::now();
    let err = run(&pool, &target, &["true"]).await.unwrap_err();
    assert!(matches!(err, SshError::ConnectFailed { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pool.stats().connect_failures, 1);
}

#[tokio::test]
async fn a_wrong_client_key_is_auth_failed() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(SshConfig {
        identity_file: Some(sshd.wrong_key.clone()),
        ..sshd.config()
    });
    let err = run(&pool, &sshd.target("dev"), &["true"])
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{err:?}");
    assert!(
        !err.to_string().contains(sshd.dir().to_str().unwrap()),
        "{err}"
    );

    let (pool, _) = new_pool(SshConfig {
        identity_file: None,
        ..sshd.config()
    });
    let err = run(&pool, &sshd.target("dev"), &["true"])
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn authenticates_with_rsa_ecdsa_and_passphrase_protected_keys() {
    let sshd = TestSshd::start();
    let rsa = sshd.add_client_key("client_rsa", "rsa", None);
    let ecdsa = sshd.add_client_key("client_ecdsa", "ecdsa", None);
    let locked = sshd.add_client_key("client_locked", "ed25519", Some("correct horse"));
    for (key, passphrase) in [(rsa, None), (ecdsa, None), (locked, Some("correct horse"))] {
        let (pool, _) = new_pool(SshConfig {
            identity_file: Some(key.clone()),
            identity_passphrase: passphrase.map(toolhost_ssh::Secret::new),
            ..sshd.config()
        });
        let out = run(&pool, &sshd.target("dev"), &["echo", "in"])
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(out.stdout, b"in\n");
    }
}

#[tokio::test]
async fn a_per_device_key_overrides_the_global_identity() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(SshConfig {
        identity_file: Some(sshd.wrong_key.clone()),
        ..sshd.config()
    });
    let mut target = sshd.target("dev");
    target.key_path = Some(sshd.client_key.clone());
    run(&pool, &target, &["true"]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sshd_fails_the_running_call_and_the_next_call_reconnects() {
    let mut sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    run(&pool, &target, &["true"]).await.unwrap();

    let running = {
        let pool = pool.clone();
        let target = target.clone();
        tokio::spawn(async move { run(&pool, &target, &["sleep", "30"]).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sshd.restart();
    let err = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the running call ends promptly")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, SshError::DeviceOffline { .. }), "{err:?}");

    let out = run(&pool, &target, &["echo", "back"]).await.unwrap();
    assert_eq!(out.stdout, b"back\n");
    assert_eq!(pool.stats().connections_opened, 2);
}

#[tokio::test]
async fn a_pooled_connection_that_died_idle_is_replaced_transparently() {
    let mut sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    run(&pool, &target, &["true"]).await.unwrap();
    sshd.restart();
    // Give the client a moment to notice, or not: either way the exec works.
    let out = run(&pool, &target, &["echo", "again"]).await.unwrap();
    assert_eq!(out.stdout, b"again\n");
    assert_eq!(pool.stats().connections_opened, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_execs_share_one_connection() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(SshConfig {
        max_connections_per_device: 1,
        max_channels_per_connection: 16,
        ..sshd.config()
    });
    let target = sshd.target("dev");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let pool = pool.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            run(&pool, &target, &["echo", &i.to_string()]).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task.await.unwrap().unwrap();
        assert_eq!(out.stdout, format!("{i}\n").into_bytes());
    }
    let stats = pool.stats();
    assert_eq!(stats.connections_opened, 1, "{stats:?}");
    assert_eq!(stats.execs, 32);
}

#[tokio::test]
async fn idle_connections_expire() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(SshConfig {
        idle_expiry_ms: 300,
        ..sshd.config()
    });
    let target = sshd.target("dev");
    run(&pool, &target, &["true"]).await.unwrap();
    assert_eq!(pool.stats().connections_open, 1);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(pool.stats().connections_open, 0);
    run(&pool, &target, &["true"]).await.unwrap();
    assert_eq!(pool.stats().connections_opened, 2);
}

/// Whether a process whose command line contains `pattern` still runs,
/// polled until `within` passes.
fn gone_within(pattern: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let found = std::process::Command::new("pgrep")
            .args(["-f", pattern])
            .output()
            .expect("pgrep")
            .status
            .success();
        if !found {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_resident_shell_serves_many_execs_and_drops_stray_output() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    for i in 0..20 {
        let out = run(&pool, &target, &["echo", &i.to_string()])
            .await
            .unwrap();
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
        assert_eq!(out.exit_code, Some(0));
    }
    let stats = pool.stats();
    assert_eq!(stats.resident_shells_started, 1, "{stats:?}");
    assert_eq!(stats.execs, 20);

    // A background process left behind keeps writing to the shell's
    // streams after its command ended; none of it reaches the next exec.
    let out = run(
        &pool,
        &target,
        &[
            "sh",
            "-c",
            "(sleep 0.2; echo stray; echo stray >&2) & echo first",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"first\n");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = run(&pool, &target, &["echo", "next"]).await.unwrap();
    assert_eq!(out.stdout, b"next\n");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(pool.stats().resident_shells_started, 1);

    // The program's stdin is /dev/null, never the shell's script.
    let out = run(&pool, &target, &["cat"]).await.unwrap();
    assert!(out.stdout.is_empty(), "{out:?}");
    let out = run(&pool, &target, &["echo", "still-there"]).await.unwrap();
    assert_eq!(out.stdout, b"still-there\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_exec_kills_the_remote_command_in_both_modes() {
    let sshd = TestSshd::start();
    for (i, mode) in [ExecMode::Resident, ExecMode::Session]
        .into_iter()
        .enumerate()
    {
        let (pool, _) = new_pool(SshConfig {
            exec_mode: mode,
            ..sshd.config()
        });
        let marker = format!("200.{}{i}", std::process::id());
        // The caller gives up after 500 ms, long before the command's own
        // 30 s deadline: the future is dropped, as when an MCP client
        // cancels the tool call.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(500),
            run(&pool, &sshd.target("dev"), &["sleep", &marker]),
        )
        .await;
        assert!(cancelled.is_err(), "{mode:?}: the exec should still run");
        assert!(
            gone_within(&format!("sleep {marker}"), Duration::from_secs(5)),
            "{mode:?}: the remote sleep outlived its cancelled exec"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_shell_that_will_not_stop_writing_is_killed_not_drained_forever() {
    let sshd = TestSshd::start();
    let (pool, _) = new_pool(sshd.config());
    let target = sshd.target("dev");
    let word = format!("stray-{}", std::process::id());
    // The command ends at once; 300 ms later a process it left behind
    // starts writing endlessly into the parked shell's streams.
    let out = run(
        &pool,
        &target,
        &["sh", "-c", &format!("(sleep 0.3; exec yes {word}) &")],
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The connection is not stalled, the next exec gets a fresh shell, and
    // the writer (in the old shell's process group) is killed.
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        run(&pool, &target, &["echo", "next"]),
    )
    .await
    .expect("the connection is not stalled")
    .unwrap();
    assert_eq!(out.stdout, b"next\n");
    assert_eq!(pool.stats().resident_shells_started, 2);
    assert!(
        gone_within(&format!("yes {word}"), Duration::from_secs(5)),
        "the endless writer survived"
    );
}
