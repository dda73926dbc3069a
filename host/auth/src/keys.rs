//! Key material: loading a public key or HS256 secret, or generating a secret on first start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::config::{AuthConfig, KeyAlgorithm};
use crate::error::AuthSetupError;

/// Name of the secret file generated in the data directory when nothing else is configured.
pub const SECRET_FILE_NAME: &str = "jwt-secret";

/// Random bytes in a generated secret (256 bits, the HS256 output size).
pub const GENERATED_SECRET_BYTES: usize = 32;

/// Shortest HS256 secret accepted. RFC 7518 §3.2 requires a key at least as long as the hash.
pub const MIN_SECRET_BYTES: usize = 32;

/// Largest key or secret file read; PEM keys are a few KiB at most.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Where the key material came from, so the server can say so at startup (and print a ready
/// admin token when it was just [`KeyOrigin::Generated`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// `public_key_file`; tokens come from an external issuer.
    PublicKey(PathBuf),
    /// `hs256_secret` given inline.
    ConfigSecret,
    /// `secret_file`.
    SecretFile(PathBuf),
    /// A secret generated on an earlier start, found in the data directory.
    DataDirSecret(PathBuf),
    /// A secret generated just now and written to this path.
    Generated(PathBuf),
}

/// Verification key, plus the signing key when we hold one. Exactly one algorithm.
#[derive(Clone)]
pub struct Keys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("algorithm", &self.algorithm_name())
            .field("can_mint", &self.can_mint())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads keys by priority: public key > `hs256_secret` > `secret_file` >
    /// `<data_dir>/jwt-secret`. If none exists, generates a secret into
    /// `<data_dir>/jwt-secret` (mode 0600, directory created 0700) and reports
    /// [`KeyOrigin::Generated`]. Also validates the rest of `config`.
    pub fn load(config: &AuthConfig, data_dir: &Path) -> Result<(Keys, KeyOrigin), AuthSetupError> {
        config.validate()?;
        if let Some(public) = &config.public_key_file {
            let algorithm = config.algorithm.ok_or(AuthSetupError::AlgorithmRequired)?;
            let keys = Self::from_pem_files(algorithm, public, config.private_key_file.as_deref())?;
            return Ok((keys, KeyOrigin::PublicKey(public.clone())));
        }
        if let Some(secret) = &config.hs256_secret {
            let keys = Self::hs256(secret.expose().as_bytes(), "auth.hs256_secret")?;
            return Ok((keys, KeyOrigin::ConfigSecret));
        }
        if let Some(path) = &config.secret_file {
            let secret = read_limited(path)?;
            let keys = Self::hs256(secret.trim_ascii(), &path.display().to_string())?;
            return Ok((keys, KeyOrigin::SecretFile(path.clone())));
        }
        let path = data_dir.join(SECRET_FILE_NAME);
        let (secret, origin) = match generate_secret_file(&path)? {
            Some(secret) => (secret, KeyOrigin::Generated(path.clone())),
            None => (
                read_data_dir_secret(&path)?,
                KeyOrigin::DataDirSecret(path.clone()),
            ),
        };
        let keys = Self::hs256(secret.trim_ascii(), &path.display().to_string())?;
        Ok((keys, origin))
    }

    /// HS256 keys from a shared secret of at least [`MIN_SECRET_BYTES`].
    pub fn from_secret(secret: &[u8]) -> Result<Self, AuthSetupError> {
        Self::hs256(secret, "the given secret")
    }

    /// Asymmetric keys from PEM files; `private_pem` (PKCS#8) enables minting and must match.
    pub fn from_pem_files(
        algorithm: KeyAlgorithm,
        public_pem: &Path,
        private_pem: Option<&Path>,
    ) -> Result<Self, AuthSetupError> {
        let invalid = |path: &Path, err: jsonwebtoken::errors::Error| AuthSetupError::InvalidKey {
            path: path.to_owned(),
            algorithm: algorithm.as_str(),
            reason: err.to_string(),
        };
        let pem = read_limited(public_pem)?;
        let (alg, decoding) = match algorithm {
            KeyAlgorithm::Rs256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
            KeyAlgorithm::Es256 => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
            KeyAlgorithm::EdDsa => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
        };
        let decoding = decoding.map_err(|e| invalid(public_pem, e))?;
        let encoding = match private_pem {
            None => None,
            Some(path) => {
                let pem = read_limited(path)?;
                let key = match algorithm {
                    KeyAlgorithm::Rs256 => EncodingKey::from_rsa_pem(&pem),
                    KeyAlgorithm::Es256 => EncodingKey::from_ec_pem(&pem),
                    KeyAlgorithm::EdDsa => EncodingKey::from_ed_pem(&pem),
                }
                .map_err(|e| invalid(path, e))?;
                check_pair(alg, &key, &decoding).map_err(|e| match e {
                    PairCheck::Sign(err) => invalid(path, err),
                    PairCheck::Mismatch => AuthSetupError::KeyPairMismatch,
                })?;
                Some(key)
            }
        };
        Ok(Self {
            algorithm: alg,
            decoding,
            encoding,
        })
    }

    fn hs256(secret: &[u8], origin: &str) -> Result<Self, AuthSetupError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AuthSetupError::SecretTooShort {
                origin: origin.to_owned(),
                len: secret.len(),
                min: MIN_SECRET_BYTES,
            });
        }
        Ok(Self {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
        })
    }

    /// The JOSE `alg` every accepted token must carry.
    pub fn algorithm_name(&self) -> &'static str {
        algorithm_name(self.algorithm)
    }

    /// Whether [`crate::mint()`] can sign tokens (we hold the secret or private key).
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }
}

