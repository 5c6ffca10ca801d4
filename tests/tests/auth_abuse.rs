//! Every JWT abuse the edge must refuse, over real sockets on a real NATS, while a
//! well-behaved client on the same edge receives every event; key sources (public keys of each
//! algorithm, a JWKS file, a JWKS URL fetched at a bounded rate), cookies and origins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adic_edge::auth::AuthMode;
use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::clients::WsClient;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{tag, TestStream};
use adic_tests::tokens::{claims, hmac_with_public_key, jwks, now, unsigned, Signer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn public_key(signer: Signer, algorithm: &str) -> EdgeSettings {
    let mut settings = EdgeSettings::default();
    settings.auth.mode = AuthMode::Jwt;
    settings.auth.auth_public_key = Some(signer.public_key());
    settings.auth.auth_public_key_algorithm = Some(algorithm.into());
    settings.auth.auth_leeway = Duration::ZERO;
    settings
}

/// A polling request with `token` as the bearer; status and body.
async fn poll_with(edge: &TestEdge, header: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(edge.http("/v1/events"))
        .header("authorization", header)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn poll_bearer(edge: &TestEdge, token: &str) -> (u16, Value) {
    poll_with(edge, &format!("Bearer {token}")).await
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused_while_a_good_client_receives_everything() {
    let nats = TestNats::start().await.unwrap();
    let mut settings = public_key(Signer::Rs256, "RS256");
    settings.auth.auth_audience = vec!["explorers".into()];
    settings.auth.auth_issuer = vec!["https://id.example".into()];
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let good = |mut c: Value| {
        c["aud"] = json!("explorers");
        c["iss"] = json!("https://id.example");
        c
    };
    let valid = good(claims("good", &["all"], 600));
    let token = Signer::Rs256.sign(&valid, None);
    let mut client = WsClient::connect(&edge.ws("")).await.unwrap();
    client
        .send_json(&json!({"type": "Auth", "token": token}))
        .await
        .unwrap();
    assert_eq!(client.next_json().await.unwrap()["type"], "Authenticated");

    let public_pem = std::fs::read(Signer::Rs256.public_key()).unwrap();
    let mut no_exp = valid.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut no_aud = valid.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_claim = valid.clone();
    no_claim.as_object_mut().unwrap().remove("adic_events");
    let mut later = valid.clone();
    later["nbf"] = json!(now() + 600);
    let mut expired = valid.clone();
    expired["exp"] = json!(now() - 5);
    let mut absurd_exp = valid.clone();
    absurd_exp["exp"] = json!(1e300);
    let mut largest_exp = valid.clone();
    largest_exp["exp"] = json!(u64::MAX);
    let mut wrong_aud = valid.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = valid.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    let mut bad_claim = valid.clone();
    bad_claim["adic_events"] = json!(5);
    let mut unknown_kind = valid.clone();
    unknown_kind["adic_events"] = json!(["no.such.kind"]);
    let abuses: Vec<(&str, String, u16, &str)> = vec![
        (
            "alg none",
            format!("Bearer {}", unsigned(&valid)),
            401,
            "not a JWT",
        ),
        (
            "HS256 with the public key as secret",
            format!("Bearer {}", hmac_with_public_key(&valid, &public_pem)),
            401,
            "algorithm HS256 is not accepted",
        ),
        (
            "another key's signature",
            format!("Bearer {}", Signer::Rs256Second.sign(&valid, None)),
            401,
            "bad signature",
        ),
        (
            "expired",
            format!("Bearer {}", Signer::Rs256.sign(&expired, None)),
            401,
            "expired",
        ),
        (
            "an exp past any time",
            format!("Bearer {}", Signer::Rs256.sign(&absurd_exp, None)),
            401,
            "exp",
        ),
        (
            "the largest exp",
            format!("Bearer {}", Signer::Rs256.sign(&largest_exp, None)),
            401,
            "is not a time",
        ),
        (
            "not yet valid",
            format!("Bearer {}", Signer::Rs256.sign(&later, None)),
            401,
            "nbf",
        ),
        (
            "no exp",
            format!("Bearer {}", Signer::Rs256.sign(&no_exp, None)),
            401,
            "exp",
        ),
        (
            "wrong aud",
            format!("Bearer {}", Signer::Rs256.sign(&wrong_aud, None)),
            401,
            "audience",
        ),
        (
            "no aud",
            format!("Bearer {}", Signer::Rs256.sign(&no_aud, None)),
            401,
            "aud",
        ),
        (
            "wrong iss",
            format!("Bearer {}", Signer::Rs256.sign(&wrong_iss, None)),
            401,
            "issuer",
        ),
        (
            "no grant claim",
            format!("Bearer {}", Signer::Rs256.sign(&no_claim, None)),
            403,
            "allows no events",
        ),
        (
            "malformed grant",
            format!("Bearer {}", Signer::Rs256.sign(&bad_claim, None)),
            401,
            "adic_events",
        ),
        (
            "unknown kind",
            format!("Bearer {}", Signer::Rs256.sign(&unknown_kind, None)),
            401,
            "no.such.kind",
        ),
        (
            "ES256 header on an RS256 edge",
            format!("Bearer {}", Signer::Es256.sign(&valid, None)),
            401,
            "ES256",
        ),
        (
            "another scheme",
            format!("Basic {}", "dXNlcjpwYXNz"),
            401,
            "Bearer <JWT>",
        ),
        ("garbage", "Bearer a.b.c".into(), 401, "not a JWT"),
        ("empty", "Bearer ".into(), 401, "Bearer <JWT>"),
    ];
    for (n, (what, header, status, says)) in abuses.iter().enumerate() {
        let (got, body) = poll_with(&edge, header).await;
        assert_eq!(got, *status, "{what}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(says),
            "{what}: {message:?} should say {says:?}"
        );
        let token = header.split_once(' ').map_or("", |(_, t)| t);
        if token.len() > 8 {
            assert!(!message.contains(token), "{what}: the token is echoed");
        }
        // The well-behaved client gets every event published meanwhile.
        stream.tagged(Kind::MessageAdded, &format!("e{n}")).await;
        assert_eq!(
            tag(&client.next_event().await.unwrap().1),
            format!("e{n}"),
            "{what}"
        );
    }
    // Bytes that are not visible ASCII where a token is expected: a clear refusal.
    let (status, body) = poll_with(&edge, "Bearer tok\u{e9}n").await;
    assert_eq!(status, 401, "{body}");
    // Every abuse on the WebSocket too (in-band): refused, connection closed with 4401.
    for token in [unsigned(&valid), hmac_with_public_key(&valid, &public_pem)] {
        let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
        ws.send_json(&json!({"type": "Auth", "token": token}))
            .await
            .unwrap();
        let error = ws.next_json().await.unwrap();
        assert_eq!(error["type"], "Error", "{error}");
        assert!(matches!(
            ws.next_item().await.unwrap(),
            adic_tests::clients::WsItem::Close(Some((4401, _)))
        ));
    }
    assert!(poll_bearer(&edge, &token).await.0 == 200);
}

#[tokio::test]
async fn each_public_key_algorithm_verifies_only_its_own_tokens() {
    let nats = TestNats::start().await.unwrap();
    for (signer, algorithm, other) in [
        (Signer::Es256, "ES256", Signer::Rs256),
        (Signer::EdDsa, "EdDSA", Signer::Es256),
    ] {
        let edge = TestEdge::start_with(&nats, public_key(signer, algorithm))
            .await
            .unwrap();
        let valid = claims("k", &["all"], 600);
        assert_eq!(
            poll_bearer(&edge, &signer.sign(&valid, None)).await.0,
            200,
            "{algorithm}"
        );
        assert_eq!(
            poll_bearer(&edge, &other.sign(&valid, None)).await.0,
            401,
            "{algorithm}"
        );
    }
}

/// A one-file HTTP server for a JWKS whose content a test changes; counts the fetches.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(body: String) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let body = Arc::new(Mutex::new(body));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (Arc::clone(&body), Arc::clone(&fetches));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                count.fetch_add(1, Ordering::SeqCst);
                let body = shared.lock().unwrap().clone();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        JwksServer { url, body, fetches }
    }
}

#[tokio::test]
async fn a_jwks_url_is_fetched_at_a_bounded_rate_and_a_rotated_key_is_picked_up() {
    let nats = TestNats::start().await.unwrap();
    let server = JwksServer::start(jwks(&[(Signer::Rs256, "k1"), (Signer::Es256, "k-ec")])).await;
    let mut settings = EdgeSettings::default();
    settings.auth.mode = AuthMode::Jwt;
    settings.auth.auth_jwks = Some(server.url.clone());
    settings.auth.auth_jwks_min_interval = Duration::from_secs(1);
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "fetched once at start"
    );
    let valid = claims("k", &["all"], 600);
    assert_eq!(
        poll_bearer(&edge, &Signer::Rs256.sign(&valid, Some("k1")))
            .await
            .0,
        200
    );
    assert_eq!(
        poll_bearer(&edge, &Signer::Es256.sign(&valid, Some("k-ec")))
            .await
            .0,
        200
    );
    // A kid's key with another algorithm in the header.
    let (status, body) = poll_bearer(&edge, &Signer::Rs256.sign(&valid, Some("k-ec"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("verifies ES256"),
        "{body}"
    );

    // A flood of made-up kids: refused, and the edge fetches at most once per second.
    let started = Instant::now();
    for n in 0..30 {
        let (status, body) = poll_bearer(
            &edge,
            &Signer::Rs256.sign(&valid, Some(&format!("made-up-{n}"))),
        )
        .await;
        assert_eq!(status, 401);
        assert!(
            body["error"].as_str().unwrap().contains("unknown key id"),
            "{body}"
        );
    }
    let bound = 1 + started.elapsed().as_secs() as usize + 1;
    assert!(
        server.fetches.load(Ordering::SeqCst) <= bound,
        "fetches {:?}",
        server.fetches
    );

    // The provider rotates in a second key: a token signed with it is accepted once the edge
    // has fetched the new set (on the first miss after the interval).
    *server.body.lock().unwrap() = jwks(&[(Signer::Rs256, "k1"), (Signer::Rs256Second, "k2")]);
    let rotated = Signer::Rs256Second.sign(&valid, Some("k2"));
    adic_tests::wait_until(Duration::from_secs(10), || {
        let (edge, rotated) = (&edge, rotated.clone());
        async move { poll_bearer(edge, &rotated).await.0 == 200 }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn cookie_tokens_need_an_origin_allowlist_and_foreign_origins_cannot_open_sockets() {
    let nats = TestNats::start().await.unwrap();
    let mut settings = EdgeSettings::default();
    settings.auth.mode = AuthMode::Jwt;
    settings.auth.hs256_secret = Some(adic_edge::auth::Secret(adic_tests::tokens::SECRET.into()));
    settings.auth.auth_cookie = Some("adic_token".into());
    let refused = TestEdge::start_with(&nats, settings.clone()).await;
    let error = format!("{:#}", refused.err().expect("refused at start"));
    assert!(
        error.contains("--auth-cookie") && error.contains("--ws-origins"),
        "{error}"
    );

    settings.cors_origins = vec!["https://app.example".into()];
    settings.ws_origins = vec!["https://app.example".into()];
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let token = Signer::Hs256.sign(&claims("browser", &["all"], 600), None);
    let cookie = format!("theme=dark; adic_token={token}");
    let response = reqwest::Client::new()
        .get(edge.http("/v1/events"))
        .header("cookie", &cookie)
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    let mut ws = WsClient::connect_with(
        &edge.ws(""),
        &[("cookie", &cookie), ("origin", "https://app.example")],
    )
    .await
    .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Authenticated");
    // A page elsewhere riding on the user's cookie: no socket.
    let hijack = WsClient::connect_with(
        &edge.ws(""),
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    let error = format!("{:#}", hijack.err().expect("refused"));
    assert!(error.contains("403"), "{error}");
}
