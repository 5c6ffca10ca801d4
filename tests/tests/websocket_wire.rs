//! The edge's WebSocket wire, byte by byte over a raw TCP socket: the handshake and its
//! refusals, fragmented client messages, ping/pong, the closing handshake, and a client that
//! breaks the protocol being closed with the right code while others keep being served.

use adic_tests::clients::WsClient;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::raw_ws::{client_frame, RawWs, WAIT};
use adic_tests::stream::TestStream;

#[tokio::test]
async fn the_handshake_is_checked_and_explained() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let (_, plain) = RawWs::request(
        edge.addr(),
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    assert!(
        plain.contains("/v1/sse/events"),
        "names the alternatives: {plain}"
    );
    let (_, old) = RawWs::request(
        edge.addr(),
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert!(old.starts_with("HTTP/1.1 426"), "{old}");
    assert!(
        old.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{old}"
    );
    let (_, keyless) = RawWs::request(
        edge.addr(),
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: keep-alive, Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(keyless.starts_with("HTTP/1.1 400"), "{keyless}");
    assert!(keyless.contains("Sec-WebSocket-Key"), "{keyless}");
}

#[tokio::test]
async fn fragments_pings_and_the_closing_handshake() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut raw = RawWs::upgrade(edge.addr()).await;
    // A Ping message split over three frames, with a control frame in the middle.
    raw.send(&client_frame(false, 1, br#"{"ty"#)).await;
    raw.send(&client_frame(false, 0, br#"pe":"#)).await;
    raw.send(&client_frame(true, 9, b"are you there")).await;
    raw.send(&client_frame(true, 0, br#""Ping"}"#)).await;
    let (opcode, payload) = raw.frame().await;
    assert_eq!(
        (opcode, payload.as_slice()),
        (10, &b"are you there"[..]),
        "pong echoes the ping"
    );
    assert_eq!(raw.json().await["type"], "Pong");
    // A binary message gets an error and the connection stays.
    raw.send(&client_frame(true, 2, b"\x00\x01")).await;
    assert_eq!(raw.json().await["type"], "Error");
    raw.send(&client_frame(true, 1, br#"{"type":"Ping"}"#))
        .await;
    assert_eq!(raw.json().await["type"], "Pong");
    raw.send(&client_frame(true, 8, &1000u16.to_be_bytes()))
        .await;
    assert_eq!(raw.closed_with().await.0, 1000, "the close is answered");
}

#[tokio::test]
async fn a_client_that_breaks_the_protocol_is_closed_and_nobody_else_notices() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut bystander = WsClient::connect(&edge.ws("")).await.unwrap();

    let mut unmasked = RawWs::upgrade(edge.addr()).await;
    unmasked.send(b"\x81\x02hi").await;
    assert_eq!(unmasked.closed_with().await.0, 1002);

    let mut bad_utf8 = RawWs::upgrade(edge.addr()).await;
    bad_utf8.send(&client_frame(true, 1, &[0xc3, 0x28])).await;
    assert_eq!(bad_utf8.closed_with().await.0, 1007);

    let mut reserved = RawWs::upgrade(edge.addr()).await;
    let mut frame = client_frame(true, 1, b"{}");
    frame[0] |= 0x40;
    reserved.send(&frame).await;
    assert_eq!(reserved.closed_with().await.0, 1002);

    stream.numbered(1..=5).await;
    for n in 1..=5u64 {
        let (id, _) = tokio::time::timeout(WAIT, bystander.next_event())
            .await
            .unwrap()
            .unwrap();
        assert!(id.ends_with(&format!("-{n}")), "{id}");
    }
    assert!(edge
        .metrics()
        .await
        .contains("adic_edge_client_errors_total{transport=\"websocket\"} 3"));
}
