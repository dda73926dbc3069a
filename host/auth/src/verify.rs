//! Token verification: one configured algorithm, required claims, scopes.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::keys::{Keys, algorithm_name};
use crate::scope::{Scope, ScopeSet};

/// Longest bearer token accepted, in bytes. Real tokens are well under 2 KiB; the limit
/// bounds the work an unauthenticated request can cause.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// An authenticated caller, inserted into request extensions by
/// [`crate::middleware::require_bearer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The `sub` claim, never empty.
    pub subject: String,
    /// Scopes from `scope` and `scp`.
    pub scopes: ScopeSet,
    /// The `exp` claim, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Principal {
    /// `Ok` if the principal holds `scope` (or a stronger one); the error converts to a 403
    /// with [`crate::AuthRejection::new`].
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope { required: scope })
        }
    }

    /// Whether the principal holds `scope` (or a stronger one).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }

    /// The raw scope strings, unknown ones included, for passing on to plugins.
    pub fn scope_strings(&self) -> &[String] {
        self.scopes.as_strings()
    }
}

/// Checks bearer tokens against the configured key, audience and issuer. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    algorithm: &'static str,
    issuer: String,
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &self.inner.algorithm)
            .field("audience", &self.inner.validation.aud)
            .field("issuer", &self.inner.validation.iss)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier accepting only `keys`' algorithm, with `config`'s audience, issuer and
    /// leeway. `config` is expected to have passed [`AuthConfig::validate`] (as
    /// [`Keys::load`] does).
    pub fn new(keys: &Keys, config: &AuthConfig) -> Self {
        let mut validation = Validation::new(keys.algorithm());
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_issuer(&[config.issuer.as_str()]);
        Self {
            inner: Arc::new(Inner {
                algorithm: algorithm_name(keys.algorithm()),
                issuer: config.issuer.clone(),
                key: keys.decoding().clone(),
                validation,
            }),
        }
    }

    /// Verifies a compact JWS and returns who it names.
    ///
    /// The algorithm comes from configuration, never from the token: a header naming any
    /// other `alg` (including `none`, or HS256 when a public key is configured) is refused
    /// before any key is used.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        self.check_header(token)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            token,
            &self.inner.key,
            &self.inner.validation,
        )
        .map_err(map_jwt_error)?;
        // jsonwebtoken accepts an `iss` array sharing one member with the configured set;
        // an issuer is a single string (RFC 7519 §4.1.1) and must equal ours.
        match data.claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.inner.issuer => {}
            _ => return Err(AuthError::WrongIssuer),
        }
        principal_from_claims(&data.claims)
    }

    fn check_header(&self, token: &str) -> Result<(), AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| AuthError::Malformed)?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
        match header.get("alg") {
            Some(Value::String(alg)) if alg == self.inner.algorithm => {}
            Some(Value::String(_)) => return Err(AuthError::InvalidSignature),
            _ => return Err(AuthError::Malformed),
        }
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
        if header.contains_key("crit") {
            return Err(AuthError::InvalidClaims(
                "unsupported crit header".to_owned(),
            ));
        }
        Ok(())
    }
}

fn map_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    match err.into_kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::InvalidClaims(format!("missing or malformed {claim}"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaims(format!("malformed {claim}"))
        }
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthError::InvalidSignature,
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => AuthError::Malformed,
        other => {
            // Key or provider trouble is our fault, not the caller's; still refuse the token.
            tracing::error!(error = ?other, "token verification failed inside the crypto provider");
            AuthError::InvalidSignature
        }
    }
}

