//! Error types: setup failures (host configuration) and request failures (the caller's token).

use std::path::PathBuf;

use crate::scope::Scope;

/// Startup cannot continue: the auth configuration or key material is unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// `public_key_file` is set without saying which algorithm the key is for.
    #[error("auth.algorithm (RS256, ES256 or EdDSA) is required with auth.public_key_file")]
    AlgorithmRequired,
    /// `algorithm` is set without a public key; HS256 needs no algorithm setting.
    #[error("auth.algorithm is set but auth.public_key_file is not")]
    AlgorithmWithoutPublicKey,
    /// `private_key_file` only makes sense next to the public key it belongs to.
    #[error("auth.private_key_file is set but auth.public_key_file is not")]
    PrivateKeyWithoutPublicKey,
    /// `audience` or `issuer` is empty, which would accept tokens naming nobody.
    #[error("auth.{0} must not be empty")]
    EmptyClaimSetting(&'static str),
    /// `leeway_secs` is beyond [`crate::config::MAX_LEEWAY_SECS`].
    #[error("auth.leeway_secs is {given}, at most {max} is allowed")]
    LeewayTooLarge {
        /// Configured value.
        given: u64,
        /// The limit.
        max: u64,
    },
    /// A key or secret file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key or secret file is larger than [`crate::keys::MAX_KEY_FILE_BYTES`].
    #[error("{path} is larger than {max} bytes; is it really a key?")]
    KeyFileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// A PEM file did not hold a key of the configured algorithm.
    #[error("{path} is not a valid {algorithm} PEM key: {reason}")]
    InvalidKey {
        /// The file.
        path: PathBuf,
        /// The configured algorithm.
        algorithm: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// The private key does not sign tokens the public key accepts.
    #[error("auth.private_key_file does not match auth.public_key_file")]
    KeyPairMismatch,
    /// An HS256 secret shorter than [`crate::keys::MIN_SECRET_BYTES`].
    #[error("the HS256 secret from {origin} is {len} bytes; at least {min} are required")]
    SecretTooShort {
        /// Where the secret came from (a setting or a path).
        origin: String,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The operating system's random generator failed.
    #[error("generating a JWT secret: {0}")]
    Random(String),
    /// The generated secret could not be written to the data directory.
    #[error("writing the generated JWT secret to {path}")]
    WriteSecret {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The metadata URL cannot be put in a `WWW-Authenticate` header.
    #[error(
        "invalid protected resource metadata URL {0:?}: must be an http(s) URL without quotes, backslashes or control characters"
    )]
    InvalidMetadataUrl(String),
}

/// A request's credentials were refused. Variants say what the client does next; none carries
/// detail that is sent back (see [`AuthError::description`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header: authenticate.
    #[error("no bearer token")]
    Missing,
    /// Not a Bearer JWT, several `Authorization` headers, or too long.
    #[error("malformed bearer token")]
    Malformed,
    /// Signature does not verify, or the token names another algorithm.
    #[error("invalid token signature")]
    InvalidSignature,
    /// `exp` has passed: get a fresh token.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` does not contain this server's audience.
    #[error("token audience not accepted")]
    WrongAudience,
    /// `iss` is not the configured issuer.
    #[error("token issuer not accepted")]
    WrongIssuer,
    /// A claim is missing or has the wrong shape; the detail is for logs only.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
    /// Authenticated, but the token lacks a scope the operation needs.
    #[error("insufficient scope: {required} required")]
    InsufficientScope {
        /// The scope the operation needs.
        required: Scope,
    },
}

impl AuthError {
    /// RFC 6750 error code, or `None` when no credentials were sent (RFC 6750 §3.1: then the
    /// challenge carries no error).
    pub fn oauth_code(&self) -> Option<&'static str> {
        match self {
            Self::Missing => None,
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// Short fixed text safe to send to the client.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Missing => "bearer token required",
            Self::Malformed => "malformed bearer token",
            Self::InvalidSignature => "invalid token signature",
            Self::Expired => "token expired",
            Self::NotYetValid => "token not yet valid",
            Self::WrongAudience => "token audience not accepted",
            Self::WrongIssuer => "token issuer not accepted",
            Self::InvalidClaims(_) => "invalid token claims",
            Self::InsufficientScope { .. } => "token lacks the required scope",
        }
    }
}
