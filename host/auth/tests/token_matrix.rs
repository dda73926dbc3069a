//! Drives `require_bearer` / `require_scope` through a small axum router with every kind of
//! token, checking status, challenge and that the inner handler never runs on rejection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;

use toolhost_auth::{
    AuthConfig, AuthLayerState, KeyAlgorithm, KeyOrigin, Keys, MintRequest, Principal, Scope,
    Verifier, metadata_url, mint, require_bearer, require_scope,
};

const BASE_URL: &str = "https://tools.example";
const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

fn metadata() -> String {
    metadata_url(BASE_URL)
}

fn key_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap()
}

/// `/read` needs any valid token, `/write` needs the write scope. Both count their calls.
struct App {
    router: Router,
    calls: Arc<AtomicUsize>,
}

impl App {
    fn new(keys: &Keys) -> Self {
        let verifier = Verifier::new(keys, &AuthConfig::default());
        let auth = Arc::new(AuthLayerState::new(verifier, metadata()).unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let handler = {
            let calls = Arc::clone(&calls);
            move |principal: Principal| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::Json(
                        json!({"sub": principal.subject, "scopes": principal.scope_strings()}),
                    )
                }
            }
        };
        let writers = Router::new()
            .route("/write", get(handler.clone()))
            .route_layer(from_fn_with_state(
                auth.scope_guard(Scope::Write),
                require_scope,
            ));
        let router = Router::new()
            .route("/read", get(handler))
            .merge(writers)
            .layer(from_fn_with_state(auth, require_bearer));
        Self { router, calls }
    }

    fn hs256() -> Self {
        Self::new(&Keys::from_secret(SECRET).unwrap())
    }

    fn with_public_key(algorithm: KeyAlgorithm, public: &str) -> Self {
        Self::new(&Keys::from_pem_files(algorithm, &key_path(public), None).unwrap())
    }

    async fn call(
        &self,
        path: &str,
        authorization: &[&str],
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::get(path);
        for value in authorization {
            request = request.header(AUTHORIZATION, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, challenge, body)
    }

    /// Asserts a 401 with the given RFC 6750 description (`None`: no credentials) and that
    /// the handler did not run.
    async fn assert_unauthorized(
        &self,
        path: &str,
        authorization: &[&str],
        description: Option<&str>,
    ) {
        let before = self.calls.load(Ordering::SeqCst);
        let (status, challenge, body) = self.call(path, authorization).await;
        let expected = match description {
            None => format!(
                r#"Bearer realm="toolhost", resource_metadata="{}""#,
                metadata()
            ),
            Some(d) => format!(
                r#"Bearer realm="toolhost", error="invalid_token", error_description="{d}", resource_metadata="{}""#,
                metadata()
            ),
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            challenge.as_deref(),
            Some(expected.as_str()),
            "{authorization:?}"
        );
        let code = if description.is_some() {
            "invalid_token"
        } else {
            "unauthorized"
        };
        assert_eq!(body["error"]["code"], code, "{authorization:?}");
        assert_eq!(
            self.calls.load(Ordering::SeqCst),
            before,
            "handler ran for {authorization:?}"
        );
    }

    async fn assert_ok(&self, path: &str, token: &str, subject: &str) -> Value {
        let before = self.calls.load(Ordering::SeqCst);
        let (status, challenge, body) = self.call(path, &[&format!("Bearer {token}")]).await;
        assert_eq!(status, StatusCode::OK, "{challenge:?}");
        assert_eq!(challenge, None);
        assert_eq!(body["sub"], subject);
        assert_eq!(self.calls.load(Ordering::SeqCst), before + 1);
        body
    }
}

fn now() -> u64 {
    get_current_timestamp()
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "sub": "alice", "aud": "toolhost", "iss": "toolhost", "exp": now() + 600, "scope": "read",
    });
    if let (Some(map), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        map.extend(extra);
    }
    claims
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn missing_header_gets_a_bare_challenge() {
    App::hs256().assert_unauthorized("/read", &[], None).await;
}

#[tokio::test]
async fn malformed_authorization_is_an_invalid_token() {
    let app = App::hs256();
    let too_long = bearer(&"a".repeat(9 * 1024));
    for header in [
        "Bearer abc",
        "Basic dXNlcjpwYXNzd29yZA==",
        "",
        "Bearer ",
        "Bearer a.b",
        too_long.as_str(),
    ] {
        app.assert_unauthorized("/read", &[header], Some("malformed bearer token"))
            .await;
    }
    let token = bearer(&hs256(&claims(json!({}))));
    app.assert_unauthorized("/read", &[&token, &token], Some("malformed bearer token"))
        .await;
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let app = App::hs256();
    let forged = encode(
        &Header::default(),
        &claims(json!({})),
        &EncodingKey::from_secret(b"some-other-secret-32-bytes-long!!"),
    )
    .unwrap();
    app.assert_unauthorized(
        "/read",
        &[&bearer(&forged)],
        Some("invalid token signature"),
    )
    .await;

    let genuine = hs256(&claims(json!({})));
    let (head, _) = genuine.rsplit_once('.').unwrap();
    let tampered_sig = format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
    app.assert_unauthorized(
        "/read",
        &[&bearer(&tampered_sig)],
        Some("invalid token signature"),
    )
    .await;
}