fn principal_from_claims(claims: &Map<String, Value>) -> Result<Principal, AuthError> {
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => {
            return Err(AuthError::InvalidClaims(
                "sub must be a non-empty string".to_owned(),
            ));
        }
    };
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_number)
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
        .ok_or_else(|| AuthError::InvalidClaims("malformed exp".to_owned()))?;

    let mut scopes = Vec::new();
    match claims.get("scope") {
        None => {}
        Some(Value::String(s)) => scopes.extend(s.split(' ').map(str::to_owned)),
        Some(_) => {
            return Err(AuthError::InvalidClaims(
                "scope must be a string".to_owned(),
            ));
        }
    }
    match claims.get("scp") {
        None => {}
        Some(Value::String(s)) => scopes.extend(s.split(' ').map(str::to_owned)),
        Some(Value::Array(items)) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err(AuthError::InvalidClaims("scp must hold strings".to_owned()));
                };
                scopes.push(s.clone());
            }
        }
        Some(_) => {
            return Err(AuthError::InvalidClaims(
                "scp must be a string or an array".to_owned(),
            ));
        }
    }
    Ok(Principal {
        subject,
        scopes: ScopeSet::from_strings(scopes),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn verifier() -> Verifier {
        Verifier::new(&Keys::from_secret(SECRET).unwrap(), &AuthConfig::default())
    }

    fn now() -> i64 {
        get_current_timestamp() as i64
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn claims(extra: Value) -> Value {
        let mut base =
            json!({"sub": "alice", "aud": "toolhost", "iss": "toolhost", "exp": now() + 600});
        if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
            base.extend(extra);
        }
        base
    }

    #[test]
    fn accepts_a_minimal_token() {
        let principal = verifier().verify(&token(claims(json!({})))).unwrap();
        assert_eq!(principal.subject, "alice");
        assert!(principal.scopes.is_empty());
        assert!(principal.expires_at > now());
    }

    #[test]
    fn reads_scopes_from_scope_and_scp() {
        let table = [
            (
                json!({"scope": "read plugin:x"}),
                vec!["read", "plugin:x"],
                Scope::Read,
            ),
            (
                json!({"scp": ["write", "plugin:y"]}),
                vec!["write", "plugin:y"],
                Scope::Write,
            ),
            (json!({"scp": "admin"}), vec!["admin"], Scope::Admin),
            (
                json!({"scope": "read", "scp": ["admin"]}),
                vec!["read", "admin"],
                Scope::Admin,
            ),
        ];
        for (extra, raw, strongest) in table {
            let principal = verifier().verify(&token(claims(extra.clone()))).unwrap();
            assert_eq!(principal.scope_strings(), raw, "{extra}");
            assert!(principal.allows(strongest), "{extra}");
            assert_eq!(principal.require(strongest), Ok(()));
        }
    }

    #[test]
    fn rejects_bad_claims_with_the_matching_error() {
        let table = [
            (json!({"sub": ""}), "invalid"),
            (json!({"sub": 7}), "invalid"),
            (json!({"scope": ["read"]}), "invalid"),
            (json!({"scp": [1]}), "invalid"),
            (json!({"aud": ["other", "toolhost"]}), "ok"),
            (json!({"aud": ["other"]}), "audience"),
            (json!({"aud": "other"}), "audience"),
            (json!({"iss": "other"}), "issuer"),
            (json!({"iss": ["toolhost", "other"]}), "issuer"),
            (json!({"exp": now() - 600}), "expired"),
            (json!({"exp": now() - 10}), "ok"),
            (json!({"nbf": now() + 600}), "not-yet"),
            (json!({"nbf": now() + 10}), "ok"),
            (json!({"exp": "soon"}), "invalid"),
        ];
        for (extra, expected) in table {
            let result = verifier().verify(&token(claims(extra.clone())));
            let matched = matches!(
                (&result, expected),
                (Ok(_), "ok")
                    | (Err(AuthError::InvalidClaims(_)), "invalid")
                    | (Err(AuthError::WrongAudience), "audience")
                    | (Err(AuthError::WrongIssuer), "issuer")
                    | (Err(AuthError::Expired), "expired")
                    | (Err(AuthError::NotYetValid), "not-yet")
            );
            assert!(matched, "{extra}: expected {expected}, got {result:?}");
        }
    }

    #[test]
    fn requires_exp_aud_iss_and_sub() {
        for claim in ["exp", "aud", "iss", "sub"] {
            let mut c = claims(json!({}));
            c.as_object_mut().unwrap().remove(claim);
            let result = verifier().verify(&token(c));
            assert!(
                matches!(result, Err(AuthError::InvalidClaims(_))),
                "without {claim}: {result:?}"
            );
        }
    }

    #[test]
    fn refuses_other_algorithms_and_crit_headers_before_verifying() {
        let enc = |header: Value| URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        let table = [
            (json!({"alg": "none"}), AuthError::InvalidSignature),
            (json!({"alg": "HS512"}), AuthError::InvalidSignature),
            (json!({"alg": "hs256"}), AuthError::InvalidSignature),
            (json!({}), AuthError::Malformed),
            (
                json!({"alg": "HS256", "crit": ["exp"]}),
                AuthError::InvalidClaims("unsupported crit header".to_owned()),
            ),
        ];
        for (header, expected) in table {
            let token = format!("{}.{body}.AAAA", enc(header.clone()));
            assert_eq!(verifier().verify(&token), Err(expected), "{header}");
        }
    }

    #[test]
    fn rejects_malformed_and_oversized_input() {
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for input in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x", long.as_str()] {
            assert_eq!(
                verifier().verify(input),
                Err(AuthError::Malformed),
                "{input:.20}"
            );
        }
    }

    #[test]
    fn rejects_a_token_signed_with_another_secret() {
        let other = encode(
            &Header::default(),
            &claims(json!({})),
            &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
        )
        .unwrap();
        assert_eq!(verifier().verify(&other), Err(AuthError::InvalidSignature));
    }
}
