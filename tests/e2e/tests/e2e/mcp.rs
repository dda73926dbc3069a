//! MCP end to end: a real rmcp client against the real binary.

use std::time::Duration;

use rmcp::model::{NumberOrString, ProgressToken, RequestMetaObject};
use serde_json::json;
use toolhost_e2e::{
    Heard, McpClient, Revision, ServerOptions, TestServer, bundled, fixture, text_of,
};

fn opts() -> ServerOptions {
    ServerOptions {
        plugins: vec![bundled("utility"), fixture("echo")],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_session_client_initializes_lists_calls_and_hears_progress() {
    let server = TestServer::start(opts()).await.expect("server");
    let token = server.token("alice", "read");
    let mut client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("connect");

    let info = client.service.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("toolhost")
    );

    let names = client.tool_names().await.expect("list");
    for want in ["echo", "whoami", "progress", "list_devices", "get_device"] {
        assert!(
            names.contains(&want.to_owned()),
            "{want} missing from {names:?}"
        );
    }

    let r = client
        .call("echo", json!({"text": "hello"}))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(false));
    assert_eq!(text_of(&r), "hello");

    let r = client.call("whoami", json!({})).await.expect("whoami");
    assert!(text_of(&r).contains("alice"), "{}", text_of(&r));

    // Progress: ask with a token and hear every step before the result.
    let mut params = rmcp::model::CallToolRequestParams::new("progress")
        .with_arguments(json!({"steps": 3}).as_object().cloned().expect("object"));
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    params.meta = Some(meta);
    let r = client
        .service
        .call_tool(params)
        .await
        .expect("progress call");
    assert_eq!(r.is_error, Some(false));
    let mut steps = Vec::new();
    while let Ok(h) = client.heard.try_recv() {
        if let Heard::Progress(p) = h {
            assert_eq!(p.total, Some(3.0));
            steps.push(p.progress);
        }
    }
    assert_eq!(
        steps,
        vec![1.0, 2.0, 3.0],
        "progress heard before the result"
    );
    client.service.cancel().await.expect("close");
}

#[tokio::test]
async fn a_stateless_2026_07_28_client_discovers_and_calls() {
    let server = TestServer::start(opts()).await.expect("server");
    let token = server.token("bob", "read");
    let client = McpClient::connect(&server.mcp_url(), &token, Revision::Stateless)
        .await
        .expect("discover");
    let names = client.tool_names().await.expect("list");
    assert!(names.contains(&"echo".to_owned()));
    let r = client
        .call("echo", json!({"text": "stateless"}))
        .await
        .expect("call");
    assert_eq!(text_of(&r), "stateless");
    client.service.cancel().await.expect("close");
}

#[tokio::test]
async fn errors_take_the_right_channel() {
    let server = TestServer::start(opts()).await.expect("server");
    let token = server.token("carol", "read");
    let client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("connect");

    // Unknown tool and invalid arguments are JSON-RPC errors (-32602).
    let e = client
        .call("no_such_tool", json!({}))
        .await
        .expect_err("unknown");
    assert!(format!("{e:#}").contains("unknown tool"), "{e:#}");
    let e = client
        .call("echo", json!({"text": 5}))
        .await
        .expect_err("invalid");
    assert!(format!("{e:#}").contains("invalid arguments"), "{e:#}");
    let e = client
        .call("echo", json!({}))
        .await
        .expect_err("missing field");
    assert!(format!("{e:#}").contains("text"), "{e:#}");

    // A tool failure is a result with isError.
    let r = client
        .call("get_device", json!({"device": "nope"}))
        .await
        .expect("tool error is a result");
    assert_eq!(r.is_error, Some(true));
    assert!(text_of(&r).contains("nope"), "{}", text_of(&r));
    client.service.cancel().await.expect("close");
}

#[tokio::test]
async fn a_python_plugin_serves_tools_through_the_same_contract() {
    let server = TestServer::start(ServerOptions {
        plugins: vec![fixture("py-hello")],
        ..Default::default()
    })
    .await
    .expect("server");
    let token = server.token("dora", "read");
    let client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("connect");
    let r = client
        .call("py_greet", json!({"name": "Ada"}))
        .await
        .expect("call");
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let text = text_of(&r);
    assert!(
        text.contains("Hello, Ada!") && text.contains("dora"),
        "{text}"
    );
    let r = client
        .call("py_word_count", json!({"text": "one two  three"}))
        .await
        .expect("call");
    assert_eq!(r.structured_content, Some(json!({"words": 3})));
    client.service.cancel().await.expect("close");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
