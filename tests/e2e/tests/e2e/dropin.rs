//! Drop-in plugins: add, replace under load, remove, and reject bad files
//! while the server runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use toolhost_e2e::{
    Heard, McpClient, Revision, ServerOptions, TestServer, drop_in, fixture, text_of,
};

/// Bound on how long any single drop-in step may take to show up.
const STEP: Duration = Duration::from_secs(60);
/// Calls each load task makes while the plugin is replaced.
const CALLS_PER_TASK: usize = 150;
const LOAD_TASKS: usize = 4;

async fn wait_for_tools(client: &McpClient, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let names = client.tool_names().await.expect("list");
        if pred(&names) || tokio::time::Instant::now() > deadline {
            return names;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn plugins_come_and_go_without_a_restart() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let dir = server.plugins_dir();
    let token = server.token("ops", "read");
    let mut client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("connect");
    assert!(
        !client
            .tool_names()
            .await
            .expect("list")
            .contains(&"echo".into())
    );

    // Add: the session hears list_changed and the tool works.
    drop_in(&fixture("echo"), &dir, "echo.wasm").expect("drop");
    client
        .wait_for(STEP, |h| matches!(h, Heard::ToolListChanged))
        .await
        .expect("list_changed after add");
    let names = wait_for_tools(&client, |n| n.contains(&"echo".into())).await;
    assert!(names.contains(&"echo".into()), "{names:?}");
    let r = client
        .call("echo", json!({"text": "a"}))
        .await
        .expect("call");
    assert_eq!(text_of(&r), "a");

    // Replace while calls run: none fails; new calls reach v2.
    let client = Arc::new(client);
    let failures = Arc::new(AtomicUsize::new(0));
    let v2_seen = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for t in 0..LOAD_TASKS {
        let (client, failures, v2_seen) = (client.clone(), failures.clone(), v2_seen.clone());
        load.push(tokio::spawn(async move {
            for i in 0..CALLS_PER_TASK {
                let text = format!("t{t}-{i}");
                match client.call("echo", json!({"text": text})).await {
                    Ok(r) if r.is_error == Some(false) => {
                        let got = text_of(&r);
                        if got == format!("v2:{text}") {
                            v2_seen.fetch_add(1, Ordering::Relaxed);
                        } else if got != text {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    // An in-flight slow call started before the swap must finish.
    let slow = {
        let client = client.clone();
        tokio::spawn(async move { client.call("slow", json!({"ms": 300})).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop_in(&fixture("echo-v2"), &dir, "echo.wasm").expect("replace");
    for h in load {
        h.await.expect("load task");
    }
    let slow = slow.await.expect("join").expect("slow call");
    assert_eq!(slow.is_error, Some(false), "{slow:?}");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "calls failed during the swap"
    );
    let names = wait_for_tools(&client, |n| n.contains(&"echo_v2_only".into())).await;
    assert!(names.contains(&"echo_v2_only".into()), "{names:?}");
    let r = client
        .call("echo", json!({"text": "b"}))
        .await
        .expect("call");
    assert_eq!(text_of(&r), "v2:b");
    let _ = v2_seen;

    // A corrupt file is rejected and everything else keeps serving.
    std::fs::write(dir.join("corrupt.wasm"), b"\0asm not really").expect("write");
    // A second copy of the same plugin is rejected (duplicate name/tools).
    drop_in(&fixture("echo"), &dir, "echo-copy.wasm").expect("copy");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = client
        .call("echo", json!({"text": "c"}))
        .await
        .expect("call");
    assert_eq!(text_of(&r), "v2:c", "the original keeps serving");
    let r = client.call("list_devices", json!({})).await.expect("call");
    assert_eq!(r.is_error, Some(false));
    std::fs::remove_file(dir.join("echo-copy.wasm")).expect("rm copy");

    // Remove: the tools disappear.
    std::fs::remove_file(dir.join("echo.wasm")).expect("rm");
    let names = wait_for_tools(&client, |n| !n.contains(&"echo".into())).await;
    assert!(!names.contains(&"echo".into()), "{names:?}");
    let e = client.call("echo", json!({"text": "gone"})).await;
    assert!(e.is_err(), "a removed tool is unknown");

    let log = server.stdout_lines.lock().expect("lines").join("\n");
    let _ = log;
}
