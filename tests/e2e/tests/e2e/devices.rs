//! The device registry: REST CRUD with validation, and the utility plugin
//! reading the same registry through the `devices` capability.

use reqwest::StatusCode;
use serde_json::{Value, json};
use toolhost_e2e::{McpClient, Revision, ServerOptions, TestServer};

#[tokio::test]
async fn the_registry_is_managed_over_rest_and_read_by_the_utility_plugin() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let api = format!("{}/api/devices", server.url);
    let admin = server.token("root", "admin");
    let reader = server.token("viewer", "read");

    let web = json!({"name": "web1", "hostname": "10.0.0.5", "tags": ["web", "prod"], "device_type": "linux"});
    let r = http
        .post(&api)
        .bearer_auth(&admin)
        .json(&web)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("location").is_some());
    let created: Value = r.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["port"], 22);

    let db = json!({"name": "db1", "hostname": "db1.lan", "port": 2222, "tags": ["prod"], "status": "maintenance"});
    let r = http
        .post(&api)
        .bearer_auth(&admin)
        .json(&db)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);

    // Duplicate name → 409; bad fields → 422 naming each; unknown id → 404.
    let r = http
        .post(&api)
        .bearer_auth(&admin)
        .json(&web)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let bad = json!({"name": "bad name", "hostname": "x; rm -rf /", "port": 0});
    let r = http
        .post(&api)
        .bearer_auth(&admin)
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.expect("json");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in ["name", "hostname", "port"] {
        assert!(fields.contains(&f), "{f} not named in {body}");
    }
    let r = http
        .get(format!("{api}/no-such-id"))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Changes need admin.
    let r = http
        .post(&api)
        .bearer_auth(&reader)
        .json(&json!({"name": "x", "hostname": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .patch(format!("{api}/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"description": "front door"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::OK);

    // The plugin sees the same registry.
    let client = McpClient::connect(&server.mcp_url(), &reader, Revision::Sessions)
        .await
        .expect("connect");
    let r = client
        .call("list_devices", json!({"tag": "prod"}))
        .await
        .expect("list");
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let s = r.structured_content.expect("structured");
    assert_eq!(s["total"], 2);
    let r = client
        .call("list_devices", json!({"status": "maintenance"}))
        .await
        .expect("list");
    let s = r.structured_content.expect("structured");
    assert_eq!(s["total"], 1);
    assert_eq!(s["devices"][0]["name"], "db1");
    let r = client
        .call("get_device", json!({"device": "web1"}))
        .await
        .expect("get");
    let s = r.structured_content.expect("structured");
    assert_eq!(s["description"], "front door");
    assert_eq!(s["id"], id.as_str());

    // Delete, then it is gone for both.
    let r = http
        .delete(format!("{api}/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = client
        .call("get_device", json!({"device": "web1"}))
        .await
        .expect("get");
    assert_eq!(r.is_error, Some(true));
}