/// JOSE name of the algorithms this crate uses.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        // Never constructed by `Keys`; a distinct name keeps any mistake from matching a header.
        _ => "unsupported",
    }
}

enum PairCheck {
    Sign(jsonwebtoken::errors::Error),
    Mismatch,
}

/// Signs a probe with the private key and verifies it with the public one, so a mismatched
/// pair fails at startup instead of minting tokens nobody accepts.
fn check_pair(
    alg: Algorithm,
    encoding: &EncodingKey,
    decoding: &DecodingKey,
) -> Result<(), PairCheck> {
    const PROBE: &[u8] = b"toolhost-key-pair-probe";
    let signature = jsonwebtoken::crypto::sign(PROBE, encoding, alg).map_err(PairCheck::Sign)?;
    match jsonwebtoken::crypto::verify(&signature, PROBE, decoding, alg) {
        Ok(true) => Ok(()),
        _ => Err(PairCheck::Mismatch),
    }
}

/// Reads a whole key file, refusing anything over [`MAX_KEY_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<Vec<u8>, AuthSetupError> {
    let read_err = |source| AuthSetupError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(AuthSetupError::KeyFileTooLarge {
            path: path.to_owned(),
            max: MAX_KEY_FILE_BYTES,
        });
    }
    Ok(bytes)
}

