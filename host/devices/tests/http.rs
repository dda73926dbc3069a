//! The REST API through the router, nested the way the server mounts it.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use toolhost_db::Database;
use toolhost_devices::{CallerScopes, DeviceRepo, router};
use tower::ServiceExt;

/// A stand-in for the auth crate's principal.
#[derive(Debug, Clone)]
struct TestCaller {
    read: bool,
    admin: bool,
}

impl CallerScopes for TestCaller {
    fn can_read(&self) -> bool {
        self.read
    }
    fn can_admin(&self) -> bool {
        self.admin
    }
}

const ADMIN: Option<TestCaller> = Some(TestCaller {
    read: true,
    admin: true,
});
const READER: Option<TestCaller> = Some(TestCaller {
    read: true,
    admin: false,
});
const NOBODY: Option<TestCaller> = Some(TestCaller {
    read: false,
    admin: false,
});

struct Api {
    app: Router,
    _dir: TempDir,
}

impl Api {
    async fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(dir.path().join("toolhost.db").to_str().unwrap())
            .await
            .unwrap();
        let app = Router::new().nest("/api/devices", router::<TestCaller>(DeviceRepo::new(db)));
        Api { app, _dir: dir }
    }

    /// Sends a request as `caller` (none: no principal in the extensions)
    /// and returns the status, the Location header and the JSON body.
    async fn send(
        &self,
        caller: Option<TestCaller>,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        self.send_raw(request).await
    }

    async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, location, body)
    }

    async fn create(&self, body: Value) -> Value {
        let (status, _, created) = self
            .send(ADMIN, Method::POST, "/api/devices", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }
}

