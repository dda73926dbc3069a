//! Hostile plugins: every way a guest can misbehave ends in a clean isError
//! result naming what happened, while a parallel normal call succeeds.

use std::time::{Duration, Instant};

use serde_json::json;
use toolhost_e2e::{McpClient, Revision, ServerOptions, TestServer, fixture, text_of};

/// Generous bound for a hostile call to come back (the configured limits
/// are far below it; this only stops a broken host from hanging the test).
const BOUND: Duration = Duration::from_secs(30);

#[tokio::test]
async fn every_misbehaviour_is_contained() {
    let server = TestServer::start(ServerOptions {
        plugins: vec![fixture("hostile")],
        extra_config: "[limits]\ncpu_ms = 500\nwall_ms = 2000\nmax_memory_bytes = 33554432\nmax_output_bytes = 1048576\n".into(),
    })
    .await
    .expect("server");
    let token = server.token("mallory", "read");
    let client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("connect");

    let cases = [
        ("spin", "CPU time limit"),
        ("membomb", "memory limit"),
        ("recurse", "stack limit"),
        ("huge_output", "output size limit"),
        ("sleep", "wall-clock time limit"),
        ("panic", "panicked"),
        ("trap", "crashed"),
    ];
    for (tool, expect) in cases {
        let started = Instant::now();
        let (bad, good) = tokio::join!(
            tokio::time::timeout(BOUND, client.call(tool, json!({}))),
            client.call("ok", json!({})),
        );
        let bad = bad
            .unwrap_or_else(|_| panic!("{tool} did not return"))
            .expect(tool);
        assert_eq!(bad.is_error, Some(true), "{tool}: {bad:?}");
        let text = text_of(&bad);
        assert!(text.contains(expect), "{tool}: {text}");
        let good = good.expect("parallel ok call");
        assert_eq!(good.is_error, Some(false));
        assert_eq!(text_of(&good), "fine");
        eprintln!("{tool}: {:?} -> {text}", started.elapsed());
    }

    // The host is still healthy afterwards.
    let r = client.call("ok", json!({})).await.expect("ok");
    assert_eq!(text_of(&r), "fine");
}

#[tokio::test]
async fn destructive_tools_need_the_write_scope() {
    let server = TestServer::start(ServerOptions {
        plugins: vec![fixture("hostile")],
        ..Default::default()
    })
    .await
    .expect("server");
    let reader = McpClient::connect(
        &server.mcp_url(),
        &server.token("r", "read"),
        Revision::Sessions,
    )
    .await
    .expect("connect");
    let e = reader.call("wipe", json!({})).await.expect_err("forbidden");
    assert!(format!("{e:#}").contains("write scope"), "{e:#}");

    let writer = McpClient::connect(
        &server.mcp_url(),
        &server.token("w", "read write"),
        Revision::Sessions,
    )
    .await
    .expect("connect");
    let r = writer.call("wipe", json!({})).await.expect("allowed");
    assert_eq!(text_of(&r), "wiped");
}
