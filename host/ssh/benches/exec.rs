//! Exec latency and throughput against a real local sshd, next to OpenSSH
//! and a local spawn, measured in the same run. `cargo bench -p toolhost-ssh`.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use toolhost_ssh::testing::TestSshd;
use toolhost_ssh::{ExecOptions, MemoryHostKeyStore, SshConfig, SshPool, SshTarget};

const N_LOCAL: usize = 2000;
const N_POOLED: usize = 2000;
const N_FRESH: usize = 50;
const N_OPENSSH: usize = 20;
const N_CONTROL_MASTER: usize = 200;
const CONCURRENCY: usize = 16;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(5);

struct Row {
    name: String,
    n: usize,
    p50: Duration,
    p99: Duration,
}

fn row(name: &str, mut samples: Vec<Duration>) -> Row {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Row {
        name: name.into(),
        n: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn true_argv() -> Vec<String> {
    vec!["true".to_owned()]
}

async fn time_n<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

fn ssh_command(sshd: &TestSshd) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args([
        "-q",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
    ])
    .args([
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
    ])
    .arg(&sshd.client_key)
    .args(["-p", &sshd.port.to_string()])
    .arg(format!("{}@{}", sshd.user, sshd.ip))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

async fn throughput(pool: &SshPool, target: &SshTarget) -> (f64, Vec<Duration>) {
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + THROUGHPUT_WINDOW;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let pool = pool.clone();
        let target = target.clone();
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < stop_at {
                let t = Instant::now();
                let out = pool
                    .exec(&target, &true_argv(), ExecOptions::default())
                    .await
                    .expect("exec");
                assert!(out.success());
                lat.push(t.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (rate, all)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sshd = TestSshd::start();
    let target = sshd.target("bench");
    let mut rows = Vec::new();

    // Floor: fork+exec of `true` here.
    for _ in 0..50 {
        let _ = tokio::process::Command::new("true").status().await;
    }
    rows.push(row(
        "local spawn `true` (tokio::process)",
        time_n(N_LOCAL, || async {
            let status = tokio::process::Command::new("true")
                .status()
                .await
                .expect("spawn");
            assert!(status.success());
        })
        .await,
    ));

    let pool = SshPool::new(sshd.config(), Arc::new(MemoryHostKeyStore::new()));
    for _ in 0..50 {
        pool.exec(&target, &true_argv(), ExecOptions::default())
            .await
            .expect("warm-up");
    }
    rows.push(row(
        "toolhost pooled exec `true`",
        time_n(N_POOLED, || async {
            let out = pool
                .exec(&target, &true_argv(), ExecOptions::default())
                .await
                .expect("exec");
            assert!(out.success());
        })
        .await,
    ));

    rows.push(row(
        "toolhost fresh connection + exec `true`",
        time_n(N_FRESH, || async {
            let fresh = SshPool::new(sshd.config(), Arc::new(MemoryHostKeyStore::new()));
            let out = fresh
                .exec(&target, &true_argv(), ExecOptions::default())
                .await
                .expect("exec");
            assert!(out.success());
        })
        .await,
    ));

    rows.push(row(
        "OpenSSH `ssh host true`",
        time_n(N_OPENSSH, || async {
            let status = ssh_command(&sshd).arg("true").status().await.expect("ssh");
            assert!(status.success());
        })
        .await,
    ));

    let socket = sshd.dir().join("cm.sock");
    let master = ssh_command(&sshd)
        .args(["-M", "-N", "-o", "ControlPersist=no", "-S"])
        .arg(&socket)
        .spawn()
        .expect("ssh master");
    let wait_from = Instant::now();
    while !socket.exists() && wait_from.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rows.push(row(
        "OpenSSH ControlMaster `ssh host true`",
        time_n(N_CONTROL_MASTER, || async {
            let status = ssh_command(&sshd)
                .arg("-S")
                .arg(&socket)
                .arg("true")
                .status()
                .await
                .expect("ssh");
            assert!(status.success());
        })
        .await,
    ));
    drop(master);

    println!();
    println!(
        "exec latency of `true` against sshd on {} (OpenSSH)",
        sshd.addr()
    );
    println!("{:<44} {:>6} {:>10} {:>10}", "", "n", "p50 ms", "p99 ms");
    for r in &rows {
        println!(
            "{:<44} {:>6} {:>10} {:>10}",
            r.name,
            r.n,
            ms(r.p50),
            ms(r.p99)
        );
    }
    let local = rows[0].p50.as_secs_f64();
    let pooled = rows[1].p50.as_secs_f64();
    println!(
        "pooled p50 / local spawn p50 = {:.2}x; fresh OpenSSH p50 / pooled p50 = {:.0}x",
        pooled / local,
        rows[3].p50.as_secs_f64() / pooled
    );

    println!();
    println!(
        "throughput, c={CONCURRENCY} execs of `true` against one device for {}s",
        THROUGHPUT_WINDOW.as_secs()
    );
    for (label, config) in [
        ("default pool (4 conns x 8 channels)", sshd.config()),
        (
            "one connection x 16 channels",
            SshConfig {
                max_connections_per_device: 1,
                max_channels_per_connection: CONCURRENCY,
                ..sshd.config()
            },
        ),
    ] {
        let pool = SshPool::new(config, Arc::new(MemoryHostKeyStore::new()));
        pool.exec(&target, &true_argv(), ExecOptions::default())
            .await
            .expect("warm-up");
        let (rate, lat) = throughput(&pool, &target).await;
        let r = row(label, lat);
        println!(
            "{:<44} {:>8.0} execs/s   p50 {} ms  p99 {} ms  connections {}",
            label,
            rate,
            ms(r.p50),
            ms(r.p99),
            pool.stats().connections_opened
        );
    }
}
