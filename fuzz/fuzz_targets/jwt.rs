//! JWT authentication: the token a request presents (`Authorization`, the cookie, `token`),
//! and `Auth::verify` on it with a fixed HS256 test key. Two kinds of input: a raw token (what
//! anyone can send), and a header and claims signed with the test key (what reaches the claim
//! handling: `exp`, `nbf`, `iss`, `aud`, `sub` and the grant claim). Must never panic.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use adic_edge::auth::{Auth, AuthMode, AuthSettings, Secret};
use axum::http::{header, HeaderMap, HeaderValue};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzzing-test-key-0123456789abcdef-not-a-real-one";

fn auth(strict: bool) -> &'static Auth {
    static PLAIN: OnceLock<Auth> = OnceLock::new();
    static STRICT: OnceLock<Auth> = OnceLock::new();
    let cell = if strict { &STRICT } else { &PLAIN };
    cell.get_or_init(|| {
        let mut settings = AuthSettings {
            mode: AuthMode::Jwt,
            hs256_secret: Some(Secret(SECRET.into())),
            auth_cookie: Some("adic_token".into()),
            ..AuthSettings::default()
        };
        if strict {
            settings.auth_issuer = vec!["https://issuer.example".into()];
            settings.auth_audience = vec!["adic".into()];
            settings.auth_default_events = "high".into();
        }
        futures::executor::block_on(Auth::build(&settings))
            .expect("the test key builds")
            .expect("authentication is on")
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let auth = auth(control & 4 != 0);
    // Where a request's token comes from.
    if let Ok(value) = HeaderValue::from_bytes(rest) {
        let mut headers = HeaderMap::new();
        let name = if control & 8 == 0 {
            header::AUTHORIZATION
        } else {
            header::COOKIE
        };
        headers.insert(name, value);
        let _ = auth.token_from(&headers, &HashMap::new());
    }
    let token = if control & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        }
    } else {
        // Signed with the test key: `<header JSON>\n<claims JSON>`, or only claims.
        let (head, claims) = if control & 2 == 0 {
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&rest[..0], rest),
            }
        } else {
            (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest)
        };
        let message = format!("{}.{}", b64(head), b64(claims));
        let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("an HMAC key");
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
            .expect("HS256 signs");
        format!("{message}.{signature}")
    };
    match futures::executor::block_on(auth.verify(&token)) {
        Ok(grant) => {
            assert!(!grant.allowed.is_empty());
            let _ = grant.names();
            let _ = grant.remaining();
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty());
            if token.len() > 16 {
                assert!(!shown.contains(&token), "an error shows the token");
            }
            let _ = e.response();
        }
    }
});