fn error_fields(body: &Value) -> Vec<&str> {
    body["error"]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| f["field"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn post_creates_a_device_with_201_and_a_location_that_reads_it_back() {
    let api = Api::new().await;
    let (status, location, created) = api
        .send(
            ADMIN,
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-01", "hostname": "web01.lan", "tags": ["web"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(location.as_deref(), Some(&*format!("/api/devices/{id}")));
    assert_eq!(created["port"], 22);
    assert_eq!(created["auth_method"], "agent");
    assert_eq!(created["status"], "unknown");

    let (status, _, fetched) = api
        .send(READER, Method::GET, &location.unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    let (status, _, by_name) = api
        .send(READER, Method::GET, "/api/devices/web-01", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name, created);
}

#[tokio::test]
async fn invalid_fields_answer_422_naming_each_field() {
    let api = Api::new().await;
    let (status, _, body) = api
        .send(
            ADMIN,
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-01", "hostname": "web 01", "port": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(error_fields(&body), ["hostname", "port"]);
}

#[tokio::test]
async fn a_wrongly_typed_field_answers_422_naming_it() {
    let api = Api::new().await;
    let (status, _, body) = api
        .send(
            ADMIN,
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-01", "hostname": "web01", "port": "22"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(error_fields(&body), ["port"]);
}

#[tokio::test]
async fn unknown_fields_are_refused_with_422() {
    let api = Api::new().await;
    let (status, _, body) = api
        .send(
            ADMIN,
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-01", "hostname": "web01", "password": "hunter2"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(error_fields(&body), ["password"]);
}

#[tokio::test]
async fn malformed_json_answers_400_in_the_error_shape() {
    let api = Api::new().await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/devices")
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ADMIN.unwrap())
        .body(Body::from("{\"name\": "))
        .unwrap();
    let (status, _, body) = api.send_raw(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn an_unknown_id_answers_404() {
    let api = Api::new().await;
    for method in [Method::GET, Method::DELETE] {
        let (status, _, body) = api.send(ADMIN, method, "/api/devices/ghost", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _, _) = api
        .send(
            ADMIN,
            Method::PATCH,
            "/api/devices/ghost",
            Some(json!({"port": 2222})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_duplicate_name_answers_409() {
    let api = Api::new().await;
    api.create(json!({"name": "web-01", "hostname": "web01"}))
        .await;
    let (status, _, body) = api
        .send(
            ADMIN,
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-01", "hostname": "other"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(error_fields(&body), ["name"]);
}

#[tokio::test]
async fn a_reader_cannot_change_the_registry() {
    let api = Api::new().await;
    api.create(json!({"name": "web-01", "hostname": "web01"}))
        .await;
    for (method, uri, body) in [
        (
            Method::POST,
            "/api/devices",
            Some(json!({"name": "web-02", "hostname": "web02"})),
        ),
        (
            Method::PUT,
            "/api/devices/web-01",
            Some(json!({"name": "web-01", "hostname": "web01"})),
        ),
        (
            Method::PATCH,
            "/api/devices/web-01",
            Some(json!({"port": 1})),
        ),
        (Method::DELETE, "/api/devices/web-01", None),
    ] {
        let (status, _, body) = api.send(READER, method.clone(), uri, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (_, _, list) = api.send(READER, Method::GET, "/api/devices", None).await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn the_scope_check_comes_before_body_validation() {
    let api = Api::new().await;
    let (status, _, _) = api
        .send(
            READER,
            Method::POST,
            "/api/devices",
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_caller_without_read_scope_cannot_list() {
    let api = Api::new().await;
    let (status, _, body) = api.send(NOBODY, Method::GET, "/api/devices", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
}

#[tokio::test]
async fn a_request_without_a_principal_answers_401() {
    let api = Api::new().await;
    let (status, _, body) = api.send(None, Method::GET, "/api/devices", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[tokio::test]
async fn list_applies_filters_and_paging_and_reports_the_total() {
    let api = Api::new().await;
    for (name, device_type, status, tags) in [
        ("nas-01", "nas", "online", vec!["storage"]),
        ("web-01", "linux", "online", vec!["web"]),
        ("web-02", "linux", "offline", vec!["web"]),
        ("web-03", "linux", "online", vec!["web", "edge"]),
    ] {
        api.create(json!({
            "name": name, "hostname": format!("{name}.lan"),
            "device_type": device_type, "status": status, "tags": tags,
        }))
        .await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |uri: &'static str| api.send(READER, Method::GET, uri, None);

    let (status, _, body) = get("/api/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 4);

    let (_, _, body) = get("/api/devices?type=linux&status=online").await;
    assert_eq!(names(&body), ["web-01", "web-03"]);
    assert_eq!(body["total"], 2);

    let (_, _, body) = get("/api/devices?tag=edge").await;
    assert_eq!(names(&body), ["web-03"]);

    let (_, _, body) = get("/api/devices?search=NAS").await;
    assert_eq!(names(&body), ["nas-01"]);

    let (_, _, body) = get("/api/devices?type=linux&limit=1&offset=1").await;
    assert_eq!(names(&body), ["web-02"]);
    assert_eq!(body["total"], 3);

    let (status, _, body) = get("/api/devices?status=asleep").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["status"]);

    let (status, _, body) = get("/api/devices?limit=many").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
}

#[tokio::test]
async fn patch_updates_part_and_put_replaces_the_whole_device() {
    let api = Api::new().await;
    let created = api
        .create(json!({"name": "web-01", "hostname": "web01", "port": 2222, "tags": ["web"]}))
        .await;
    let (status, _, patched) = api
        .send(
            ADMIN,
            Method::PATCH,
            "/api/devices/web-01",
            Some(json!({"description": "front end"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["description"], "front end");
    assert_eq!(patched["port"], 2222);
    assert_eq!(patched["id"], created["id"]);

    let uri = format!("/api/devices/{}", created["id"].as_str().unwrap());
    let (status, _, replaced) = api
        .send(
            ADMIN,
            Method::PUT,
            &uri,
            Some(json!({"name": "web-01", "hostname": "web01.lan"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["port"], 22);
    assert_eq!(replaced["tags"], json!([]));
    assert_eq!(replaced["description"], Value::Null);
}

#[tokio::test]
async fn delete_answers_204_and_the_device_is_gone() {
    let api = Api::new().await;
    api.create(json!({"name": "web-01", "hostname": "web01"}))
        .await;
    let (status, _, body) = api
        .send(ADMIN, Method::DELETE, "/api/devices/web-01", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, _, _) = api
        .send(READER, Method::GET, "/api/devices/web-01", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
