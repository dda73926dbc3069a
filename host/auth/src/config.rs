//! Host-wide authentication settings, as read from the config file and environment.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::AuthSetupError;

/// Audience a token must name when none is configured.
pub const DEFAULT_AUDIENCE: &str = "toolhost";

/// Issuer a token must name when none is configured; also what `toolhost token` writes.
pub const DEFAULT_ISSUER: &str = "toolhost";

/// Clock skew tolerated on `exp` and `nbf` when none is configured.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Largest clock skew we accept in configuration. Anything larger quietly extends every
/// token's lifetime, which is a configuration mistake rather than a clock problem.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// A shared HS256 secret. `Debug` never prints it.
///
/// `Serialize` writes the real value (layered config such as figment round-trips through
/// serde), so never log a serialized [`AuthConfig`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; the only way to read it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Asymmetric algorithm for a configured public key. HS256 is implied by a shared secret and
/// so is not listed here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl KeyAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of `RS256`, `ES256`, `EdDSA`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm {0:?} (expected RS256, ES256 or EdDSA)")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Self::Rs256),
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(UnknownKeyAlgorithm(other.to_owned())),
        }
    }
}

/// How toolhost checks bearer tokens. `AuthConfig::default()` is a working setup: HS256 with a
/// secret generated into the data directory on first start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Shared HS256 secret given inline (e.g. `TOOLHOST_AUTH__HS256_SECRET`).
    pub hs256_secret: Option<Secret>,
    /// File holding the shared HS256 secret; surrounding whitespace is ignored.
    pub secret_file: Option<PathBuf>,
    /// PEM public key; when set, only tokens signed by its private half are accepted.
    pub public_key_file: Option<PathBuf>,
    /// PEM (PKCS#8) private key matching `public_key_file`, only needed to mint tokens.
    pub private_key_file: Option<PathBuf>,
    /// Algorithm of `public_key_file`; required with it, rejected without it.
    pub algorithm: Option<KeyAlgorithm>,
    /// Value the `aud` claim must contain.
    pub audience: String,
    /// Value the `iss` claim must equal.
    pub issuer: String,
    /// Clock skew tolerated on `exp` and `nbf`, at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
    /// Protected resource identifier for RFC 9728 metadata; the server's public base URL
    /// otherwise.
    pub resource: Option<String>,
    /// Authorization servers advertised in the metadata document.
    pub authorization_servers: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            secret_file: None,
            public_key_file: None,
            private_key_file: None,
            algorithm: None,
            audience: DEFAULT_AUDIENCE.to_owned(),
            issuer: DEFAULT_ISSUER.to_owned(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            resource: None,
            authorization_servers: Vec::new(),
        }
    }
}

impl AuthConfig {
    /// Checks settings that do not need the filesystem; [`crate::Keys::load`] calls it.
    pub fn validate(&self) -> Result<(), AuthSetupError> {
        if self.public_key_file.is_none() {
            if self.algorithm.is_some() {
                return Err(AuthSetupError::AlgorithmWithoutPublicKey);
            }
            if self.private_key_file.is_some() {
                return Err(AuthSetupError::PrivateKeyWithoutPublicKey);
            }
        } else if self.algorithm.is_none() {
            return Err(AuthSetupError::AlgorithmRequired);
        }
        if self.audience.is_empty() {
            return Err(AuthSetupError::EmptyClaimSetting("audience"));
        }
        if self.issuer.is_empty() {
            return Err(AuthSetupError::EmptyClaimSetting("issuer"));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(AuthSetupError::LeewayTooLarge {
                given: self.leeway_secs,
                max: MAX_LEEWAY_SECS,
            });
        }
        Ok(())
    }

    /// The protected resource identifier: `resource` if configured, else `public_base_url`.
    pub fn resource_or(&self, public_base_url: &str) -> String {
        self.resource
            .clone()
            .unwrap_or_else(|| public_base_url.trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_toolhost_with_thirty_seconds_leeway() {
        let config: AuthConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, AuthConfig::default());
        assert_eq!(config.audience, "toolhost");
        assert_eq!(config.issuer, "toolhost");
        assert_eq!(config.leeway_secs, 30);
    }

    #[test]
    fn rejects_unknown_fields() {
        let err = serde_json::from_str::<AuthConfig>(r#"{"audiense":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn parses_algorithm_names_exactly() {
        let config: AuthConfig =
            serde_json::from_str(r#"{"algorithm":"EdDSA","public_key_file":"k.pem"}"#).unwrap();
        assert_eq!(config.algorithm, Some(KeyAlgorithm::EdDsa));
        assert!(serde_json::from_str::<AuthConfig>(r#"{"algorithm":"HS256"}"#).is_err());
        assert_eq!("ES256".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Es256));
        assert!("es256".parse::<KeyAlgorithm>().is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let config = AuthConfig {
            hs256_secret: Some(Secret::new("hunter2-hunter2")),
            ..AuthConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }

    #[test]
    fn validate_rejects_empty_audience_and_huge_leeway() {
        let config = AuthConfig {
            audience: String::new(),
            ..AuthConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(AuthSetupError::EmptyClaimSetting("audience"))
        ));
        let config = AuthConfig {
            leeway_secs: MAX_LEEWAY_SECS + 1,
            ..AuthConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(AuthSetupError::LeewayTooLarge { .. })
        ));
        let config = AuthConfig {
            private_key_file: Some("k".into()),
            ..AuthConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(AuthSetupError::PrivateKeyWithoutPublicKey)
        ));
        assert!(AuthConfig::default().validate().is_ok());
    }

    #[test]
    fn resource_falls_back_to_the_public_base_url() {
        let mut config = AuthConfig::default();
        assert_eq!(
            config.resource_or("https://h.example/"),
            "https://h.example"
        );
        config.resource = Some("https://h.example/mcp".to_owned());
        assert_eq!(config.resource_or("https://other"), "https://h.example/mcp");
    }
}
