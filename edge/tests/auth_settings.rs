//! Authentication settings that cannot work are refused at start with a message naming the
//! setting; none of this needs NATS.

use std::time::Duration;

use adic_edge::auth::{Auth, AuthMode, AuthSettings, Secret};

fn jwt() -> AuthSettings {
    AuthSettings {
        mode: AuthMode::Jwt,
        ..AuthSettings::default()
    }
}

async fn refused(settings: AuthSettings) -> String {
    match Auth::build(&settings).await {
        Ok(_) => panic!("accepted: {settings:?}"),
        Err(e) => format!("{e:#}"),
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/keys")
        .join(name)
}

#[tokio::test]
async fn unusable_settings_are_refused_with_the_setting_named() {
    assert!(refused(jwt()).await.contains("--auth jwt needs a key"));
    let short = AuthSettings {
        hs256_secret: Some(Secret("short".into())),
        ..jwt()
    };
    assert!(refused(short).await.contains("at least 32"));
    let no_algorithm = AuthSettings {
        auth_public_key: Some(fixture("rsa-public.pem")),
        ..jwt()
    };
    assert!(refused(no_algorithm)
        .await
        .contains("--auth-public-key-algorithm"));
    let hmac_public = AuthSettings {
        auth_public_key: Some(fixture("rsa-public.pem")),
        auth_public_key_algorithm: Some("HS256".into()),
        ..jwt()
    };
    assert!(refused(hmac_public).await.contains("HMAC"));
    let wrong_type = AuthSettings {
        auth_public_key: Some(fixture("ec-public.pem")),
        auth_public_key_algorithm: Some("RS256".into()),
        ..jwt()
    };
    assert!(refused(wrong_type)
        .await
        .contains("not a PEM public key for RS256"));
    let bad_default = AuthSettings {
        hs256_secret: Some(Secret("x".repeat(32))),
        auth_default_events: "tips.update,nope".into(),
        ..jwt()
    };
    assert!(refused(bad_default).await.contains("--auth-default-events"));
    let no_jwks = AuthSettings {
        auth_jwks: Some("/nonexistent/jwks.json".into()),
        ..jwt()
    };
    assert!(refused(no_jwks).await.contains("--auth-jwks"));
    let empty_jwks = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        empty_jwks.path(),
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}"#,
    )
    .unwrap();
    let symmetric_only = AuthSettings {
        auth_jwks: Some(empty_jwks.path().to_string_lossy().into_owned()),
        ..jwt()
    };
    assert!(refused(symmetric_only).await.contains("no signing key"));
    // A key with authentication off is a mistake, not a silent open edge.
    let off = AuthSettings {
        hs256_secret: Some(Secret("x".repeat(32))),
        ..AuthSettings::default()
    };
    assert!(refused(off).await.contains("--auth is off"));
    let ok = AuthSettings {
        hs256_secret: Some(Secret("x".repeat(40))),
        auth_timeout: Duration::from_secs(3),
        ..jwt()
    };
    assert!(Auth::build(&ok).await.unwrap().is_some());
    assert!(Auth::build(&AuthSettings::default())
        .await
        .unwrap()
        .is_none());
}

#[test]
fn the_secret_never_shows_in_the_settings_debug_output() {
    let settings = AuthSettings {
        hs256_secret: Some(Secret("super-secret-value-1234567890abcdef".into())),
        ..jwt()
    };
    assert!(!format!("{settings:?}").contains("super-secret"));
}
