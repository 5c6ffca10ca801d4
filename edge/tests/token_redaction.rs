//! Tokens never reach the logs. A real edge process with `RUST_LOG=trace` (every crate, every
//! level) takes tokens in every place a client can put one (query, header, cookie, in-band
//! `Auth`, a refreshed `Auth`), good and refused, on every transport; its whole log is then
//! searched for each token and for each token's signature.

use std::path::Path;
use std::time::Duration;

use adic_tests::clients::{SseClient, WsClient};
use adic_tests::nats::TestNats;
use adic_tests::processes::EdgeProcess;
use adic_tests::tokens::{claims, now, Signer, SECRET};
use serde_json::json;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");

#[tokio::test]
async fn no_token_is_ever_written_to_the_log() {
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--nats-url",
        &nats.url(),
        "--stream",
        "REDACTION",
        "--subject-prefix",
        "redaction",
        "--auth",
        "jwt",
        "--auth-cookie",
        "adic_token",
        "--cors-origins",
        "https://explorer.example",
        "--ws-origins",
        "https://explorer.example",
    ]
    .map(str::to_owned)
    .to_vec();
    let env = vec![
        ("ADIC_EDGE_AUTH_HS256_SECRET".to_owned(), SECRET.to_owned()),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
    ];
    let mut edge =
        EdgeProcess::start_with_env(Path::new(EDGE), args, env, dir.path(), "edge").unwrap();
    edge.wait_ready().await.unwrap();
    let base = format!("127.0.0.1:{}", edge.port());

    // One distinct token per place, so a leak names its path.
    let token = |sub: &str| Signer::Hs256.sign(&claims(sub, &["all"], 600), None);
    let query_sse = token("reader-query-sse");
    let query_poll = token("reader-query-poll");
    let header = token("reader-header");
    let cookie = token("reader-cookie");
    let in_band = token("reader-in-band");
    let refreshed = token("reader-in-band");
    let expired = Signer::Hs256.sign(
        &json!({"sub": "reader-expired", "exp": now() - 600, "adic_events": ["all"]}),
        None,
    );
    let forged = {
        let good = token("reader-forged");
        let last = if good.ends_with('A') { 'B' } else { 'A' };
        format!("{}{last}", &good[..good.len() - 1])
    };
    let garbage = "not-a-jwt-but-secret-looking-Zm9vYmFy".to_owned();

    let http = reqwest::Client::new();
    let mut sse = SseClient::connect(&format!("http://{base}/v1/sse/events?token={query_sse}"))
        .await
        .unwrap();
    sse.next_frame_within(Duration::from_millis(200)).await.ok();
    for (query, bearer) in [
        (format!("?token={query_poll}&wait=0"), None),
        ("?wait=0".to_owned(), Some(&header)),
        (format!("?token={expired}&wait=0"), None),
        (format!("?token={forged}&wait=0"), None),
        ("?wait=0".to_owned(), Some(&garbage)),
    ] {
        let mut request = http.get(format!("http://{base}/v1/events{query}"));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert!([200, 401].contains(&status), "{query}: {status}");
    }
    let status = http
        .get(format!("http://{base}/v1/events?wait=0"))
        .header("Cookie", format!("adic_token={cookie}"))
        .header("Origin", "https://explorer.example")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let mut ws = WsClient::connect(&format!("ws://{base}/v1/ws/events"))
        .await
        .unwrap();
    ws.send_json(&json!({"type": "Auth", "token": in_band}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Authenticated");
    ws.send_json(&json!({"type": "Auth", "token": refreshed}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Authenticated");
    ws.send_json(&json!({"type": "Auth", "token": forged}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Error");
    let mut refused = WsClient::connect(&format!("ws://{base}/v1/ws/events?token={expired}"))
        .await
        .unwrap();
    refused.next_item().await.ok();
    drop((ws, refused, sse));

    assert!(edge.terminate(Duration::from_secs(20)).await.unwrap());
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("{}", std::fs::read_to_string(edge.log()).unwrap());
    }
    let log = std::fs::read_to_string(edge.log()).unwrap();
    // The log is the whole story at trace level: it names who connected, and why a token
    // was refused, without the token.
    for seen in [
        "reader-in-band",
        "reader-cookie",
        "token expired",
        "bad signature",
    ] {
        assert!(
            log.contains(seen),
            "{seen} is not in {}",
            edge.log().display()
        );
    }
    for (place, token) in [
        ("query (SSE)", &query_sse),
        ("query (polling)", &query_poll),
        ("Authorization header", &header),
        ("cookie", &cookie),
        ("Auth message", &in_band),
        ("refreshed Auth message", &refreshed),
        ("expired token", &expired),
        ("forged token", &forged),
        ("not a JWT", &garbage),
    ] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !log.contains(token.as_str()) && !log.contains(signature),
            "the {place} token is in the log: {}",
            edge.log().display()
        );
    }
}
