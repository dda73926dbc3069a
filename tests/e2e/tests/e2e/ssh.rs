//! The ssh capability end to end: a real OpenSSH sshd on 127.0.0.x with
//! generated keys, devices registered over REST, and the system, network and
//! utility plugins' tools called through MCP. /proc, df, ip, ss, ps and lsblk
//! are this machine's own. Programs the machine lacks or cannot run here
//! (smartctl; journalctl, systemctl without a running systemd; docker without
//! an engine) get stand-ins from tests/e2e/standins on the sshd's PATH, which
//! print output in the documented upstream formats.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use toolhost_e2e::{McpClient, Revision, ServerOptions, TestServer, bundled, repo_root};
use toolhost_ssh::testing::TestSshd;

/// Installs a stand-in from tests/e2e/standins into the sshd's PATH.
fn standin(sshd: &TestSshd, name: &str) {
    let body = std::fs::read_to_string(repo_root().join("tests/e2e/standins").join(name))
        .expect("stand-in script");
    sshd.install_script(name, &body);
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

fn docker_engine_running() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn server_for(sshd: &TestSshd) -> TestServer {
    TestServer::start(ServerOptions {
        plugins: vec![bundled("utility"), bundled("system"), bundled("network")],
        extra_config: format!(
            "[ssh]\nidentity_file = {:?}\nconnect_timeout_ms = 3000\n",
            sshd.client_key
        ),
    })
    .await
    .expect("server")
}

async fn register(server: &TestServer, name: &str, host: &str, port: u16, user: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/devices", server.url))
        .bearer_auth(server.token("root", "admin"))
        .json(&json!({"name": name, "hostname": host, "port": port, "username": user}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").to_owned()
}

fn structured(r: &rmcp::model::CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "{r:?}");
    r.structured_content.clone().expect("structured output")
}

#[tokio::test]
async fn every_system_network_and_utility_tool_runs_against_a_real_sshd() {
    let sshd = TestSshd::start();
    if !systemd_running() {
        standin(&sshd, "journalctl");
        standin(&sshd, "systemctl");
    }
    if !docker_engine_running() {
        standin(&sshd, "docker");
    }
    let server = server_for(&sshd).await;
    register(&server, "box", &sshd.ip.to_string(), sshd.port, &sshd.user).await;
    let client = McpClient::connect(
        &server.mcp_url(),
        &server.token("ops", "read"),
        Revision::Sessions,
    )
    .await
    .expect("connect");

    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert_eq!(s["ok"], true, "{s}");

    let s = structured(
        &client
            .call("get_device_info", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert!(s.to_string().contains("kernel"), "{s}");

    let s = structured(
        &client
            .call(
                "get_system_info",
                json!({"device": "box", "top_processes": 5}),
            )
            .await
            .expect("call"),
    );
    // Real numbers from this machine's /proc and df, not zeros.
    let positive = |v: &Value| v.as_f64().is_some_and(|x| x > 0.0);
    assert!(positive(&s["cpu"]["cores"]), "cores: {s}");
    assert!(positive(&s["memory"]["total_bytes"]), "memory: {s}");
    assert!(positive(&s["uptime_seconds"]), "uptime: {s}");
    let disks = s["disks"].as_array().expect("disks");
    assert!(
        disks.iter().any(|d| positive(&d["size_bytes"])),
        "disks: {s}"
    );
    let net = s["network"].to_string();
    assert!(net.contains("\"lo\""), "network counters: {s}");
    assert!(
        s["top_processes"].as_array().is_some_and(|p| !p.is_empty()),
        "processes: {s}"
    );

    // smartctl is not installed here: a clear per-disk result, not a failure.
    let s = structured(
        &client
            .call("get_drive_health", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert!(
        s.to_string().contains("smartctl_missing")
            || s["disks"].as_array().is_some_and(Vec::is_empty),
        "{s}"
    );
    standin(&sshd, "smartctl");
    let s = structured(
        &client
            .call("get_drive_health", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert!(!s.to_string().contains("smartctl_missing"), "{s}");

    for (tool, args) in [
        ("get_system_logs", json!({"device": "box", "lines": 5})),
        ("list_services", json!({"device": "box"})),
        ("list_processes", json!({"device": "box", "limit": 5})),
        ("get_network_interfaces", json!({"device": "box"})),
        ("get_listening_ports", json!({"device": "box"})),
        ("get_network_topology", json!({"device": "box"})),
        ("list_docker_networks", json!({"device": "box"})),
    ] {
        let r = client.call(tool, args).await.expect(tool);
        assert_eq!(r.is_error, Some(false), "{tool}: {r:?}");
    }
    // The sshd we talk to listens on its own port: the ports tool sees it.
    let s = structured(
        &client
            .call("get_listening_ports", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert!(s.to_string().contains(&sshd.port.to_string()), "{s}");
}

#[tokio::test]
async fn connectivity_failures_are_reported_distinctly() {
    let mut sshd = TestSshd::start();
    let server = server_for(&sshd).await;
    let id = register(&server, "box", &sshd.ip.to_string(), sshd.port, &sshd.user).await;
    // Nothing listens on port 1 of 127.0.0.1.
    register(&server, "nothing", "127.0.0.1", 1, &sshd.user).await;
    register(
        &server,
        "stranger",
        &sshd.ip.to_string(),
        sshd.port,
        "nobody-here",
    )
    .await;
    let client = McpClient::connect(
        &server.mcp_url(),
        &server.token("ops", "read"),
        Revision::Sessions,
    )
    .await
    .expect("connect");
    let kind = |s: &Value| s["error_kind"].as_str().unwrap_or("").to_owned();

    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert_eq!(s["ok"], true, "{s}");
    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "nothing"}))
            .await
            .expect("call"),
    );
    assert_eq!(kind(&s), "connect-failed", "{s}");
    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "stranger"}))
            .await
            .expect("call"),
    );
    assert_eq!(kind(&s), "auth-failed", "{s}");
    let r = client
        .call("test_connectivity", json!({"device": "ghost"}))
        .await
        .expect("call");
    let text = format!("{r:?}");
    assert!(
        text.contains("unknown-device") || text.contains("not found") || text.contains("ghost"),
        "{text}"
    );

    // The device's host key changes: refused until an admin re-trusts it.
    sshd.change_host_key();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert_eq!(kind(&s), "host-key-mismatch", "{s}");
    let r = reqwest::Client::new()
        .delete(format!("{}/api/devices/{id}/host-keys", server.url))
        .bearer_auth(server.token("root", "admin"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s = structured(
        &client
            .call("test_connectivity", json!({"device": "box"}))
            .await
            .expect("call"),
    );
    assert_eq!(s["ok"], true, "re-trusted: {s}");
}
