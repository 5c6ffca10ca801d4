//! Forged and absurd cursors on every transport (WebSocket `?since=` and the first
//! `Subscribe`'s `since`, SSE `Last-Event-ID` and `?last_event_id=`, polling `?after=`): another
//! stream instance's cursor, sequences far beyond the stream and past `u64::MAX`, negative and
//! empty parts, 10 KB cursors, NUL and control characters. Each gets the answer
//! docs/protocol.md ("Resume", "Errors and admission") gives it — a Reset, a 400 with a message
//! naming the parameter, or an `Error` and close 4100 — and the edge keeps serving: a
//! well-behaved client receives every event published meanwhile, in order.

use std::time::Duration;

use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{depth, TestStream};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the protocol says a cursor gets.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// A Reset notice, then the new stream.
    Reset,
    /// Beyond the stream's newest event: an error.
    Beyond,
    /// Not a cursor: an error whose message contains this.
    Invalid(&'static str),
    /// No cursor at all: live from now.
    Live,
}

/// The forged cursors, for a stream of `epoch`.
fn cursors(epoch: &str) -> Vec<(String, Answer)> {
    let other = if epoch == "00000001" {
        "00000002"
    } else {
        "00000001"
    };
    use Answer::*;
    vec![
        (format!("{other}-2"), Reset),
        (format!("{other}-{}", u64::MAX), Reset),
        (format!("{epoch}-999999999999"), Beyond),
        (format!("{epoch}-{}", u64::MAX), Beyond),
        (format!("{epoch}-18446744073709551616"), Invalid("sequence")),
        (format!("{epoch}--1"), Invalid("sequence")),
        (format!("-{epoch}-1"), Invalid("epoch")),
        (format!("{epoch}-"), Invalid("sequence")),
        ("-".into(), Invalid("epoch")),
        ("-5".into(), Invalid("epoch")),
        (epoch.into(), Invalid("<epoch>-<seq>")),
        (
            format!("{epoch}-{}", "9".repeat(10 << 10)),
            Invalid("sequence"),
        ),
        ("x".repeat(10 << 10), Invalid("<epoch>-<seq>")),
        (format!("{epoch}-1\0"), Invalid("sequence")),
        (format!("{epoch}-\u{1}1"), Invalid("sequence")),
        (format!("{epoch}\u{7f}-1"), Invalid("epoch")),
        (String::new(), Live),
    ]
}

fn url(base: &str, name: &str, value: &str) -> String {
    reqwest::Url::parse_with_params(base, [(name, value)])
        .unwrap()
        .to_string()
}

fn short(cursor: &str) -> String {
    format!("{:?}", cursor.chars().take(40).collect::<String>())
}

/// The WebSocket's answer, after the upgrade: the first message and how it ended.
async fn ws_answer(ws: &mut WsClient, answer: Answer, what: &str) {
    let mut first = ws.next_json().await.unwrap();
    if first["type"] == "Subscribed" {
        first = match answer {
            // Live: the subscription is all there is.
            Answer::Live => return,
            _ => ws.next_json().await.unwrap(),
        };
    }
    match answer {
        Answer::Reset => assert_eq!(first["type"], "Reset", "{what}: {first}"),
        Answer::Beyond | Answer::Invalid(_) => {
            let needle = match answer {
                Answer::Invalid(n) => n,
                _ => "beyond the end of the stream",
            };
            assert_eq!(first["type"], "Error", "{what}: {first}");
            let message = first["message"].as_str().unwrap();
            if matches!(answer, Answer::Invalid(_)) {
                assert!(message.contains("since"), "{what}: {message}");
            }
            assert!(message.contains(needle), "{what}: {message}");
            match ws.next_item().await.unwrap() {
                WsItem::Close(Some((4100, _))) => {}
                other => panic!("{what}: expected close 4100, got {other:?}"),
            }
        }
        Answer::Live => panic!("{what}: a live connection sent {first}"),
    }
}

/// An SSE or polling refusal: 400 in the one error shape, naming the parameter.
fn refused(status: u16, body: &Value, name: &str, answer: Answer, what: &str) {
    let needle = match answer {
        Answer::Invalid(n) => n,
        _ => "beyond the end of the stream",
    };
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["code"], "bad_request", "{what}: {body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(needle), "{what}: {message}");
    if matches!(answer, Answer::Invalid(_)) {
        assert!(message.contains(name), "{what}: {message}");
    }
}

