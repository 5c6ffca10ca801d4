//! Authentication (who may connect) and authorization (what each connection may receive).
//!
//! Off by default. With `--auth jwt`, every WebSocket, SSE and polling request needs a JWT,
//! verified at [`admission`](crate::admission) before any work is done for the request:
//!
//! - **Keys, each pinned to one algorithm**: an HS256 secret (`ADIC_EDGE_AUTH_HS256_SECRET` or
//!   `--auth-hs256-secret-file`, never a flag value), a PEM public key with its algorithm, or a
//!   JWKS (a file, or a URL fetched, cached and refreshed by `kid`, see [`keys`]). A token whose
//!   `alg` is not its key's algorithm is refused, so a public key is never used as an HMAC
//!   secret, and `alg: none` never verifies.
//! - **Claims**: `exp` required (with `--auth-leeway` for clock skew), `nbf` checked when
//!   present, `iss` and `aud` when configured. The claim `--auth-claim` (default
//!   `adic_events`) lists what the holder may receive, in the `events=` / `priority=`
//!   vocabulary: event names in either form, `high` / `medium` / `low`, or `all`. A token
//!   without it gets `--auth-default-events` (default: nothing, so the request is refused).
//! - **Where the token comes from**: `Authorization: Bearer`, the cookie `--auth-cookie`, or
//!   the `token` query parameter (browsers' `EventSource` cannot set headers). A WebSocket
//!   client can instead send `{"type":"Auth","token":"…"}` as its first message, which keeps
//!   the token out of URLs and proxy logs, and again before `exp` to stay connected.
//!
//! Tokens are never logged; a connection's `sub` is.

mod fetch;
pub mod keys;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adic_protocol::{parse_grant, Kind, KindSet};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

use crate::error::ApiError;
use keys::Keys;

/// The environment variable an HS256 secret may come from (there is no flag for it, so the
/// secret never shows in `ps`).
pub const SECRET_ENV: &str = "ADIC_EDGE_AUTH_HS256_SECRET";

/// The latest `exp` accepted: 9999-12-31T23:59:59Z.
const LAST_EXP: u64 = 253_402_300_799;

/// Whether requests need a token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Anyone who can reach the edge receives every event.
    #[default]
    Off,
    /// Every WebSocket, SSE and polling request needs a valid JWT.
    Jwt,
}

