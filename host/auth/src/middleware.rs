//! axum glue: the bearer middleware, scope guards, and RFC 6750 rejections.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{AuthError, AuthSetupError};
use crate::scope::Scope;
use crate::verify::{MAX_TOKEN_BYTES, Principal, Verifier};

/// `realm` in every challenge.
pub const REALM: &str = "toolhost";

/// Longest `Authorization` header value read: the token limit plus the scheme and spaces.
pub const MAX_AUTHORIZATION_BYTES: usize = MAX_TOKEN_BYTES + 64;

/// State for [`require_bearer`]: how to verify, and where clients find the metadata.
#[derive(Debug)]
pub struct AuthLayerState {
    verifier: Verifier,
    metadata_url: Arc<str>,
}

impl AuthLayerState {
    /// `metadata_url` (see [`crate::metadata_url`]) goes into every challenge, so it must be
    /// an http(s) URL that fits in a quoted header parameter.
    pub fn new(
        verifier: Verifier,
        metadata_url: impl Into<String>,
    ) -> Result<Self, AuthSetupError> {
        let url = metadata_url.into();
        let fits_header = HeaderValue::from_str(&url).is_ok() && !url.contains(['"', '\\']);
        if !fits_header || !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(AuthSetupError::InvalidMetadataUrl(url));
        }
        Ok(Self {
            verifier,
            metadata_url: url.into(),
        })
    }

    /// The verifier, e.g. for transports that carry tokens outside the `Authorization` header.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The protected resource metadata URL advertised in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// A response for `error`, for handlers that check scopes themselves.
    pub fn reject(&self, error: AuthError) -> AuthRejection {
        AuthRejection::new(error, Arc::clone(&self.metadata_url))
    }

    /// State for [`require_scope`] on routes that need `scope`.
    pub fn scope_guard(&self, scope: Scope) -> ScopeGuard {
        ScopeGuard {
            scope,
            metadata_url: Arc::clone(&self.metadata_url),
        }
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`): verifies the bearer token, then
/// inserts the [`Principal`] into request extensions and removes the `Authorization` header
/// so the token travels no further. Anything else gets a 401 and the inner service never runs.
pub async fn require_bearer(
    State(auth): State<Arc<AuthLayerState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match bearer_token(req.headers()).and_then(|token| auth.verifier.verify(token))
    {
        Ok(principal) => principal,
        Err(error) => {
            if error == AuthError::Missing {
                tracing::debug!("request without bearer token");
            } else {
                tracing::info!(%error, "bearer token rejected");
            }
            return auth.reject(error).into_response();
        }
    };
    req.headers_mut().remove(AUTHORIZATION);
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// State for [`require_scope`]; build it with [`AuthLayerState::scope_guard`].
#[derive(Clone, Debug)]
pub struct ScopeGuard {
    scope: Scope,
    metadata_url: Arc<str>,
}

/// Middleware that answers 403 unless the [`Principal`] (put there by [`require_bearer`],
/// which must run first) holds the guard's scope. Without a principal it answers 401.
pub async fn require_scope(State(guard): State<ScopeGuard>, req: Request, next: Next) -> Response {
    let allowed = match req.extensions().get::<Principal>() {
        Some(principal) => principal.require(guard.scope),
        None => Err(AuthError::Missing),
    };
    if let Err(error) = allowed {
        tracing::info!(%error, "request refused");
        return AuthRejection::new(error, guard.metadata_url).into_response();
    }
    next.run(req).await
}

/// The bearer token from the single `Authorization` header, scheme matched case-insensitively.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() || value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(AuthError::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = token.trim_matches(' ');
    if !is_token68(token) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// RFC 7235 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// A refused request, ready to answer: 401 (or 403 for insufficient scope) with an RFC 6750
/// `WWW-Authenticate` challenge pointing at the metadata, and a JSON body with a fixed message.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    /// Why; its detail is logged by the caller, never sent.
    pub error: AuthError,
    metadata_url: Arc<str>,
}

impl AuthRejection {
    /// A rejection advertising `metadata_url` (see [`AuthLayerState::reject`] for the usual way).
    pub fn new(error: AuthError, metadata_url: impl Into<Arc<str>>) -> Self {
        Self {
            error,
            metadata_url: metadata_url.into(),
        }
    }

    /// The HTTP status: 403 for insufficient scope, 401 for everything else.
    pub fn status(&self) -> StatusCode {
        match self.error {
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self) -> String {
        let mut params = vec![format!("realm=\"{REALM}\"")];
        if let Some(code) = self.error.oauth_code() {
            params.push(format!("error=\"{code}\""));
            if let AuthError::InsufficientScope { required } = self.error {
                params.push(format!("scope=\"{required}\""));
            }
            params.push(format!(
                "error_description=\"{}\"",
                self.error.description()
            ));
        }
        params.push(format!(
            "resource_metadata=\"{}\"",
            quoted(&self.metadata_url)
        ));
        format!("Bearer {}", params.join(", "))
    }
}

/// Escapes a quoted-string body (RFC 9110 §5.6.4).
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let challenge = HeaderValue::from_str(&self.challenge()).unwrap_or_else(|_| {
            // Only reachable through `AuthRejection::new` with a URL holding control
            // characters; a challenge without the metadata pointer still tells the client what to do.
            tracing::error!(url = %self.metadata_url, "metadata URL does not fit a header");
            HeaderValue::from_static("Bearer realm=\"toolhost\"")
        });
        let body = json!({
            "error": {
                "code": self.error.oauth_code().unwrap_or("unauthorized"),
                "message": self.error.description(),
            }
        });
        let mut response = (self.status(), Json(body)).into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A handler asked for [`Principal`] on a route without [`require_bearer`]: a wiring bug, so
/// it answers 500 rather than letting the request through.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no authenticated principal on this request; is require_bearer layered on the route?")]
pub struct PrincipalMissing;

impl IntoResponse for PrincipalMissing {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        let body = json!({"error": {"code": "internal", "message": "internal error"}});
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = PrincipalMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(PrincipalMissing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://h.example/.well-known/oauth-protected-resource";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn extracts_bearer_tokens() {
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        let table: &[(&[&str], Result<&str, AuthError>)] = &[
            (&[], Err(AuthError::Missing)),
            (&["Bearer abc.def.ghi"], Ok("abc.def.ghi")),
            (&["bearer abc"], Ok("abc")),
            (&["BEARER   abc=="], Ok("abc==")),
            (&["Bearer"], Err(AuthError::Malformed)),
            (&["Bearer "], Err(AuthError::Malformed)),
            (&[""], Err(AuthError::Malformed)),
            (&["Basic dXNlcjpwYXNz"], Err(AuthError::Malformed)),
            (&["Bearer a b"], Err(AuthError::Malformed)),
            (&["Bearer a\"b"], Err(AuthError::Malformed)),
            (&["Bearer ==="], Err(AuthError::Malformed)),
            (&["Bearer a", "Bearer b"], Err(AuthError::Malformed)),
            (&[long.as_str()], Err(AuthError::Malformed)),
        ];
        for (values, expected) in table {
            assert_eq!(bearer_token(&headers(values)), *expected, "{values:?}");
        }
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let table = [
            (
                AuthError::Missing,
                format!("Bearer realm=\"toolhost\", resource_metadata=\"{URL}\""),
            ),
            (
                AuthError::Expired,
                format!(
                    "Bearer realm=\"toolhost\", error=\"invalid_token\", error_description=\"token expired\", resource_metadata=\"{URL}\""
                ),
            ),
            (
                AuthError::InvalidClaims("secret detail".to_owned()),
                format!(
                    "Bearer realm=\"toolhost\", error=\"invalid_token\", error_description=\"invalid token claims\", resource_metadata=\"{URL}\""
                ),
            ),
            (
                AuthError::InsufficientScope {
                    required: Scope::Admin,
                },
                format!(
                    "Bearer realm=\"toolhost\", error=\"insufficient_scope\", scope=\"admin\", error_description=\"token lacks the required scope\", resource_metadata=\"{URL}\""
                ),
            ),
        ];
        for (error, expected) in table {
            assert_eq!(AuthRejection::new(error, URL).challenge(), expected);
        }
    }

    #[test]
    fn every_variant_has_a_fixed_description_without_detail() {
        let errors = [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::InvalidSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::WrongAudience,
            AuthError::WrongIssuer,
            AuthError::InvalidClaims("sub=\"root\" detail".to_owned()),
            AuthError::InsufficientScope {
                required: Scope::Write,
            },
        ];
        for error in errors {
            let rejection = AuthRejection::new(error.clone(), URL);
            let challenge = rejection.challenge();
            assert!(!challenge.contains("detail"), "{challenge}");
            assert!(HeaderValue::from_str(&challenge).is_ok(), "{challenge}");
            let expected = if matches!(error, AuthError::InsufficientScope { .. }) {
                403
            } else {
                401
            };
            assert_eq!(rejection.status().as_u16(), expected, "{error:?}");
        }
    }

    #[test]
    fn quotes_are_escaped_in_challenges() {
        let challenge = AuthRejection::new(AuthError::Missing, "https://h/\"x\\").challenge();
        assert!(
            challenge.ends_with(r#"resource_metadata="https://h/\"x\\""#),
            "{challenge}"
        );
    }

    #[test]
    fn layer_state_refuses_unusable_metadata_urls() {
        let keys = crate::Keys::from_secret(&[7; 32]).unwrap();
        let verifier = Verifier::new(&keys, &crate::AuthConfig::default());
        for bad in ["", "ftp://h/x", "https://h/\"", "https://h/\n"] {
            assert!(
                AuthLayerState::new(verifier.clone(), bad).is_err(),
                "{bad:?}"
            );
        }
        assert!(AuthLayerState::new(verifier, URL).is_ok());
    }
}
