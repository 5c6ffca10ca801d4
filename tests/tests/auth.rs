//! Authentication and authorization over real sockets, on a real NATS: refusals on every
//! transport, exactly what a token allows on every transport, in-band tokens, refresh and
//! expiry. The JWT abuses are in `auth_abuse.rs`.

use std::time::Duration;

use adic_edge::auth::{AuthMode, Secret};
use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{tag, TestStream};
use adic_tests::tokens::{claims, Signer, SECRET};
use serde_json::{json, Value};

/// An edge that takes HS256 tokens, with no leeway (expiry tests end on time).
pub fn hs256() -> EdgeSettings {
    let mut settings = EdgeSettings::default();
    settings.auth.mode = AuthMode::Jwt;
    settings.auth.hs256_secret = Some(Secret(SECRET.into()));
    settings.auth.auth_leeway = Duration::ZERO;
    settings.auth.auth_timeout = Duration::from_secs(2);
    settings
}

/// A polling request; status, `WWW-Authenticate` and JSON body.
async fn poll(edge: &TestEdge, query: &str, bearer: Option<&str>) -> (u16, String, Value) {
    let mut request = reqwest::Client::new().get(edge.http(&format!("/v1/events{query}")));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, response.json().await.unwrap())
}

async fn closed_with(ws: &mut WsClient) -> (u16, String) {
    loop {
        match ws.next_item().await.unwrap() {
            WsItem::Json(_) => {}
            WsItem::Close(Some(close)) => return close,
            WsItem::Close(None) => panic!("closed without a close frame"),
        }
    }
}

#[tokio::test]
async fn without_a_token_every_transport_refuses_with_a_clear_error() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, hs256()).await.unwrap();

    let (status, challenge, body) = poll(&edge, "", None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, "Bearer realm=\"adic-stream\"");
    assert_eq!(body["code"], "unauthorized");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));

    let sse = SseClient::connect(&edge.sse("")).await.unwrap();
    assert_eq!(sse.status, 401);

    // A malformed token: 401 with the RFC 6750 error, never the token in the message.
    let (status, challenge, body) = poll(&edge, "?token=not-a-jwt", None).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(body["code"], "invalid_token");
    assert!(!body["error"].as_str().unwrap().contains("not-a-jwt"));

    // WebSocket: upgraded, then refused in-band, so a browser can read why.
    let mut silent = WsClient::connect(&edge.ws("")).await.unwrap();
    let (code, reason) = closed_with(&mut silent).await;
    assert_eq!(code, 4401);
    assert!(reason.contains("no Auth message"), "{reason}");

    let mut eager = WsClient::connect(&edge.ws("")).await.unwrap();
    eager
        .send_json(&json!({"type": "Subscribe", "events": ["tips.update"]}))
        .await
        .unwrap();
    let error = eager.next_json().await.unwrap();
    assert_eq!(error["type"], "Error");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("token is required"));
    assert_eq!(closed_with(&mut eager).await.0, 4401);

    let metrics = edge.metrics().await;
    for transport in ["polling", "sse", "websocket"] {
        let line = format!(
            "adic_edge_connections_rejected_total{{reason=\"unauthorized\",transport=\"{transport}\"}}"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_client_receives_exactly_what_its_token_allows_on_every_transport() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, hs256()).await.unwrap();
    let token = Signer::Hs256.sign(&claims("explorer-1", &["tips.update", "low"], 600), None);
    let stream = TestStream::new(&nats).await;
    // Current values of two snapshot kinds, one allowed and one not.
    stream
        .tagged(Kind::EconomicsUpdated, "economics-before")
        .await;
    stream
        .tagged(Kind::DiversityUpdated, "diversity-before")
        .await;
    let start = poll(&edge, "", Some(&token)).await;
    assert_eq!(start.0, 200, "{:?}", start.2);
    let after = start.2["next"].as_str().unwrap().to_owned();

    // In-band token (the first message), header token, query token.
    let mut ws = WsClient::connect(&edge.ws("?snapshot=true")).await.unwrap();
    ws.send_json(&json!({"type": "Auth", "token": token}))
        .await
        .unwrap();
    let hello = ws.next_json().await.unwrap();
    assert_eq!(hello["type"], "Authenticated");
    assert_eq!(hello["sub"], "explorer-1");
    assert!(hello["events"]
        .as_array()
        .unwrap()
        .contains(&json!("tips.update")));
    let snapshot = ws.next_json().await.unwrap();
    assert_eq!(snapshot["type"], "Snapshot");
    assert_eq!(tag(&snapshot["event"]), "economics-before");
    let bearer = format!("Bearer {token}");
    let mut ws_header = WsClient::connect_with(&edge.ws(""), &[("authorization", &bearer)])
        .await
        .unwrap();
    assert_eq!(
        ws_header.next_json().await.unwrap()["type"],
        "Authenticated"
    );
    let mut sse = SseClient::connect(&edge.sse(&format!("?token={token}")))
        .await
        .unwrap();
    assert_eq!(sse.status, 200);

    stream.tagged(Kind::MessageAdded, "high-refused").await;
    stream
        .tagged(Kind::DiversityUpdated, "medium-refused")
        .await;
    stream.tagged(Kind::EconomicsUpdated, "low").await;
    stream.tagged(Kind::TipsUpdated, "tips").await;
    stream.tagged(Kind::NodeStarted, "sentinel").await;
    let want = ["low", "tips", "sentinel"];
    for ws in [&mut ws, &mut ws_header] {
        for expected in want {
            assert_eq!(tag(&ws.next_event().await.unwrap().1), expected);
        }
    }
    for expected in want {
        let frame = sse.next_event().await.unwrap();
        let event: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
        assert_eq!(tag(&event), expected);
    }
    let (status, _, page) = poll(&edge, &format!("?after={after}"), Some(&token)).await;
    assert_eq!(status, 200);
    let tags: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| tag(&e["event"]))
        .collect();
    assert_eq!(tags, want);

    // Asking for more: 403 naming what is not allowed; the token's own kinds are fine.
    let (status, challenge, body) =
        poll(&edge, "?events=tips.update,MessageAdded", Some(&token)).await;
    assert_eq!(status, 403);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["error"].as_str().unwrap().contains("message.new"),
        "{body}"
    );
    let sse_more = SseClient::connect(&edge.sse(&format!("?events=message.new&token={token}")))
        .await
        .unwrap();
    assert_eq!(sse_more.status, 403);
    let mut ws_more = WsClient::connect(&edge.ws(&format!("?events=message.new&token={token}")))
        .await
        .unwrap();
    let (code, reason) = closed_with(&mut ws_more).await;
    assert_eq!(code, 4403);
    assert!(reason.contains("message.new"), "{reason}");

    // A Subscribe for a forbidden kind: an Error, and the connection stays.
    ws.send_json(&json!({"type": "Subscribe", "events": ["MessageAdded"]}))
        .await
        .unwrap();
    let error = ws.next_json().await.unwrap();
    assert_eq!(error["type"], "Error");
    assert!(error["message"].as_str().unwrap().contains("message.new"));
    ws.send_json(&json!({"type": "Ping"})).await.unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Pong");
}

