//! Test tokens: the fixture keys in `tests/fixtures/keys` (test-only), JWTs signed with them,
//! JWKS documents, and the forged tokens the edge must refuse.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// An HS256 secret of the right length.
pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// A fixture key file.
pub fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(key_file(name)).expect("a fixture key")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A signing key of the fixtures.
#[derive(Clone, Copy, Debug)]
pub enum Signer {
    Hs256,
    Rs256,
    /// The second RSA key (for rotation).
    Rs256Second,
    Es256,
    EdDsa,
}

impl Signer {
    pub fn algorithm(self) -> Algorithm {
        match self {
            Signer::Hs256 => Algorithm::HS256,
            Signer::Rs256 | Signer::Rs256Second => Algorithm::RS256,
            Signer::Es256 => Algorithm::ES256,
            Signer::EdDsa => Algorithm::EdDSA,
        }
    }

    fn key(self) -> EncodingKey {
        match self {
            Signer::Hs256 => EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            Signer::Rs256 => EncodingKey::from_rsa_pem(&read("rsa-private.pem")).unwrap(),
            Signer::Rs256Second => EncodingKey::from_rsa_pem(&read("rsa2-private.pem")).unwrap(),
            Signer::Es256 => EncodingKey::from_ec_pem(&read("ec-private.pem")).unwrap(),
            Signer::EdDsa => EncodingKey::from_ed_pem(&read("ed-private.pem")).unwrap(),
        }
    }

    /// The public key file (none for HS256).
    pub fn public_key(self) -> PathBuf {
        key_file(match self {
            Signer::Hs256 => panic!("HS256 has no public key"),
            Signer::Rs256 => "rsa-public.pem",
            Signer::Rs256Second => "rsa2-public.pem",
            Signer::Es256 => "ec-public.pem",
            Signer::EdDsa => "ed-public.pem",
        })
    }

    /// A token with `claims`, and `kid` in its header when given.
    pub fn sign(self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.algorithm());
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key()).expect("a signed token")
    }

    /// The public key as a JWK with `kid` (and its `alg`).
    pub fn jwk(self, kid: &str) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key(), self.algorithm()).expect("a JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    }
}

/// A JWKS of `keys`.
pub fn jwks(keys: &[(Signer, &str)]) -> String {
    let set = JwkSet {
        keys: keys.iter().map(|(s, kid)| s.jwk(kid)).collect(),
    };
    serde_json::to_string(&set).expect("a JWKS")
}

/// Claims valid for `seconds` from now, allowing `events` (the `adic_events` claim).
pub fn claims(sub: &str, events: &[&str], seconds: u64) -> Value {
    json!({ "sub": sub, "exp": now() + seconds, "adic_events": events })
}

/// A token with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// A token with `alg: HS256` whose HMAC secret is `public_pem`: the key-confusion attack on a
/// verifier that takes the algorithm from the token.
pub fn hmac_with_public_key(claims: &Value, public_pem: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(public_pem).unwrap(),
    )
    .expect("a signed token")
}