#[tokio::test]
async fn unsigned_alg_none_tokens_are_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({"scope": "admin"})).to_string());
    let app = App::hs256();
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        app.assert_unauthorized("/read", &[&bearer(&token)], Some("invalid token signature"))
            .await;
    }
    let app = App::with_public_key(KeyAlgorithm::Rs256, "rsa_public.pem");
    app.assert_unauthorized(
        "/read",
        &[&bearer(&format!("{header}.{payload}."))],
        Some("invalid token signature"),
    )
    .await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let app = App::with_public_key(KeyAlgorithm::Rs256, "rsa_public.pem");
    let public_pem = pem("rsa_public.pem");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({"scope": "admin"})),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    app.assert_unauthorized(
        "/read",
        &[&bearer(&confused)],
        Some("invalid token signature"),
    )
    .await;
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway() {
    let app = App::hs256();
    let expired = hs256(&claims(json!({"exp": now() - 120})));
    app.assert_unauthorized("/read", &[&bearer(&expired)], Some("token expired"))
        .await;
    let within_leeway = hs256(&claims(json!({"exp": now() - 5})));
    app.assert_ok("/read", &within_leeway, "alice").await;
}

#[tokio::test]
async fn not_yet_valid_tokens_are_refused_beyond_the_leeway() {
    let app = App::hs256();
    let early = hs256(&claims(json!({"nbf": now() + 120})));
    app.assert_unauthorized("/read", &[&bearer(&early)], Some("token not yet valid"))
        .await;
}

#[tokio::test]
async fn wrong_audience_and_issuer_are_refused() {
    let app = App::hs256();
    for aud in [json!("other"), json!(["other", "another"])] {
        let token = hs256(&claims(json!({"aud": aud})));
        app.assert_unauthorized(
            "/read",
            &[&bearer(&token)],
            Some("token audience not accepted"),
        )
        .await;
    }
    let token = hs256(&claims(json!({"iss": "https://evil.example"})));
    app.assert_unauthorized(
        "/read",
        &[&bearer(&token)],
        Some("token issuer not accepted"),
    )
    .await;
    let token = hs256(&claims(json!({"sub": ""})));
    app.assert_unauthorized("/read", &[&bearer(&token)], Some("invalid token claims"))
        .await;
    let mut no_exp = claims(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    app.assert_unauthorized(
        "/read",
        &[&bearer(&hs256(&no_exp))],
        Some("invalid token claims"),
    )
    .await;
}

#[tokio::test]
async fn missing_write_scope_is_forbidden() {
    let app = App::hs256();
    for scope in ["read", "", "Write plugin:write"] {
        let token = hs256(&claims(json!({"scope": scope})));
        let (status, challenge, body) = app.call("/write", &[&bearer(&token)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{scope:?}");
        let expected = format!(
            r#"Bearer realm="toolhost", error="insufficient_scope", scope="write", error_description="token lacks the required scope", resource_metadata="{}""#,
            metadata()
        );
        assert_eq!(challenge.as_deref(), Some(expected.as_str()));
        assert_eq!(
            body,
            json!({"error": {"code": "insufficient_scope", "message": "token lacks the required scope"}})
        );
        assert_eq!(app.calls.load(Ordering::SeqCst), 0);
    }
    for scope in ["write", "admin", "read write"] {
        let token = hs256(&claims(json!({"scope": scope})));
        app.assert_ok("/write", &token, "alice").await;
    }
}

#[tokio::test]
async fn valid_tokens_reach_the_handler_for_every_algorithm() {
    let token = hs256(&claims(json!({"scope": "write plugin:ssh"})));
    let body = App::hs256().assert_ok("/write", &token, "alice").await;
    assert_eq!(body["scopes"], json!(["write", "plugin:ssh"]));

    let cases = [
        (
            KeyAlgorithm::Rs256,
            Algorithm::RS256,
            "rsa_public.pem",
            EncodingKey::from_rsa_pem(&pem("rsa_private.pem")),
        ),
        (
            KeyAlgorithm::Es256,
            Algorithm::ES256,
            "ec_public.pem",
            EncodingKey::from_ec_pem(&pem("ec_private.pem")),
        ),
        (
            KeyAlgorithm::EdDsa,
            Algorithm::EdDSA,
            "ed_public.pem",
            EncodingKey::from_ed_pem(&pem("ed_private.pem")),
        ),
    ];
    for (configured, alg, public, private) in cases {
        let app = App::with_public_key(configured, public);
        let token = encode(
            &Header::new(alg),
            &claims(json!({"sub": "bob", "scp": ["write"]})),
            &private.unwrap(),
        )
        .unwrap();
        let body = app.assert_ok("/write", &token, "bob").await;
        // `scope` ("read", from `claims`) and `scp` are merged.
        assert_eq!(body["scopes"], json!(["read", "write"]), "{configured}");
        // The same claims under the shared-secret algorithm must not pass the public-key host.
        app.assert_unauthorized(
            "/read",
            &[&bearer(&hs256(&claims(json!({}))))],
            Some("invalid token signature"),
        )
        .await;
    }
}

#[tokio::test]
async fn first_start_secret_mints_a_working_admin_token() {
    let tmp = tempfile::tempdir().unwrap();
    let config = AuthConfig::default();
    let (keys, origin) = Keys::load(&config, tmp.path()).unwrap();
    assert!(matches!(origin, KeyOrigin::Generated(_)), "{origin:?}");
    let token = mint(
        &keys,
        MintRequest::new("admin", vec!["admin".to_owned()], &config),
    )
    .unwrap();

    let (reloaded, origin) = Keys::load(&config, tmp.path()).unwrap();
    assert!(matches!(origin, KeyOrigin::DataDirSecret(_)), "{origin:?}");
    let body = App::new(&reloaded)
        .assert_ok("/write", &token, "admin")
        .await;
    assert_eq!(body["scopes"], json!(["admin"]));
}
