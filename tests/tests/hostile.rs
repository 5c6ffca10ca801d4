//! Hostile WebSocket clients on raw sockets, beyond what `websocket_wire.rs` covers (one
//! unmasked text frame, one invalid UTF-8 frame, RSV1): invalid UTF-8 across fragments and in a
//! close reason, oversized and fragmented control frames, reserved opcodes and RSV2/RSV3,
//! continuation abuse, frames announcing huge lengths, and a ping flood. Each is closed with the
//! RFC 6455 (or rate-limit) code, and a well-behaved client on the same edge receives every
//! event published meanwhile, in order. Floods of connections are in
//! `edge/tests/hostile_floods.rs` (they measure a real edge process); cursors in
//! `hostile_cursors.rs`.

use adic_edge::config::EdgeSettings;
use adic_tests::clients::WsClient;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::raw_ws::{client_frame, frame_header, RawWs};
use adic_tests::stream::{depth, TestStream};

/// Events numbered `want` arrive on `ws` exactly and in order.
async fn receives(ws: &mut WsClient, want: std::ops::RangeInclusive<u64>) {
    for n in want {
        let (_, event) = ws.next_event().await.unwrap();
        assert_eq!(depth(&event), n);
    }
}

#[tokio::test]
async fn broken_frames_are_closed_with_their_rfc_code_while_a_good_client_gets_every_event() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();

    let fragments = |parts: &[(bool, u8, &[u8])]| {
        parts
            .iter()
            .flat_map(|(fin, op, p)| client_frame(*fin, *op, p))
            .collect::<Vec<u8>>()
    };
    let mut rsv2 = client_frame(true, 1, b"{}");
    rsv2[0] |= 0x20;
    let mut rsv3_ping = client_frame(true, 9, b"");
    rsv3_ping[0] |= 0x10;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "invalid UTF-8 in the second fragment",
            fragments(&[(false, 1, b"{\"type\":"), (true, 0, &[0xed, 0xa0, 0x80])]),
            1007,
            "UTF-8",
        ),
        (
            "a close reason that is not UTF-8",
            client_frame(true, 8, &[0x03, 0xe8, 0xff, 0xfe]),
            1007,
            "UTF-8",
        ),
        (
            "a ping of 126 bytes",
            client_frame(true, 9, &[b'p'; 126]),
            1002,
            "125 bytes",
        ),
        (
            "a fragmented ping",
            client_frame(false, 9, b"half"),
            1002,
            "final",
        ),
        (
            "a close of 200 bytes",
            client_frame(true, 8, &[b'c'; 200]),
            1002,
            "125 bytes",
        ),
        (
            "a one-byte close",
            client_frame(true, 8, &[0x03]),
            1002,
            "one-byte",
        ),
        (
            "reserved data opcode 0x3",
            client_frame(true, 3, b"x"),
            1002,
            "opcode",
        ),
        (
            "reserved control opcode 0xB",
            client_frame(true, 0xb, b"x"),
            1002,
            "opcode",
        ),
        ("RSV2 set", rsv2, 1002, "reserved bits"),
        ("RSV3 on a ping", rsv3_ping, 1002, "reserved bits"),
        (
            "a continuation with no message",
            client_frame(true, 0, b"orphan"),
            1002,
            "continuation",
        ),
        (
            "a new message inside a fragmented one",
            fragments(&[(false, 1, b"{"), (true, 1, b"{}")]),
            1002,
            "fragmented",
        ),
        ("an unmasked ping", vec![0x89, 0x00], 1002, "masked"),
    ];
    let mut n = 0;
    for (what, bytes, code, needle) in cases {
        let mut raw = RawWs::upgrade(edge.addr()).await;
        raw.send(&bytes).await;
        let (got, reason) = raw.closed_with().await;
        assert_eq!(got, code, "{what}: {reason}");
        assert!(reason.contains(needle), "{what}: {reason}");
        raw.ends().await;
        // Publishing while the abuse goes on: one event per hostile client.
        n += 1;
        stream.numbered(n..=n).await;
    }
    // A character split across two fragments is valid UTF-8: answered, not refused.
    let mut split = RawWs::upgrade(edge.addr()).await;
    let text = "{\"type\":\"Ping\",\"note\":\"é\"}".as_bytes();
    let cut = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
    split.send(&client_frame(false, 1, &text[..cut])).await;
    split.send(&client_frame(true, 0, &text[cut..])).await;
    let (opcode, payload) = split.frame().await;
    assert_eq!(opcode, 1);
    assert!(String::from_utf8_lossy(&payload).contains("Pong"));

    receives(&mut good, 1..=n).await;
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains(&format!(
            "adic_edge_client_errors_total{{transport=\"websocket\"}} {n}"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn frames_announcing_huge_lengths_are_refused_before_their_payload() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            max_client_message: 1024,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut fragmented = client_frame(false, 1, &[b' '; 1000]);
    fragmented.extend(frame_header(true, 0, u64::MAX));
    for (what, bytes) in [
        ("u64::MAX bytes", frame_header(true, 1, u64::MAX)),
        ("1 GiB", frame_header(true, 1, 1 << 30)),
        ("2^63 bytes of binary", frame_header(true, 2, 1 << 63)),
        ("just over the limit", frame_header(true, 1, 1025)),
        ("a continuation that overflows the message", fragmented),
    ] {
        // Only the header (and no mask, no payload): the refusal cannot wait for, or make
        // room for, the bytes announced.
        let mut raw = RawWs::upgrade(edge.addr()).await;
        raw.send(&bytes).await;
        let (code, reason) = raw.closed_with().await;
        assert_eq!(code, 1009, "{what}: {reason}");
        assert!(reason.contains("at most 1024 bytes"), "{what}: {reason}");
        raw.ends().await;
    }
    stream.numbered(1..=3).await;
    receives(&mut good, 1..=3).await;
}

#[tokio::test]
async fn a_ping_flood_is_answered_within_the_message_budget_then_closed_with_4429() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            client_messages_per_second: 10,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();
    stream.numbered(1..=2).await;
    receives(&mut good, 1..=2).await;

    // Control-frame pings count against the same budget as messages (10 a second, bursts of
    // 20): the first ones are each answered with a pong echoing its payload, in order, then
    // the flood is closed with 4429 and the cursor.
    let mut raw = RawWs::upgrade(edge.addr()).await;
    let flood: Vec<u8> = (0..500u32)
        .flat_map(|i| client_frame(true, 9, &i.to_be_bytes()))
        .collect();
    raw.send(&flood).await;
    stream.numbered(3..=4).await;
    let mut pongs = 0u32;
    let (code, reason) = loop {
        let (opcode, payload) = raw.frame().await;
        match opcode {
            10 => {
                assert_eq!(payload, pongs.to_be_bytes(), "pongs echo pings in order");
                pongs += 1;
            }
            8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                break (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
            _ => {}
        }
    };
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("at most 10 per second"), "{reason}");
    assert!(reason.contains("resume="), "{reason}");
    assert!(
        (20..=30).contains(&pongs),
        "{pongs} pongs: a burst of 20, plus what the budget earned while they arrived"
    );
    raw.ends().await;
    receives(&mut good, 3..=4).await;
}
