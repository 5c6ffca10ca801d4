//! Verification keys, each pinned to the one algorithm it verifies.
//!
//! Static keys (an HS256 secret, a PEM public key) are read at start. A JWKS comes from a file
//! or from the configured URL only (never from a URL a token names): it is read at start,
//! again every `--auth-jwks-refresh`, and when a token names a `kid` the set does not hold, but
//! never more often than `--auth-jwks-min-interval`, so a flood of tokens with made-up `kid`s
//! cannot make the edge hammer the identity provider. Symmetric (`oct`) keys and keys marked
//! for encryption in a JWKS are ignored: a JWKS is public.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::{AuthError, AuthSettings};

/// One verification key.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Where the JWKS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    File(std::path::PathBuf),
    Url(String),
}

/// The JWKS and when it was last fetched.
struct Jwks {
    source: JwksSource,
    keys: RwLock<Arc<Vec<Key>>>,
    /// The last fetch attempt; held while fetching, so concurrent misses fetch once.
    last_fetch: Mutex<Instant>,
    min_interval: Duration,
    refresh: Duration,
}

/// Every key the edge verifies with.
pub struct Keys {
    fixed: Vec<Key>,
    jwks: Option<Jwks>,
}

impl Keys {
    pub(super) async fn load(
        settings: &AuthSettings,
        secret_env: Option<String>,
    ) -> anyhow::Result<Keys> {
        let mut fixed = Vec::new();
        let secret =
            match (&settings.auth_hs256_secret_file, secret_env) {
                (Some(_), Some(_)) => anyhow::bail!(
                    "both --auth-hs256-secret-file and {} are set: keep one",
                    super::SECRET_ENV
                ),
                (Some(path), None) => Some(std::fs::read(path).with_context(|| {
                    format!("reading --auth-hs256-secret-file {}", path.display())
                })?),
                (None, Some(env)) => Some(env.into_bytes()),
                (None, None) => None,
            };
        if let Some(mut secret) = secret {
            while secret.last().is_some_and(u8::is_ascii_whitespace) {
                secret.pop();
            }
            anyhow::ensure!(
                secret.len() >= 32,
                "the HS256 secret is {} bytes: use at least 32 random bytes",
                secret.len()
            );
            fixed.push(Key {
                kid: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(&secret).context("the HS256 secret")?,
            });
        }
        match (
            &settings.auth_public_key,
            &settings.auth_public_key_algorithm,
        ) {
            (Some(path), Some(name)) => {
                let algorithm = public_algorithm(name)?;
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading --auth-public-key {}", path.display()))?;
                let key = match algorithm {
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                    _ => DecodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| {
                    anyhow::anyhow!(
                        "--auth-public-key {}: not a PEM public key for {name} ({e})",
                        path.display()
                    )
                })?;
                fixed.push(Key {
                    kid: None,
                    algorithm,
                    key,
                });
            }
            (Some(_), None) => anyhow::bail!(
                "--auth-public-key needs --auth-public-key-algorithm (RS256, ES256, EdDSA, …): \
                 each key verifies one algorithm"
            ),
            (None, Some(_)) => {
                anyhow::bail!("--auth-public-key-algorithm is set without --auth-public-key")
            }
            (None, None) => {}
        }
        let jwks = match &settings.auth_jwks {
            None => None,
            Some(location) => {
                let source = if location.starts_with("http://") || location.starts_with("https://")
                {
                    JwksSource::Url(location.clone())
                } else {
                    JwksSource::File(location.into())
                };
                let keys = read_jwks(&source)
                    .await
                    .with_context(|| format!("reading --auth-jwks {location}"))?;
                anyhow::ensure!(
                    !keys.is_empty(),
                    "--auth-jwks {location} holds no signing key this edge can use \
                     (RSA, EC P-256/P-384 or Ed25519)"
                );
                anyhow::ensure!(
                    settings.auth_jwks_min_interval >= Duration::from_secs(1),
                    "--auth-jwks-min-interval must be at least 1s"
                );
                Some(Jwks {
                    source,
                    keys: RwLock::new(Arc::new(keys)),
                    last_fetch: Mutex::new(Instant::now()),
                    min_interval: settings.auth_jwks_min_interval,
                    refresh: settings
                        .auth_jwks_refresh
                        .max(settings.auth_jwks_min_interval),
                })
            }
        };
        anyhow::ensure!(
            !fixed.is_empty() || jwks.is_some(),
            "--auth jwt needs a key: {} (or --auth-hs256-secret-file), --auth-public-key with \
             --auth-public-key-algorithm, or --auth-jwks",
            super::SECRET_ENV
        );
        Ok(Keys { fixed, jwks })
    }