/// An SSE stream that was accepted: a Reset frame first, or (live) just the 200.
async fn sse_answer(mut sse: SseClient, answer: Answer, what: &str) {
    assert_eq!(sse.status, 200, "{what}");
    if matches!(answer, Answer::Reset) {
        let frame = sse.next_event().await.unwrap();
        assert_eq!(frame.event.as_deref(), Some("reset"), "{what}: {frame:?}");
    }
}

/// A raw GET whose head carries `header` as is (bytes a client library refuses to send);
/// the status and the body.
async fn raw_get(edge: &TestEdge, path: &str, header: &[u8]) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(edge.addr()).await.unwrap();
    let mut head =
        format!("GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n").into_bytes();
    head.extend_from_slice(header);
    head.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&head).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("a refusal ends the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A chunked body: its JSON is between the first chunk size and the end.
    let json = body
        .find('{')
        .and_then(|start| Some(&body[start..=body.rfind('}')?]))
        .unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[tokio::test]
async fn forged_and_absurd_cursors_get_the_documented_answer_on_every_transport() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();
    stream.numbered(1..=3).await;
    let epoch = edge.state().feed.epoch().to_string();
    let mut published = 3;

    for (cursor, answer) in cursors(&epoch) {
        let what = |transport: &str| format!("{transport} with {}", short(&cursor));

        // WebSocket `?since=`.
        let mut ws = WsClient::connect(&url(&edge.ws(""), "since", &cursor))
            .await
            .unwrap();
        if matches!(answer, Answer::Live) {
            ws.send_json(&json!({"type": "Ping"})).await.unwrap();
            assert_eq!(ws.next_json().await.unwrap()["type"], "Pong");
        } else {
            ws_answer(&mut ws, answer, &what("?since=")).await;
        }

        // WebSocket: `since` on the first Subscribe.
        let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
        ws.send_json(&json!({"type": "Subscribe", "events": ["all"], "since": cursor}))
            .await
            .unwrap();
        ws_answer(&mut ws, answer, &what("Subscribe.since")).await;

        // SSE `?last_event_id=`.
        let sse_url = url(&edge.sse(""), "last_event_id", &cursor);
        if matches!(answer, Answer::Reset | Answer::Live) {
            let sse = SseClient::connect(&sse_url).await.unwrap();
            sse_answer(sse, answer, &what("?last_event_id=")).await;
        } else {
            let response = reqwest::get(&sse_url).await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            refused(
                status,
                &body,
                "last_event_id",
                answer,
                &what("?last_event_id="),
            );
        }

        // SSE `Last-Event-ID`: sent raw, since NUL and control bytes are no header value a
        // client library will send. The edge refuses them as a malformed head or as not
        // visible ASCII: a 400 either way.
        let (status, body) = if matches!(answer, Answer::Reset | Answer::Live) {
            let sse = SseClient::connect_with(&edge.sse(""), &[("last-event-id", &cursor)])
                .await
                .unwrap();
            sse_answer(sse, answer, &what("Last-Event-ID")).await;
            (0, Value::Null)
        } else {
            let mut header = b"Last-Event-ID: ".to_vec();
            header.extend_from_slice(cursor.as_bytes());
            raw_get(&edge, "/v1/sse/events", &header).await
        };
        if status != 0 {
            let control = cursor.bytes().any(|b| b < 0x20 || b == 0x7f);
            if control {
                assert_eq!(status, 400, "{}: {body}", what("Last-Event-ID"));
                let message = body["error"].as_str().unwrap_or_default();
                assert!(
                    message.contains("malformed") || message.contains("Last-Event-ID"),
                    "{}: {body}",
                    what("Last-Event-ID")
                );
            } else {
                refused(
                    status,
                    &body,
                    "Last-Event-ID",
                    answer,
                    &what("Last-Event-ID"),
                );
            }
        }

        // Polling `?after=`.
        let response = reqwest::get(url(&edge.http("/v1/events"), "after", &cursor))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match answer {
            Answer::Reset => {
                assert_eq!(status, 200, "{body}");
                assert!(body["reset"].is_object(), "{}: {body}", what("?after="));
            }
            Answer::Live => assert_eq!(status, 200, "{body}"),
            _ => refused(status, &body, "after", answer, &what("?after=")),
        }

        // The abuse goes on while events are published.
        published += 1;
        stream.numbered(published..=published).await;
    }

    for n in 1..=published {
        let (_, event) = good.next_event().await.unwrap();
        assert_eq!(depth(&event), n);
    }
    assert_eq!(
        reqwest::get(edge.http("/readyz")).await.unwrap().status(),
        200
    );
}
