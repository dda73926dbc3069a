//! The token matrix through the real binary: every bad token is refused with
//! 401 (or 403 for a missing scope) and the right `WWW-Authenticate`
//! header, on both `/mcp` and `/api`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use toolhost_e2e::{ServerOptions, TestServer, claims, fixture, repo_root, sign};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;

fn b64(v: &Value) -> String {
    use std::fmt::Write as _;
    // base64url without padding, by hand to avoid another dependency here.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = serde_json::to_vec(v).expect("json");
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            let _ = out.write_char(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn post_mcp(server: &TestServer, auth: Option<String>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(server.mcp_url())
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(INIT);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.expect("send")
}

fn www_authenticate(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn bad_tokens_never_reach_a_tool() {
    let server = TestServer::start(ServerOptions {
        plugins: vec![fixture("echo"), fixture("hostile")],
        ..Default::default()
    })
    .await
    .expect("server");
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", server.url);

    let mut expired = claims("a", "read", 3600);
    expired["exp"] = json!(expired["iat"].as_i64().expect("iat") - 3600);
    let mut early = claims("a", "read", 7200);
    early["nbf"] = json!(early["iat"].as_i64().expect("iat") + 3600);
    let mut aud = claims("a", "read", 3600);
    aud["aud"] = json!("someone-else");
    let mut iss = claims("a", "read", 3600);
    iss["iss"] = json!("evil");
    let other_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("a", "read", 3600),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .expect("sign");
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("a", "admin", 3600))
    );

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some("Basic YTpi".into())),
        ("malformed", Some("Bearer abc".into())),
        ("empty", Some("Bearer ".into())),
        ("bad signature", Some(format!("Bearer {other_key}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("expired", Some(format!("Bearer {}", sign(&expired)))),
        ("not yet valid", Some(format!("Bearer {}", sign(&early)))),
        ("wrong audience", Some(format!("Bearer {}", sign(&aud)))),
        ("wrong issuer", Some(format!("Bearer {}", sign(&iss)))),
    ];
    for (name, auth) in cases {
        let r = post_mcp(&server, auth.clone()).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name} on /mcp");
        let h = www_authenticate(&r);
        assert!(h.starts_with("Bearer "), "{name}: {h}");
        assert!(
            h.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{name}: {h}"
        );
        if auth.is_some() && name != "not bearer" {
            assert!(
                h.contains("invalid_token") || name == "empty",
                "{name}: {h}"
            );
        }
        // The same token on the REST tool endpoint.
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/tools/echo", server.url))
            .json(&json!({"text": "x"}));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.expect("send");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name} on /api");
    }

    // A valid token without the write scope cannot run a destructive tool.
    let r = reqwest::Client::new()
        .post(format!("{}/api/tools/wipe", server.url))
        .bearer_auth(server.token("a", "read"))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // And a valid token works.
    let r = reqwest::Client::new()
        .post(format!("{}/api/tools/echo", server.url))
        .bearer_auth(server.token("a", "read"))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["content"][0]["text"], "x");

    // Health and metadata need no token.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = reqwest::get(format!("{}{path}", server.url))
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let doc: Value = reqwest::get(&metadata)
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["resource"], format!("{}/mcp", server.url));
}

#[tokio::test]
async fn an_rs256_server_refuses_hs256_tokens_signed_with_its_public_key() {
    let keys = repo_root().join("host/auth/tests/keys");
    let public = keys.join("rsa_public.pem");
    let private = std::fs::read(keys.join("rsa_private.pem")).expect("test private key");
    let dir = tempfile::tempdir().expect("dir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    std::fs::copy(fixture("echo"), plugins.join("echo.wasm")).expect("copy");
    let config = dir.path().join("toolhost.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nplugins_dir = {plugins:?}\n[auth]\npublic_key_file = {public:?}\nalgorithm = \"RS256\"\n",
            dir.path().join("data")
        ),
    )
    .expect("config");
    let server = TestServer::spawn(dir, &config).await.expect("server");

    let pem = std::fs::read(&public).expect("public key");
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("a", "read", 3600),
        &jsonwebtoken::EncodingKey::from_secret(&pem),
    )
    .expect("sign");
    let r = post_mcp(&server, Some(format!("Bearer {confused}"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let good = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims("a", "read", 3600),
        &jsonwebtoken::EncodingKey::from_rsa_pem(&private).expect("rsa key"),
    )
    .expect("sign");
    let r = post_mcp(&server, Some(format!("Bearer {good}"))).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn mcp_refuses_foreign_host_and_origin_headers() {
    let server = TestServer::start(ServerOptions {
        plugins: vec![fixture("echo")],
        extra_config: "allowed_origins = [\"http://localhost:*\"]\n".into(),
    })
    .await
    .expect("server");
    let token = server.token("a", "read");
    let send = |host: Option<&'static str>, origin: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .post(server.mcp_url())
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(INIT);
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        req.send()
    };
    // A rebinding page reaches us under its own name: refused.
    let r = send(Some("attacker.example"), None).await.expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = send(None, Some("http://attacker.example"))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Loopback names and allowed origins pass.
    let r = send(None, Some("http://localhost:3000"))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(None, None).await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
}
