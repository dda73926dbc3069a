//! Minting tokens with the configured secret (or private key): `toolhost token` and the admin
//! token printed on first start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Header, encode};
use rand::RngCore;
use serde::Serialize;

use crate::config::AuthConfig;
use crate::keys::Keys;

/// Lifetime of a minted token when the caller does not choose one.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest lifetime `mint` signs; a leaked token should not outlive a key rotation cycle.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Random bytes in the `jti` claim.
pub const JTI_BYTES: usize = 16;

/// What to put in a minted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintRequest {
    /// The `sub` claim.
    pub subject: String,
    /// Scope strings, joined into the `scope` claim. Host scopes or plugin-defined ones.
    pub scopes: Vec<String>,
    /// Time from now until `exp`, at most [`MAX_TOKEN_TTL`].
    pub ttl: Duration,
    /// The `aud` claim.
    pub audience: String,
    /// The `iss` claim.
    pub issuer: String,
}

impl MintRequest {
    /// A request with `config`'s audience and issuer and [`DEFAULT_TOKEN_TTL`].
    pub fn new(subject: impl Into<String>, scopes: Vec<String>, config: &AuthConfig) -> Self {
        Self {
            subject: subject.into(),
            scopes,
            ttl: DEFAULT_TOKEN_TTL,
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
        }
    }
}

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// Only a public key is configured; tokens come from the external issuer.
    #[error(
        "cannot mint tokens: a public key is configured and no private key (auth.private_key_file); \
         get tokens from your issuer instead"
    )]
    NoSigningKey,
    /// `sub` would be empty.
    #[error("the subject must not be empty")]
    EmptySubject,
    /// A scope is empty or holds characters RFC 6749 §3.3 does not allow (e.g. a space).
    #[error("invalid scope {0:?}")]
    InvalidScope(String),
    /// `ttl` is zero or longer than [`MAX_TOKEN_TTL`].
    #[error("token lifetime must be between 1 second and {} seconds", MAX_TOKEN_TTL.as_secs())]
    InvalidTtl,
    /// `audience` or `issuer` is empty.
    #[error("the {0} must not be empty")]
    EmptyClaim(&'static str),
    /// The system clock is before 1970.
    #[error("system clock is before the Unix epoch")]
    Clock,
    /// Signing failed.
    #[error("signing the token: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    aud: &'a str,
    iss: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    jti: String,
}

/// Signs a token with `keys` (HS256 secret, or the configured private key) carrying
/// `iat`/`nbf`/`exp`/`aud`/`iss`/`sub`/`scope` and a random `jti`.
pub fn mint(keys: &Keys, request: MintRequest) -> Result<String, MintError> {
    let key = keys.encoding().ok_or(MintError::NoSigningKey)?;
    if request.subject.is_empty() {
        return Err(MintError::EmptySubject);
    }
    if request.audience.is_empty() {
        return Err(MintError::EmptyClaim("audience"));
    }
    if request.issuer.is_empty() {
        return Err(MintError::EmptyClaim("issuer"));
    }
    if let Some(bad) = request.scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(MintError::InvalidScope(bad.clone()));
    }
    if request.ttl.is_zero() || request.ttl > MAX_TOKEN_TTL {
        return Err(MintError::InvalidTtl);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| MintError::Clock)?
        .as_secs();
    let mut jti = [0u8; JTI_BYTES];
    rand::rng().fill_bytes(&mut jti);
    let claims = Claims {
        sub: &request.subject,
        aud: &request.audience,
        iss: &request.issuer,
        iat: now,
        nbf: now,
        exp: now + request.ttl.as_secs(),
        scope: (!request.scopes.is_empty()).then(|| request.scopes.join(" ")),
        jti: hex::encode(jti),
    };
    let mut header = Header::new(keys.algorithm());
    header.typ = Some("JWT".to_owned());
    encode(&header, &claims, key).map_err(|e| MintError::Sign(e.to_string()))
}

/// RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::KeyAlgorithm;
    use crate::error::AuthError;
    use crate::scope::Scope;
    use crate::verify::Verifier;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn request(scopes: &[&str]) -> MintRequest {
        MintRequest::new(
            "alice",
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            &AuthConfig::default(),
        )
    }

    #[test]
    fn minted_tokens_verify_with_the_same_keys() {
        let keys = Keys::from_secret(SECRET).unwrap();
        let token = mint(&keys, request(&["admin", "plugin:ssh"])).unwrap();
        let principal = Verifier::new(&keys, &AuthConfig::default())
            .verify(&token)
            .unwrap();
        assert_eq!(principal.subject, "alice");
        assert!(principal.allows(Scope::Admin));
        assert_eq!(principal.scope_strings(), ["admin", "plugin:ssh"]);
        let payload: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        assert_eq!(payload["jti"].as_str().map(str::len), Some(JTI_BYTES * 2));
        assert_eq!(
            payload["exp"].as_u64(),
            payload["iat"]
                .as_u64()
                .map(|t| t + DEFAULT_TOKEN_TTL.as_secs())
        );
    }

    #[test]
    fn tokens_for_another_audience_do_not_verify_here() {
        let keys = Keys::from_secret(SECRET).unwrap();
        let mut req = request(&["read"]);
        req.audience = "elsewhere".to_owned();
        let token = mint(&keys, req).unwrap();
        let result = Verifier::new(&keys, &AuthConfig::default()).verify(&token);
        assert_eq!(result, Err(AuthError::WrongAudience));
    }

    #[test]
    fn refuses_to_mint_without_a_signing_key() {
        let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys/rsa_public.pem");
        let keys = Keys::from_pem_files(KeyAlgorithm::Rs256, &public, None).unwrap();
        assert_eq!(
            mint(&keys, request(&["read"])),
            Err(MintError::NoSigningKey)
        );
    }

    #[test]
    fn mints_with_a_configured_private_key() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
        let keys = Keys::from_pem_files(
            KeyAlgorithm::EdDsa,
            &dir.join("ed_public.pem"),
            Some(&dir.join("ed_private.pem")),
        )
        .unwrap();
        let token = mint(&keys, request(&["write"])).unwrap();
        let principal = Verifier::new(&keys, &AuthConfig::default())
            .verify(&token)
            .unwrap();
        assert!(principal.allows(Scope::Write));
    }

    #[test]
    fn validates_the_request() {
        let keys = Keys::from_secret(SECRET).unwrap();
        type Change = fn(&mut MintRequest);
        let table: [(Change, MintError); 5] = [
            (|r| r.subject.clear(), MintError::EmptySubject),
            (
                |r| r.scopes = vec!["read write".to_owned()],
                MintError::InvalidScope("read write".to_owned()),
            ),
            (
                |r| r.scopes = vec![String::new()],
                MintError::InvalidScope(String::new()),
            ),
            (|r| r.ttl = Duration::ZERO, MintError::InvalidTtl),
            (
                |r| r.ttl = MAX_TOKEN_TTL + Duration::from_secs(1),
                MintError::InvalidTtl,
            ),
        ];
        for (change, expected) in table {
            let mut req = request(&["read"]);
            change(&mut req);
            assert_eq!(mint(&keys, req), Err(expected));
        }
    }
}
