//! OAuth 2.0 Protected Resource Metadata (RFC 9728), which 401 challenges point clients to.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::scope::Scope;

/// Well-known path of the metadata document for a resource at the server root.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The RFC 9728 §3.1 path-inserted form for the resource `{base}/mcp`, which MCP clients try
/// first.
pub const MCP_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";

/// Human-readable name in the metadata document.
pub const RESOURCE_NAME: &str = "toolhost";

/// The metadata document: `resource`, `authorization_servers` (omitted when empty),
/// `bearer_methods_supported`, `scopes_supported` and `resource_name`.
pub fn metadata_document(resource: &str, authorization_servers: &[String]) -> Value {
    let mut doc = json!({
        "resource": resource,
        "bearer_methods_supported": ["header"],
        "scopes_supported": Scope::ALL.map(Scope::as_str),
        "resource_name": RESOURCE_NAME,
    });
    if !authorization_servers.is_empty()
        && let Some(map) = doc.as_object_mut()
    {
        map.insert(
            "authorization_servers".to_owned(),
            json!(authorization_servers),
        );
    }
    doc
}

/// Where the metadata for a server at `base_url` lives: `{base_url}/.well-known/oauth-protected-resource`.
pub fn metadata_url(base_url: &str) -> String {
    format!("{}{METADATA_PATH}", base_url.trim_end_matches('/'))
}

/// Serves `doc` at [`METADATA_PATH`] and [`MCP_METADATA_PATH`], unauthenticated. Merge it
/// outside the bearer layer.
pub fn metadata_routes<S>(doc: Value) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let doc = Arc::new(doc);
    let handler = move || {
        let doc = Arc::clone(&doc);
        async move { Json(doc.as_ref().clone()) }
    };
    Router::new()
        .route(METADATA_PATH, get(handler.clone()))
        .route(MCP_METADATA_PATH, get(handler))
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn document_lists_scopes_and_omits_empty_servers() {
        let doc = metadata_document("https://h.example", &[]);
        assert_eq!(
            doc,
            json!({
                "resource": "https://h.example",
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["read", "write", "admin"],
                "resource_name": "toolhost",
            })
        );
        let doc = metadata_document("https://h.example", &["https://as.example".to_owned()]);
        assert_eq!(doc["authorization_servers"], json!(["https://as.example"]));
    }

    #[test]
    fn metadata_url_appends_the_well_known_path() {
        assert_eq!(
            metadata_url("https://h.example/"),
            "https://h.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
    }

    #[tokio::test]
    async fn routes_serve_both_well_known_paths() {
        let doc = metadata_document("https://h.example", &[]);
        let app: Router = metadata_routes(doc.clone());
        for path in [METADATA_PATH, MCP_METADATA_PATH] {
            let response = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
            assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), doc);
        }
    }
}
