//! Exec latency and throughput against a real local sshd, next to OpenSSH
//! and a local spawn, measured in the same run, with the CPU each side used.
//! `cargo bench -p toolhost-ssh --bench exec`.
//!
//! CPU is read from /proc: the client is this process (user + system); the
//! server is the sshd listener and every process under it, children that
//! exited included (their time is in the parents' `cutime`/`cstime`), so
//! the per-exec sessions and login shells count.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use toolhost_ssh::testing::{MAX_LISTEN_ADDRESSES, TestSshd, descendants};
use toolhost_ssh::{ExecMode, ExecOptions, MemoryHostKeyStore, SshConfig, SshPool, SshTarget};

const N_LOCAL: usize = 2000;
const N_POOLED: usize = 2000;
const N_FRESH: usize = 50;
const N_OPENSSH: usize = 20;
const N_CONTROL_MASTER: usize = 200;
const CONCURRENCY: usize = 16;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(5);
/// Devices (loopback addresses 127.0.1.1..=N) in the fleet run.
const FLEET_DEVICES: u8 = 50;

/// CPU counters at one instant.
struct CpuMark {
    at: Instant,
    client_ticks: u64,
    server_ticks: u64,
    machine_busy_ticks: u64,
}

/// CPU used between two marks, in cores (CPU seconds per wall second).
struct CpuUse {
    client: f64,
    server: f64,
    machine: f64,
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime (+ cutime + cstime when `reaped` is set) of `pid`.
fn stat_ticks(pid: &str, reaped: bool) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    // Fields after the command name start at field 3 (state); utime is 14.
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse().ok())
        .collect();
    let own = f.first().copied().unwrap_or(0) + f.get(1).copied().unwrap_or(0);
    if reaped {
        own + f.get(2).copied().unwrap_or(0) + f.get(3).copied().unwrap_or(0)
    } else {
        own
    }
}

fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    total - idle
}

fn cpu_mark(sshds: &[&TestSshd]) -> CpuMark {
    let mut server = 0;
    for sshd in sshds {
        let root = sshd.pid().expect("sshd running");
        server += stat_ticks(&root.to_string(), true);
        for pid in descendants(root) {
            server += stat_ticks(&pid.to_string(), true);
        }
    }
    CpuMark {
        at: Instant::now(),
        client_ticks: stat_ticks("self", false),
        server_ticks: server,
        machine_busy_ticks: machine_busy_ticks(),
    }
}

fn cpu_since(sshds: &[&TestSshd], start: &CpuMark) -> CpuUse {
    let end = cpu_mark(sshds);
    let hz = clock_ticks_per_second();
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let cores = |a: u64, b: u64| b.saturating_sub(a) as f64 / hz / wall;
    CpuUse {
        client: cores(start.client_ticks, end.client_ticks),
        server: cores(start.server_ticks, end.server_ticks),
        machine: cores(start.machine_busy_ticks, end.machine_busy_ticks),
    }
}

fn cpu_line(cpu: &CpuUse, rate: f64) -> String {
    let per = |cores: f64| cores / rate * 1e6;
    format!(
        "CPU: client {:.2} cores ({:.0} us/exec), sshd+sessions {:.2} cores ({:.0} us/exec), \
         whole machine {:.2} of 2 cores",
        cpu.client,
        per(cpu.client),
        cpu.server,
        per(cpu.server),
        cpu.machine
    )
}

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