/// A secret whose `Debug` does not show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The authentication settings (flags and `ADIC_EDGE_AUTH_*` variables).
#[derive(Clone, Debug, clap::Args)]
pub struct AuthSettings {
    /// The HS256 secret, from [`SECRET_ENV`] (`adic-edge` reads it; embedders set it).
    #[arg(skip)]
    pub hs256_secret: Option<Secret>,
    /// `off`: anyone who reaches the edge receives every event; `jwt`: every WebSocket, SSE and
    /// polling request needs a valid JWT.
    #[arg(
        long = "auth",
        env = "ADIC_EDGE_AUTH",
        value_enum,
        default_value = "off"
    )]
    pub mode: AuthMode,
    /// File holding the HS256 secret (or set ADIC_EDGE_AUTH_HS256_SECRET; there is no flag for
    /// the secret itself).
    #[arg(long, env = "ADIC_EDGE_AUTH_HS256_SECRET_FILE")]
    pub auth_hs256_secret_file: Option<PathBuf>,
    /// PEM file of a public key tokens are signed for (RSA, EC or Ed25519).
    #[arg(long, env = "ADIC_EDGE_AUTH_PUBLIC_KEY")]
    pub auth_public_key: Option<PathBuf>,
    /// The one algorithm --auth-public-key verifies: RS256, RS384, RS512, PS256, PS384, PS512,
    /// ES256, ES384 or EdDSA.
    #[arg(long, env = "ADIC_EDGE_AUTH_PUBLIC_KEY_ALGORITHM")]
    pub auth_public_key_algorithm: Option<String>,
    /// A JWKS: a file, or an http(s) URL fetched at start, every --auth-jwks-refresh, and when a
    /// token names an unknown `kid` (at most once per --auth-jwks-min-interval).
    #[arg(long, env = "ADIC_EDGE_AUTH_JWKS")]
    pub auth_jwks: Option<String>,
    /// How often the JWKS is fetched again.
    #[arg(long, env = "ADIC_EDGE_AUTH_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration)]
    pub auth_jwks_refresh: Duration,
    /// Shortest time between two JWKS fetches (an unknown `kid` cannot make the edge fetch more
    /// often).
    #[arg(long, env = "ADIC_EDGE_AUTH_JWKS_MIN_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub auth_jwks_min_interval: Duration,
    /// Accepted `iss` values, comma-separated; when set, tokens must carry one of them.
    #[arg(long, env = "ADIC_EDGE_AUTH_ISSUER", value_delimiter = ',')]
    pub auth_issuer: Vec<String>,
    /// Accepted `aud` values, comma-separated; when set, tokens must carry one of them.
    #[arg(long, env = "ADIC_EDGE_AUTH_AUDIENCE", value_delimiter = ',')]
    pub auth_audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`; a connection is closed this long after `exp`.
    #[arg(long, env = "ADIC_EDGE_AUTH_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub auth_leeway: Duration,
    /// A cookie that may carry the token. Needs --cors-origins and --ws-origins to list the
    /// allowed origins (not `*`).
    #[arg(long, env = "ADIC_EDGE_AUTH_COOKIE")]
    pub auth_cookie: Option<String>,
    /// The claim listing what the holder may receive (event names, high/medium/low, or all).
    #[arg(long, env = "ADIC_EDGE_AUTH_CLAIM", default_value = "adic_events")]
    pub auth_claim: String,
    /// What a token without that claim may receive, comma-separated; empty: nothing (such a
    /// token is refused).
    #[arg(long, env = "ADIC_EDGE_AUTH_DEFAULT_EVENTS", default_value = "")]
    pub auth_default_events: String,
    /// How long a WebSocket client that presented no token at the upgrade has to send Auth.
    #[arg(long, env = "ADIC_EDGE_AUTH_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub auth_timeout: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Off,
            hs256_secret: None,
            auth_hs256_secret_file: None,
            auth_public_key: None,
            auth_public_key_algorithm: None,
            auth_jwks: None,
            auth_jwks_refresh: Duration::from_secs(300),
            auth_jwks_min_interval: Duration::from_secs(30),
            auth_issuer: Vec::new(),
            auth_audience: Vec::new(),
            auth_leeway: Duration::from_secs(30),
            auth_cookie: None,
            auth_claim: "adic_events".to_owned(),
            auth_default_events: String::new(),
            auth_timeout: Duration::from_secs(10),
        }
    }
}

/// What a verified token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The token's `sub`, for logs and traces.
    pub sub: Option<String>,
    /// The kinds the holder may receive.
    pub allowed: KindSet,
    /// The token's `exp` (Unix seconds).
    pub exp: u64,
    /// When the connection must end: `exp` plus the leeway.
    pub ends_at: SystemTime,
}

impl Grant {
    /// The allowed kinds by name, for the `Authenticated` reply.
    pub fn names(&self) -> Vec<String> {
        if self.allowed == KindSet::ALL {
            return vec!["all".to_owned()];
        }
        self.allowed.kinds().map(|k| k.name().to_owned()).collect()
    }

    /// Time left before the connection must end.
    pub fn remaining(&self) -> Duration {
        self.ends_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }
}

/// Why a request was not authenticated or not authorized. The message never holds the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("a token is required: send Authorization: Bearer <JWT>, ?token=<JWT>, or (WebSocket) an Auth message")]
    Missing,
    /// The token is not one this edge accepts.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token expired.
    #[error("token expired")]
    Expired,
    /// The token is valid but does not allow what was asked.
    #[error("{0}")]
    Forbidden(String),
}

impl AuthError {
    /// The `reason` label of the rejected-connections counter.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Forbidden(_) => "forbidden",
            _ => "unauthorized",
        }
    }

    /// The WebSocket close code.
    pub fn close_code(&self) -> u16 {
        match self {
            AuthError::Forbidden(_) => adic_protocol::ws::close::FORBIDDEN,
            _ => adic_protocol::ws::close::UNAUTHORIZED,
        }
    }

    /// The HTTP refusal: 401 with `WWW-Authenticate` (RFC 6750), or 403; the one error shape.
    pub fn response(&self) -> Response {
        let (status, code, challenge) = match self {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            AuthError::Invalid(_) => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                Some("invalid_token"),
            ),
            AuthError::Expired => (
                StatusCode::UNAUTHORIZED,
                "token_expired",
                Some("invalid_token"),
            ),
            AuthError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                Some("insufficient_scope"),
            ),
        };
        let mut response = ApiError::new(status, self.to_string())
            .code(code)
            .into_response();
        if status == StatusCode::UNAUTHORIZED || challenge.is_some() {
            let value = match challenge {
                None => "Bearer realm=\"adic-stream\"".to_owned(),
                Some(error) => {
                    let description: String = self
                        .to_string()
                        .chars()
                        .map(|c| {
                            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                                '\''
                            } else {
                                c
                            }
                        })
                        .collect();
                    format!("Bearer realm=\"adic-stream\", error=\"{error}\", error_description=\"{description}\"")
                }
            };
            if let Ok(value) = HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// The edge's verifier, built once from [`AuthSettings`].
pub struct Auth {
    keys: Keys,
    claim: String,
    default_grant: KindSet,
    issuer: Vec<String>,
    audience: Vec<String>,
    leeway: Duration,
    cookie: Option<String>,
    /// How long a WebSocket client has to send Auth.
    pub timeout: Duration,
}

impl Auth {
    /// Builds the verifier; `None` when authentication is off. Every key source is read (a
    /// JWKS URL fetched) here, so a misconfigured edge fails at start with a message naming the
    /// setting.
    pub async fn build(settings: &AuthSettings) -> anyhow::Result<Option<Auth>> {
        let secret_env = settings.hs256_secret.as_ref().map(|s| s.0.clone());
        if settings.mode == AuthMode::Off {
            let configured = settings.auth_hs256_secret_file.is_some()
                || settings.auth_public_key.is_some()
                || settings.auth_jwks.is_some()
                || secret_env.is_some();
            anyhow::ensure!(
                !configured,
                "a token key is configured but --auth is off (ADIC_EDGE_AUTH=off): set --auth jwt \
                 to require tokens, or remove the key settings"
            );
            return Ok(None);
        }
        let keys = Keys::load(settings, secret_env).await?;
        let default_grant = grant_from_list(&settings.auth_default_events).map_err(|e| {
            anyhow::anyhow!("--auth-default-events (ADIC_EDGE_AUTH_DEFAULT_EVENTS): {e}")
        })?;
        anyhow::ensure!(
            !settings.auth_claim.trim().is_empty(),
            "--auth-claim must name a claim"
        );
        anyhow::ensure!(
            !settings.auth_timeout.is_zero(),
            "--auth-timeout must be above zero"
        );
        if let Some(cookie) = &settings.auth_cookie {
            anyhow::ensure!(
                !cookie.is_empty()
                    && cookie
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "--auth-cookie must be a cookie name (letters, digits, - _ .), not {cookie:?}"
            );
        }
        Ok(Some(Auth {
            keys,
            claim: settings.auth_claim.trim().to_owned(),
            default_grant,
            issuer: settings.auth_issuer.clone(),
            audience: settings.auth_audience.clone(),
            leeway: settings.auth_leeway,
            cookie: settings.auth_cookie.clone(),
            timeout: settings.auth_timeout,
        }))
    }

    /// The keys, for the periodic JWKS refresh.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The token a request presents: `Authorization: Bearer`, then the cookie, then `token`.
    pub fn token_from(
        &self,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Result<Option<String>, AuthError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| {
                AuthError::Invalid("the Authorization header must be visible ASCII".into())
            })?;
            let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(AuthError::Invalid(
                    "the Authorization header must be \"Bearer <JWT>\"".into(),
                ));
            }
            return Ok(Some(token.trim().to_owned()));
        }
        if let Some(name) = &self.cookie {
            for value in headers.get_all(header::COOKIE) {
                let Ok(value) = value.to_str() else { continue };
                for pair in value.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=') {
                        if k == name && !v.is_empty() {
                            return Ok(Some(v.trim_matches('"').to_owned()));
                        }
                    }
                }
            }
        }
        Ok(query.get("token").filter(|t| !t.is_empty()).cloned())
    }

    /// Verifies a token and reads what it allows.
    pub async fn verify(&self, token: &str) -> Result<Grant, AuthError> {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthError::Invalid(
                "a token is visible ASCII (base64url parts joined by dots)".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("not a JWT this edge accepts ({e})")))?;
        let (key, algorithm) = self.keys.find(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if self.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&self.issuer);
            validation.required_spec_claims.insert("iss".into());
        }
        if self.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audience);
            validation.required_spec_claims.insert("aud".into());
        }
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => {
                        AuthError::Invalid("not valid yet (nbf)".into())
                    }
                    ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience (aud)".into()),
                    ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer (iss)".into()),
                    ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                    ErrorKind::MissingRequiredClaim(claim) => {
                        AuthError::Invalid(format!("the {claim} claim is required"))
                    }
                    ErrorKind::InvalidAlgorithm => {
                        AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg))
                    }
                    _ => AuthError::Invalid(format!("{e}")),
                }
            })?;
        let claims = data.claims;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .filter(|e| e.is_finite() && *e >= 0.0)
            .ok_or_else(|| AuthError::Invalid("exp must be a number of seconds".into()))?
            as u64;
        let sub = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let allowed = match claims.get(&self.claim) {
            None => self.default_grant,
            Some(value) => grant_from_claim(value)
                .map_err(|e| AuthError::Invalid(format!("claim {:?}: {e}", self.claim)))?,
        };
        if allowed.is_empty() {
            return Err(AuthError::Forbidden(format!(
                "this token allows no events (no {:?} claim, and the edge grants nothing without it)",
                self.claim
            )));
        }
        // A signed token can carry any number; past the year 9999 it is not a time.
        let ends_at = UNIX_EPOCH
            .checked_add(Duration::from_secs(exp))
            .and_then(|t| t.checked_add(self.leeway))
            .filter(|_| exp <= LAST_EXP)
            .ok_or_else(|| AuthError::Invalid(format!("exp {exp} is not a time")))?;
        // The same instant a connection is closed at: a token is never accepted after it.
        if SystemTime::now() >= ends_at {
            return Err(AuthError::Expired);
        }
        Ok(Grant {
            sub,
            allowed,
            exp,
            ends_at,
        })
    }
}

/// A claim value: an array of names, or one comma-separated string.
fn grant_from_claim(value: &Value) -> Result<KindSet, String> {
    match value {
        Value::String(list) => grant_from_list(list),
        Value::Array(items) => {
            let names: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let names = names.ok_or("must be an array of strings")?;
            parse_grant(names).map_err(|e| e.to_string())
        }
        _ => Err("must be an array of event names, priorities or \"all\"".into()),
    }
}

fn grant_from_list(list: &str) -> Result<KindSet, String> {
    parse_grant(list.split(',').map(str::trim).filter(|n| !n.is_empty())).map_err(|e| e.to_string())
}

/// The names of `kinds`, for messages.
pub fn names_of(kinds: KindSet) -> String {
    kinds.kinds().map(Kind::name).collect::<Vec<_>>().join(", ")
}
