//! Bearer-token authentication for toolhost's HTTP interfaces (MCP and REST).
//!
//! Map:
//! - [`config`]: [`AuthConfig`], the host-wide settings (secret, public key, audience, issuer).
//! - [`keys`]: [`Keys::load`] picks the key by priority, generating a secret on first start.
//! - [`verify`]: [`Verifier`] turns a JWT into a [`Principal`]; exactly one algorithm, the
//!   configured one, is ever accepted.
//! - [`scope`]: [`Scope`] (`read` ⊆ `write` ⊆ `admin`) and the token's [`ScopeSet`].
//! - [`middleware`]: [`require_bearer`] and [`require_scope`] for axum, and [`AuthRejection`],
//!   the RFC 6750 401/403 response.
//! - [`mint`](mod@mint): [`mint()`] signs dev/admin tokens with the configured secret.
//! - [`metadata`]: the RFC 9728 protected resource metadata document and its routes.
//!
//! Wiring, in the server's composition root:
//!
//! ```no_run
//! # use std::{path::Path, sync::Arc};
//! # use axum::{Router, middleware::from_fn_with_state, routing::post};
//! # use toolhost_auth::*;
//! # fn wire(config: &AuthConfig, data_dir: &Path, base_url: &str) -> Result<Router, AuthSetupError> {
//! let (keys, _origin) = Keys::load(config, data_dir)?;
//! let auth = Arc::new(AuthLayerState::new(Verifier::new(&keys, config), metadata_url(base_url))?);
//! let admin_only = Router::new()
//!     .route("/api/devices", post(|| async { "ok" }))
//!     .route_layer(from_fn_with_state(auth.scope_guard(Scope::Admin), require_scope));
//! let app = Router::new()
//!     .route("/mcp", post(|principal: Principal| async move { principal.subject }))
//!     .merge(admin_only)
//!     .layer(from_fn_with_state(auth, require_bearer))
//!     .merge(metadata_routes(metadata_document(&config.resource_or(base_url), &config.authorization_servers)));
//! # Ok(app)
//! # }
//! ```

pub mod config;
mod error;
pub mod keys;
pub mod metadata;
pub mod middleware;
pub mod mint;
pub mod scope;
pub mod verify;

pub use config::{AuthConfig, KeyAlgorithm, Secret};
pub use error::{AuthError, AuthSetupError};
pub use keys::{KeyOrigin, Keys};
pub use metadata::{metadata_document, metadata_routes, metadata_url};
pub use middleware::{
    AuthLayerState, AuthRejection, PrincipalMissing, ScopeGuard, bearer_token, require_bearer,
    require_scope,
};
pub use mint::{MintError, MintRequest, mint};
pub use scope::{Scope, ScopeSet};
pub use verify::{Principal, Verifier};
