//! `get_system_info` end to end: an MCP client → toolhost (release build) →
//! the system plugin → the ssh capability → a real OpenSSH sshd on
//! 127.0.0.x, for both exec modes. The tool samples /proc/stat twice
//! [`SAMPLE_INTERVAL_MS`] apart, so the figure is that interval plus the
//! rest of the stack; the rest is printed separately.
//!
//! ```text
//! cargo build --release -p toolhost
//! E2E_SERVER_LOG=warn cargo bench -p toolhost-e2e --bench system_info
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use toolhost_e2e::{McpClient, Revision, ServerOptions, TestServer, bundled};
use toolhost_ssh::testing::TestSshd;

/// Sequential calls per mode.
const CALLS: usize = 40;
/// Concurrent clients in the throughput run.
const CONCURRENCY: usize = 8;
/// Length of the throughput run.
const WINDOW: Duration = Duration::from_secs(5);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

async fn register(server: &TestServer, sshd: &TestSshd) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/devices", server.url))
        .bearer_auth(server.token("root", "admin"))
        .json(&json!({
            "name": "box",
            "hostname": sshd.ip.to_string(),
            "port": sshd.port,
            "username": sshd.user,
        }))
        .send()
        .await
        .expect("register the device");
    assert!(r.status().is_success(), "register: {}", r.status());
}

/// One call; returns the wall time and the plugin's own sample interval.
async fn call(client: &McpClient) -> (Duration, Duration) {
    let started = Instant::now();
    let r = client
        .call("get_system_info", json!({"device": "box"}))
        .await
        .expect("call");
    let took = started.elapsed();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let s: Value = r.structured_content.expect("structured output");
    let interval = s["cpu"]["sample_interval_ms"]
        .as_u64()
        .expect("sample_interval_ms");
    (took, Duration::from_millis(interval))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sshd = TestSshd::start();
    println!(
        "get_system_info through MCP (2025-11-25 session) against sshd on {}",
        sshd.addr()
    );
    println!(
        "{:<10} {:>4} {:>9} {:>9} {:>9} {:>18} {:>12}",
        "exec mode", "n", "p50 ms", "p90 ms", "p99 ms", "p50 minus sample", "calls/s c=8"
    );
    for mode in ["resident", "session"] {
        let server = TestServer::start(ServerOptions {
            plugins: vec![bundled("utility"), bundled("system")],
            extra_config: format!(
                "[ssh]\nidentity_file = {:?}\nexec_mode = {mode:?}\n",
                sshd.client_key
            ),
        })
        .await
        .expect("server (build it first: cargo build --release -p toolhost)");
        register(&server, &sshd).await;
        let client = Arc::new(
            McpClient::connect(
                &server.mcp_url(),
                &server.token("ops", "read"),
                Revision::Sessions,
            )
            .await
            .expect("connect"),
        );
        for _ in 0..3 {
            call(&client).await;
        }
        let mut took = Vec::with_capacity(CALLS);
        let mut beyond_sample = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let (t, interval) = call(&client).await;
            took.push(t);
            beyond_sample.push(t.saturating_sub(interval));
        }
        took.sort();
        beyond_sample.sort();

        let done = Arc::new(AtomicU64::new(0));
        let stop_at = Instant::now() + WINDOW;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (client, done) = (Arc::clone(&client), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                while Instant::now() < stop_at {
                    call(&client).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.expect("worker");
        }
        let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{:<10} {:>4} {:>9.1} {:>9.1} {:>9.1} {:>18.1} {:>12.1}",
            mode,
            took.len(),
            ms(quantile(&took, 0.5)),
            ms(quantile(&took, 0.9)),
            ms(quantile(&took, 0.99)),
            ms(quantile(&beyond_sample, 0.5)),
            rate
        );
    }
}
