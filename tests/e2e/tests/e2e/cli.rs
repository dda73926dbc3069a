//! The command line: first start, `token`, `plugin inspect`, `device …`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use toolhost_e2e::{
    McpClient, Revision, TEST_SECRET, TestServer, binary, bundled, fixture, shared_cache_dir,
};
use toolhost_ssh::PinnedKey;
use toolhost_ssh::testing::TestSshd;

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

/// Runs `toolhost ARGS -c CONFIG`.
fn toolhost_with(config: &Path, args: &[&str]) -> Output {
    Command::new(binary().expect("binary"))
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .expect("run")
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        stdout_of(out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ssh-keygen -H`: replaces every host name in `file` by its hash.
fn hash_known_hosts(file: &Path) {
    let status = Command::new("ssh-keygen")
        .arg("-q")
        .arg("-H")
        .arg("-f")
        .arg(file)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen -H failed");
}

/// A fresh ed25519 public key in OpenSSH form, unrelated to any server.
fn stranger_public_key(dir: &Path) -> String {
    let path = dir.join("stranger_host_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    std::fs::read_to_string(path.with_extension("pub"))
        .expect("public key")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn imported_known_hosts_keys_are_what_strict_mode_trusts() {
    let sshd = TestSshd::start();
    let dir = tempfile::tempdir().expect("dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::copy(bundled("utility"), plugins.join("utility.wasm")).expect("copy");
    let config = dir.path().join("toolhost.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\
             data_dir = {data:?}\n\
             plugins_dir = {plugins:?}\n\
             cache_dir = {cache:?}\n\
             [auth]\n\
             hs256_secret = {TEST_SECRET:?}\n\
             [ssh]\n\
             identity_file = {key:?}\n\
             connect_timeout_ms = 3000\n\
             host_key_policy = \"strict\"\n",
            data = dir.path().join("data"),
            cache = shared_cache_dir(),
            key = sshd.client_key,
        ),
    )
    .expect("config");
    let ip = sshd.ip.to_string();
    let port = sshd.port.to_string();
    let run = |args: &[&str]| toolhost_with(&config, args);

    assert_success(&run(&[
        "device", "add", "box", &ip, "--port", &port, "--user", &sshd.user,
    ]));
    assert_success(&run(&[
        "device",
        "add",
        "elsewhere",
        "127.0.0.1",
        "--port",
        "1",
    ]));

    // The file names the address only as a hash, as `HashKnownHosts` writes it.
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("# from the device's console\n{}\n", sshd.known_hosts_line()),
    )
    .expect("known_hosts");
    hash_known_hosts(&known_hosts);
    let hashed = std::fs::read_to_string(&known_hosts).expect("read");
    assert!(hashed.contains("|1|") && !hashed.contains(&ip), "{hashed}");
    let file = known_hosts.to_str().expect("utf8");

    // An unknown device name fails the command before anything is pinned.
    let out = run(&[
        "device",
        "import-known-hosts",
        "--file",
        file,
        "box",
        "ghost",
    ]);
    assert!(!out.status.success(), "{}", stdout_of(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no device ghost"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "device",
        "import-known-hosts",
        "--file",
        "/nonexistent/known_hosts",
    ]);
    assert!(!out.status.success(), "a missing file is an error");

    // No names: every device.
    let out = run(&["device", "import-known-hosts", "--file", file]);
    assert_success(&out);
    let printed = stdout_of(&out);
    assert!(
        printed.contains(&format!("box: pinned 1 host key(s) listed for {ip}:{port}")),
        "{printed}"
    );
    assert!(
        printed.contains("elsewhere: no host key listed for 127.0.0.1:1"),
        "{printed}"
    );
    // Importing again changes nothing and still succeeds.
    assert_success(&run(&[
        "device",
        "import-known-hosts",
        "--file",
        file,
        "box",
    ]));

    // A file contradicting the pinned key does not replace it, and says so.
    let other = dir.path().join("known_hosts.other");
    std::fs::write(
        &other,
        format!("[{ip}]:{port} {}\n", stranger_public_key(dir.path())),
    )
    .expect("write");
    let out = run(&[
        "device",
        "import-known-hosts",
        "--file",
        other.to_str().expect("utf8"),
        "box",
    ]);
    assert!(!out.status.success(), "{}", stdout_of(&out));
    assert!(stdout_of(&out).contains("box: kept the pinned ssh-ed25519 key"));

    // Same address, nothing imported for it.
    assert_success(&run(&[
        "device", "add", "twin", &ip, "--port", &port, "--user", &sshd.user,
    ]));

    let server = TestServer::spawn(dir, &config).await.expect("server");
    let http = reqwest::Client::new();
    let host_keys = |device: &'static str| {
        let request = http
            .get(format!("{}/api/devices/{device}/host-keys", server.url))
            .bearer_auth(server.token("ops", "read"));
        async move {
            let body: Value = request
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            body["host_keys"].as_array().cloned().expect("host_keys")
        }
    };
    let line = sshd.known_hosts_line();
    let (_, public) = line.split_once(' ').expect("host and key");
    let expected = PinnedKey::from_openssh(public).expect("parse");
    let pinned = host_keys("box").await;
    assert_eq!(pinned.len(), 1, "{pinned:?}");
    assert_eq!(pinned[0]["fingerprint_sha256"], expected.fingerprint_sha256);
    assert!(host_keys("twin").await.is_empty());

    let client = McpClient::connect(
        &server.mcp_url(),
        &server.token("ops", "read"),
        Revision::Sessions,
    )
    .await
    .expect("connect");
    let connectivity = async |device: &str| {
        let r = client
            .call("test_connectivity", json!({"device": device}))
            .await
            .expect("call");
        assert_eq!(r.is_error, Some(false), "{r:?}");
        r.structured_content.expect("structured output")
    };
    let s = connectivity("box").await;
    assert_eq!(s["ok"], true, "strict mode trusts the imported key: {s}");
    let s = connectivity("twin").await;
    assert_eq!(s["ok"], false, "{s}");
    assert_eq!(s["error_kind"], "host-key-mismatch", "{s}");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("not trusted (strict mode)")),
        "{s}"
    );
    // Strict mode refuses without pinning.
    assert!(host_keys("twin").await.is_empty());
    client.service.cancel().await.expect("close");
}
