//! SSE on the wire, over a raw TCP socket: the edge serves SSE requests on the socket itself, so
//! the HTTP framing is checked here byte by byte: chunked streams, HTTP/1.0, a request line that
//! arrives in pieces, refusals with a length, and a malformed request head.

use std::time::Duration;

use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// Sends `parts` (with a pause between them) and reads until `done` holds on what arrived.
async fn exchange(edge: &TestEdge, parts: &[&str], done: impl Fn(&str) -> bool) -> String {
    let mut stream = TcpStream::connect(edge.addr()).await.unwrap();
    for part in parts {
        stream.write_all(part.as_bytes()).await.unwrap();
        // The pause is the scenario: the request arrives in pieces.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 4096];
        while !done(&String::from_utf8_lossy(&got)) {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; got {:?}", String::from_utf8_lossy(&got)));
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_stream_is_chunked_and_a_split_request_line_is_still_sse() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let publisher = async {
        // Publish once the SSE client has joined the fan-out, so it is live for every event.
        adic_tests::wait_until(WAIT, || async { edge.state().hub.len() == 1 })
            .await
            .unwrap();
        stream.numbered(1..=2).await;
    };
    let (response, ()) = tokio::join!(
        exchange(
            &edge,
            &[
                "GET /v1/s",
                "se/events?events=message.new HTTP/1.1\r\nHost: e\r\n\r\n"
            ],
            |s| s.matches("event: message.new").count() >= 2,
        ),
        publisher
    );
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        head.contains("access-control-allow-origin: *"),
        "CORS applies: {head}"
    );
    // Each chunk is "<hex size>\r\n<frames>\r\n" and holds whole SSE frames.
    let mut rest = body;
    let mut frames = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).unwrap();
        if after.len() < size + 2 {
            break;
        }
        let chunk = &after[..size];
        assert!(chunk.ends_with("\n\n"), "whole frames per chunk: {chunk:?}");
        frames.push_str(chunk);
        assert_eq!(&after[size..size + 2], "\r\n");
        rest = &after[size + 2..];
    }
    assert_eq!(frames.matches("event: message.new").count(), 2, "{frames}");
    assert!(
        frames.contains("\"depth\":1") && frames.contains("\"depth\":2"),
        "{frames}"
    );
}

#[tokio::test]
async fn http_1_0_refusals_and_malformed_heads() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;

    // HTTP/1.0 has no chunks: the stream is the rest of the connection.
    let publisher = async {
        // Publish once the SSE client has joined the fan-out, so it is live for every event.
        adic_tests::wait_until(WAIT, || async { edge.state().hub.len() == 1 })
            .await
            .unwrap();
        stream.numbered(1..=1).await;
    };
    let (old, ()) = tokio::join!(
        exchange(&edge, &["GET /v1/sse/events HTTP/1.0\r\n\r\n"], |s| {
            s.contains("event: message.new")
        }),
        publisher
    );
    let (head, body) = old.split_once("\r\n\r\n").unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert!(body.starts_with("event: message.new\n"), "{body:?}");

    // A bad query is answered with a length and a message, then closed.
    let bad = exchange(
        &edge,
        &["GET /v1/sse/events?events=no.such.kind HTTP/1.1\r\nHost: e\r\n\r\n"],
        |_| false,
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let (head, body) = bad.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    assert!(body.contains("no.such.kind"), "{body}");

    let malformed = exchange(
        &edge,
        &["GET /v1/sse/events HTTP/1.1\r\nno colon here\r\n\r\n"],
        |_| false,
    )
    .await;
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    assert!(malformed.contains("malformed HTTP request"), "{malformed}");

    // Everything else is still served over ordinary HTTP.
    let health = exchange(
        &edge,
        &["GET /healthz HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n"],
        |_| false,
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}
