//! The command line: first start, `token`, `plugin inspect`.

use std::process::Command;

use serde_json::Value;
use toolhost_e2e::{McpClient, Revision, TestServer, binary, bundled, fixture};

#[test]
fn inspect_prints_tools_and_capabilities_without_serving() {
    let out = Command::new(binary().expect("binary"))
        .args(["plugin", "inspect", "--json"])
        .arg(bundled("utility"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["name"], "utility");
    assert_eq!(doc["capabilities"][0], "devices-read");
    let tools: Vec<&str> = doc["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"list_devices") && tools.contains(&"get_device"),
        "{tools:?}"
    );
}

#[test]
fn inspect_refuses_a_plugin_that_imports_an_unprovided_capability() {
    let out = Command::new(binary().expect("binary"))
        .args(["plugin", "inspect"])
        .arg(fixture("needs-store"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("toolhost:plugin/store"), "{err}");
    assert!(err.contains("not provided by this host version"), "{err}");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_component() {
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("junk.wasm");
    std::fs::write(&f, b"junk").expect("write");
    let out = Command::new(binary().expect("binary"))
        .args(["plugin", "inspect"])
        .arg(&f)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid WebAssembly component"));
}

#[tokio::test]
async fn first_start_creates_a_secret_and_prints_a_working_admin_token() {
    let dir = tempfile::tempdir().expect("dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::copy(bundled("utility"), plugins.join("utility.wasm")).expect("copy");
    let data = dir.path().join("data");
    let config = dir.path().join("toolhost.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\nplugins_dir = {plugins:?}\n"),
    )
    .expect("config");
    let server = TestServer::spawn(dir, &config).await.expect("server");
    assert!(data.join("jwt-secret").exists());
    let lines = server.stdout_lines.lock().expect("lines").clone();
    let printed = lines.join("\n");
    assert!(
        printed.contains(&format!("{}/mcp", server.url)),
        "{printed}"
    );
    let token = lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("eyJ"))
        .expect("an admin token is printed")
        .to_owned();
    let client = McpClient::connect(&server.mcp_url(), &token, Revision::Sessions)
        .await
        .expect("the printed token works");
    assert!(
        client
            .tool_names()
            .await
            .expect("list")
            .contains(&"list_devices".into())
    );

    // `toolhost token` mints from the same secret.
    let out = Command::new(binary().expect("binary"))
        .args(["token", "--sub", "eve", "--scope", "read", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let client = McpClient::connect(&server.mcp_url(), &minted, Revision::Sessions)
        .await
        .expect("the minted token works");
    client.service.cancel().await.expect("close");
}

#[test]
fn devices_are_imported_from_an_ssh_client_config() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let ssh_config = dir.path().join("ssh_config");
    std::fs::write(
        &ssh_config,
        // As in OpenSSH, the first value found for a key wins, so the
        // catch-all comes last.
        "Host web1 web2\n    HostName 10.0.0.5\n    Port 2222\n\n\
         Host db1\n    HostName db1.lan\n    User postgres\n    IdentityFile /keys/db\n\n\
         Host *.internal !bastion\n    Port 22\n\n\
         Host *\n    User admin\n",
    )
    .expect("write");
    let toolhost = |args: &[&str]| {
        Command::new(binary().expect("binary"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run")
    };
    let out = toolhost(&[
        "device",
        "import-ssh-config",
        ssh_config.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 added, 0 skipped"));
    // Importing again adds nothing.
    let out = toolhost(&[
        "device",
        "import-ssh-config",
        ssh_config.to_str().expect("utf8"),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added, 3 skipped"));

    let out = toolhost(&["device", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(page["total"], 3);
    let find = |name: &str| {
        page["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .expect(name)
    };
    let web2 = find("web2");
    assert_eq!(web2["hostname"], "10.0.0.5");
    assert_eq!(web2["port"], 2222);
    assert_eq!(web2["username"], "admin");
    let db1 = find("db1");
    assert_eq!(db1["username"], "postgres");
    assert_eq!(db1["key_path"], "/keys/db");
    assert_eq!(db1["auth_method"], "key");
}