fn read_data_dir_secret(path: &Path) -> Result<Vec<u8>, AuthSetupError> {
    warn_if_readable_by_others(path);
    read_limited(path)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "JWT secret file is accessible by group or others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Creates `path` with a fresh hex-encoded random secret. Returns `None` if the file already
/// exists (including when a concurrent start created it first); never overwrites.
fn generate_secret_file(path: &Path) -> Result<Option<Vec<u8>>, AuthSetupError> {
    if path.exists() {
        return Ok(None);
    }
    let write_err = |source| AuthSetupError::WriteSecret {
        path: path.to_owned(),
        source,
    };
    let mut raw = [0u8; GENERATED_SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut raw)
        .map_err(|e| AuthSetupError::Random(e.to_string()))?;
    let mut text = hex::encode(raw);
    text.push('\n');

    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(write_err)?;
    }
    let mut file = match open_private_new(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(write_err(e)),
    };
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // A truncated secret would be picked up on the next start; better to retry from scratch.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(write_err(e));
    }
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(Some(text.into_bytes()))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private_new(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

    fn fixture(name: &str) -> PathBuf {
        Path::new(FIXTURES).join(name)
    }

    #[test]
    #[cfg(unix)]
    fn generates_a_private_secret_file_then_reuses_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let config = AuthConfig::default();

        let (first, origin) = Keys::load(&config, &data_dir).unwrap();
        let path = data_dir.join(SECRET_FILE_NAME);
        assert_eq!(origin, KeyOrigin::Generated(path.clone()));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let content = fs::read_to_string(&path).unwrap();
        assert_eq!(content.trim().len(), GENERATED_SECRET_BYTES * 2);

        let (second, origin) = Keys::load(&config, &data_dir).unwrap();
        assert_eq!(origin, KeyOrigin::DataDirSecret(path.clone()));
        assert_eq!(fs::read_to_string(&path).unwrap(), content);
        assert_eq!(
            first.decoding.try_get_as_bytes().unwrap(),
            second.decoding.try_get_as_bytes().unwrap()
        );
    }

    #[test]
    fn prefers_public_key_then_inline_secret_then_secret_file() {
        let tmp = tempfile::tempdir().unwrap();
        let secret_file = tmp.path().join("secret");
        fs::write(&secret_file, format!("  {}\n", "f".repeat(40))).unwrap();
        let mut config = AuthConfig {
            hs256_secret: Some(Secret::new("i".repeat(32))),
            secret_file: Some(secret_file.clone()),
            public_key_file: Some(fixture("ed_public.pem")),
            algorithm: Some(KeyAlgorithm::EdDsa),
            ..AuthConfig::default()
        };

        let (keys, origin) = Keys::load(&config, tmp.path()).unwrap();
        assert_eq!(origin, KeyOrigin::PublicKey(fixture("ed_public.pem")));
        assert_eq!(keys.algorithm_name(), "EdDSA");
        assert!(!keys.can_mint());

        config.public_key_file = None;
        config.algorithm = None;
        let (keys, origin) = Keys::load(&config, tmp.path()).unwrap();
        assert_eq!(origin, KeyOrigin::ConfigSecret);
        assert_eq!(
            keys.decoding.try_get_as_bytes().unwrap(),
            "i".repeat(32).as_bytes()
        );

        config.hs256_secret = None;
        let (keys, origin) = Keys::load(&config, tmp.path()).unwrap();
        assert_eq!(origin, KeyOrigin::SecretFile(secret_file));
        assert_eq!(
            keys.decoding.try_get_as_bytes().unwrap(),
            "f".repeat(40).as_bytes()
        );
        assert!(
            !tmp.path().join(SECRET_FILE_NAME).exists(),
            "no secret generated when one is configured"
        );
    }

    #[test]
    fn public_key_requires_an_algorithm_and_vice_versa() {
        let tmp = tempfile::tempdir().unwrap();
        let config = AuthConfig {
            public_key_file: Some(fixture("rsa_public.pem")),
            ..AuthConfig::default()
        };
        assert!(matches!(
            Keys::load(&config, tmp.path()),
            Err(AuthSetupError::AlgorithmRequired)
        ));
        let config = AuthConfig {
            algorithm: Some(KeyAlgorithm::Rs256),
            ..AuthConfig::default()
        };
        assert!(matches!(
            Keys::load(&config, tmp.path()),
            Err(AuthSetupError::AlgorithmWithoutPublicKey)
        ));
    }

    #[test]
    fn rejects_a_key_of_another_algorithm() {
        let err =
            Keys::from_pem_files(KeyAlgorithm::Rs256, &fixture("ec_public.pem"), None).unwrap_err();
        assert!(
            matches!(
                err,
                AuthSetupError::InvalidKey {
                    algorithm: "RS256",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_mismatched_private_key() {
        let err = Keys::from_pem_files(
            KeyAlgorithm::Es256,
            &fixture("ec_public.pem"),
            Some(&fixture("ec_other_private.pem")),
        )
        .unwrap_err();
        assert!(matches!(err, AuthSetupError::KeyPairMismatch), "{err}");
    }

    #[test]
    fn accepts_matching_pairs_for_every_algorithm() {
        for (alg, public, private) in [
            (KeyAlgorithm::Rs256, "rsa_public.pem", "rsa_private.pem"),
            (KeyAlgorithm::Es256, "ec_public.pem", "ec_private.pem"),
            (KeyAlgorithm::EdDsa, "ed_public.pem", "ed_private.pem"),
        ] {
            let keys =
                Keys::from_pem_files(alg, &fixture(public), Some(&fixture(private))).unwrap();
            assert!(keys.can_mint(), "{alg}");
            assert_eq!(keys.algorithm_name(), alg.as_str());
        }
    }

    #[test]
    fn rejects_short_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let config = AuthConfig {
            hs256_secret: Some(Secret::new("short")),
            ..AuthConfig::default()
        };
        let err = Keys::load(&config, tmp.path()).unwrap_err();
        assert!(
            matches!(err, AuthSetupError::SecretTooShort { len: 5, .. }),
            "{err}"
        );
        assert!(
            !err.to_string().contains("short\""),
            "the secret itself is not in the message"
        );
    }

    #[test]
    fn missing_secret_file_is_an_error_not_a_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        let config = AuthConfig {
            secret_file: Some(tmp.path().join("nope")),
            ..AuthConfig::default()
        };
        assert!(matches!(
            Keys::load(&config, tmp.path()),
            Err(AuthSetupError::Read { .. })
        ));
    }
}