    /// The key for a token's header: by `kid` in the JWKS (fetched again when unknown, at the
    /// bounded rate), else the configured key of the token's algorithm.
    pub(super) async fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, Algorithm), AuthError> {
        if let (Some(jwks), Some(kid)) = (&self.jwks, kid) {
            let mut found = jwks.lookup(kid).await;
            if found.is_none() && jwks.refetch(false).await {
                found = jwks.lookup(kid).await;
            }
            let key = found.ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?;
            if key.algorithm != alg {
                return Err(AuthError::Invalid(format!(
                    "key {kid:?} verifies {:?}, not {alg:?}",
                    key.algorithm
                )));
            }
            return Ok((key.key, key.algorithm));
        }
        if let Some(key) = self.fixed.iter().find(|k| k.algorithm == alg) {
            return Ok((key.key.clone(), key.algorithm));
        }
        if kid.is_none() && self.fixed.is_empty() {
            return Err(AuthError::Invalid("the token has no key id (kid)".into()));
        }
        let accepted: Vec<String> = self
            .fixed
            .iter()
            .map(|k| format!("{:?}", k.algorithm))
            .collect();
        Err(AuthError::Invalid(format!(
            "algorithm {alg:?} is not accepted (this edge verifies {})",
            if accepted.is_empty() {
                "JWKS keys by kid".to_owned()
            } else {
                accepted.join(", ")
            }
        )))
    }

    /// Fetches the JWKS again if it is due (the periodic refresh); a no-op without a JWKS.
    pub async fn refresh_if_due(&self) {
        if let Some(jwks) = &self.jwks {
            jwks.refetch(true).await;
        }
    }

    /// How often [`Keys::refresh_if_due`] should run, when there is a JWKS.
    pub fn refresh_period(&self) -> Option<Duration> {
        self.jwks.as_ref().map(|j| j.refresh)
    }
}

impl Jwks {
    async fn lookup(&self, kid: &str) -> Option<Key> {
        self.keys
            .read()
            .await
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .cloned()
    }

    /// Fetches the set again when the last fetch is older than the bound (`periodic`: the
    /// refresh period). Returns whether a fetch succeeded; a failed fetch keeps the old set.
    async fn refetch(&self, periodic: bool) -> bool {
        let mut last = self.last_fetch.lock().await;
        let wait = if periodic {
            self.refresh
        } else {
            self.min_interval
        };
        if last.elapsed() < wait {
            return false;
        }
        *last = Instant::now();
        match read_jwks(&self.source).await {
            Ok(keys) if !keys.is_empty() => {
                tracing::info!(keys = keys.len(), "JWKS fetched");
                *self.keys.write().await = Arc::new(keys);
                true
            }
            Ok(_) => {
                tracing::warn!("JWKS fetch returned no usable key; keeping the previous set");
                false
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "JWKS fetch failed; keeping the previous set");
                false
            }
        }
    }
}

async fn read_jwks(source: &JwksSource) -> anyhow::Result<Vec<Key>> {
    let body = match source {
        JwksSource::File(path) => tokio::fs::read(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?,
        JwksSource::Url(url) => super::fetch::get(url).await?,
    };
    let set: JwkSet = serde_json::from_slice(&body).context("not a JWKS (JSON with \"keys\")")?;
    Ok(set.keys.iter().filter_map(key_from_jwk).collect())
}

/// A signing key of a JWKS with its one algorithm; `None` for keys this edge does not take.
fn key_from_jwk(jwk: &Jwk) -> Option<Key> {
    let kid = jwk.common.key_id.clone()?;
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
        (_, AlgorithmParameters::OctetKey(_) | AlgorithmParameters::Other(_)) => return None,
        (Some(alg), _) => match alg {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            KeyAlgorithm::ES256 => Algorithm::ES256,
            KeyAlgorithm::ES384 => Algorithm::ES384,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            _ => return None,
        },
        (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
        (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
        #[allow(unreachable_patterns)]
        (None, _) => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        kid: Some(kid),
        algorithm,
        key,
    })
}

fn public_algorithm(name: &str) -> anyhow::Result<Algorithm> {
    let algorithm: Algorithm = name.trim().parse().map_err(|_| {
        anyhow::anyhow!("--auth-public-key-algorithm {name:?}: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA")
    })?;
    anyhow::ensure!(
        !matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512),
        "--auth-public-key-algorithm {name}: a public key verifies RS*, PS*, ES* or EdDSA; an HMAC \
         secret goes in {} or --auth-hs256-secret-file",
        super::SECRET_ENV
    );
    Ok(algorithm)
}