#[tokio::test]
async fn a_websocket_client_refreshes_its_token_in_band_and_is_closed_at_expiry_otherwise() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, hs256()).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let short = Signer::Hs256.sign(&claims("dash", &["all"], 3), None);

    let mut refreshing = WsClient::connect(&edge.ws(&format!("?token={short}")))
        .await
        .unwrap();
    assert_eq!(
        refreshing.next_json().await.unwrap()["type"],
        "Authenticated"
    );
    let mut lapsing = WsClient::connect(&edge.ws(&format!("?token={short}")))
        .await
        .unwrap();
    assert_eq!(lapsing.next_json().await.unwrap()["type"], "Authenticated");

    // A fresh token naming another subject is refused; the connection keeps its grant.
    let other = Signer::Hs256.sign(&claims("someone-else", &["all"], 600), None);
    refreshing
        .send_json(&json!({"type": "Auth", "token": other}))
        .await
        .unwrap();
    let refused = refreshing.next_json().await.unwrap();
    assert_eq!(refused["type"], "Error");
    assert!(refused["message"].as_str().unwrap().contains("same sub"));
    // A narrower fresh token of the same subject: accepted, and applied at once.
    let fresh = Signer::Hs256.sign(&claims("dash", &["message.new"], 600), None);
    refreshing
        .send_json(&json!({"type": "Auth", "token": fresh}))
        .await
        .unwrap();
    let renewed = refreshing.next_json().await.unwrap();
    assert_eq!(renewed["type"], "Authenticated");
    assert_eq!(renewed["events"], json!(["message.new"]));
    stream.tagged(Kind::TipsUpdated, "no-longer-allowed").await;
    stream.tagged(Kind::MessageAdded, "first").await;
    assert_eq!(tag(&refreshing.next_event().await.unwrap().1), "first");
    assert_eq!(
        tag(&lapsing.next_event().await.unwrap().1),
        "no-longer-allowed"
    );
    assert_eq!(tag(&lapsing.next_event().await.unwrap().1), "first");

    // The lapsing client is closed at its token's expiry, with its cursor.
    let (code, reason) = closed_with(&mut lapsing).await;
    assert_eq!(code, 4401);
    assert!(reason.contains("token expired"), "{reason}");
    assert!(
        adic_protocol::ws::close::resume_from_reason(&reason).is_some(),
        "{reason}"
    );
    // The refreshed one outlives the first token.
    stream.tagged(Kind::MessageAdded, "after-expiry").await;
    assert_eq!(
        tag(&refreshing.next_event().await.unwrap().1),
        "after-expiry"
    );
}

#[tokio::test]
async fn an_sse_stream_ends_at_expiry_with_the_cursor_to_resume_from() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, hs256()).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let token = Signer::Hs256.sign(&claims("page", &["all"], 2), None);
    let mut sse = SseClient::connect(&edge.sse(&format!("?token={token}&heartbeat=false")))
        .await
        .unwrap();
    assert_eq!(sse.status, 200);
    stream.tagged(Kind::MessageAdded, "one").await;
    let event = sse.next_event().await.unwrap();
    let expired = sse.next_event().await.unwrap();
    assert_eq!(expired.event.as_deref(), Some("expired"));
    let notice: Value = serde_json::from_str(expired.data.as_deref().unwrap()).unwrap();
    assert_eq!(notice["resume"].as_str(), event.id.as_deref());
    assert!(sse.next_frame().await.unwrap().is_none(), "the stream ends");
    // The same URL again (what a browser does by itself): refused, so the page takes a new
    // token.
    let again = SseClient::connect(&edge.sse(&format!("?token={token}")))
        .await
        .unwrap();
    assert_eq!(again.status, 401);
}