/// `workers` tasks exec `true` in a loop for [`THROUGHPUT_WINDOW`]; worker
/// `i` uses `targets[i % targets.len()]`.
async fn throughput(pool: &SshPool, targets: &[SshTarget], workers: usize) -> (f64, Vec<Duration>) {
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + THROUGHPUT_WINDOW;
    let mut tasks = Vec::new();
    for i in 0..workers {
        let pool = pool.clone();
        let target = targets[i % targets.len()].clone();
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

    let mut pooled_cpu = Vec::new();
    for (label, mode) in [
        ("toolhost pooled exec `true` (resident)", ExecMode::Resident),
        ("toolhost pooled exec `true` (session)", ExecMode::Session),
    ] {
        let config = SshConfig {
            exec_mode: mode,
            ..sshd.config()
        };
        let pool = SshPool::new(config, Arc::new(MemoryHostKeyStore::new()));
        for _ in 0..50 {
            pool.exec(&target, &true_argv(), ExecOptions::default())
                .await
                .expect("warm-up");
        }
        let mark = cpu_mark(&[&sshd]);
        let started = Instant::now();
        rows.push(row(
            label,
            time_n(N_POOLED, || async {
                let out = pool
                    .exec(&target, &true_argv(), ExecOptions::default())
                    .await
                    .expect("exec");
                assert!(out.success());
            })
            .await,
        ));
        let rate = N_POOLED as f64 / started.elapsed().as_secs_f64();
        pooled_cpu.push((label, rate, cpu_since(&[&sshd], &mark)));
    }

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
    let fresh_openssh = rows[4].p50.as_secs_f64();
    for r in &rows[1..3] {
        let pooled = r.p50.as_secs_f64();
        println!(
            "{}: p50 / local spawn p50 = {:.2}x; fresh OpenSSH p50 / its p50 = {:.0}x",
            r.name,
            pooled / local,
            fresh_openssh / pooled
        );
    }
    for (label, rate, cpu) in &pooled_cpu {
        println!("{label}, one at a time: {}", cpu_line(cpu, *rate));
    }

    println!();
    println!(
        "throughput, c={CONCURRENCY} execs of `true` against one device for {}s",
        THROUGHPUT_WINDOW.as_secs()
    );
    for (label, config) in [
        ("default pool (resident, 4 conns x 8 ch)", sshd.config()),
        (
            "session per exec (4 conns x 8 ch)",
            SshConfig {
                exec_mode: ExecMode::Session,
                ..sshd.config()
            },
        ),
        (
            "resident, one connection x 16 channels",
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
        let mark = cpu_mark(&[&sshd]);
        let (rate, lat) = throughput(&pool, std::slice::from_ref(&target), CONCURRENCY).await;
        let cpu = cpu_since(&[&sshd], &mark);
        let r = row(label, lat);
        println!(
            "{:<44} {:>8.0} execs/s   p50 {} ms  p99 {} ms  connections {}",
            label,
            rate,
            ms(r.p50),
            ms(r.p99),
            pool.stats().connections_opened
        );
        println!("    {}", cpu_line(&cpu, rate));
    }
    drop(sshd);

    // A fleet: 127.0.1.1..=N, each address a device with its own pooled
    // connection; sshd processes of up to MAX_LISTEN_ADDRESSES addresses
    // each serve them (4 for 50).
    let ips: Vec<Ipv4Addr> = (1..=FLEET_DEVICES)
        .map(|i| Ipv4Addr::new(127, 0, 1, i))
        .collect();
    let fleet: Vec<TestSshd> = ips
        .chunks(MAX_LISTEN_ADDRESSES)
        .map(TestSshd::start_on)
        .collect();
    let fleet_refs: Vec<&TestSshd> = fleet.iter().collect();
    let mut targets = Vec::new();
    for sshd in &fleet {
        for ip in std::iter::once(&sshd.ip).chain(&sshd.extra_ips) {
            let id = format!("fleet-{ip}");
            targets.push(SshTarget {
                device_id: id.clone(),
                name: id,
                host: ip.to_string(),
                key_path: Some(sshd.client_key.clone()),
                ..sshd.target("fleet")
            });
        }
    }
    let pool = SshPool::new(
        SshConfig {
            identity_file: None,
            ..fleet[0].config()
        },
        Arc::new(MemoryHostKeyStore::new()),
    );
    for t in &targets {
        pool.exec(t, &true_argv(), ExecOptions::default())
            .await
            .expect("warm-up");
    }
    println!();
    println!(
        "throughput, execs of `true` against {FLEET_DEVICES} devices (127.0.1.1-{FLEET_DEVICES}, {} \
         sshd processes) for {}s",
        fleet.len(),
        THROUGHPUT_WINDOW.as_secs()
    );
    for workers in [CONCURRENCY, usize::from(FLEET_DEVICES)] {
        let mark = cpu_mark(&fleet_refs);
        let (rate, lat) = throughput(&pool, &targets, workers).await;
        let cpu = cpu_since(&fleet_refs, &mark);
        let r = row("", lat);
        println!(
            "{:<44} {:>8.0} execs/s   p50 {} ms  p99 {} ms  connections {}",
            format!("c={workers} over {FLEET_DEVICES} devices"),
            rate,
            ms(r.p50),
            ms(r.p99),
            pool.stats().connections_opened
        );
        println!("    {}", cpu_line(&cpu, rate));
    }
}
