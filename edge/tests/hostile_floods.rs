//! Floods against the real `adic-edge` binary, over real sockets and a real nats-server:
//! hundreds of half-open and slowloris connections, and many WebSocket clients spamming
//! messages at once. Each hostile connection is closed the documented way, the edge's resident
//! memory (VmRSS from `/proc/<pid>/status`) grows by a bounded amount per hostile connection,
//! and well-behaved clients on the same edge receive every event published meanwhile, in order.
//! Here rather than in `tests/tests` because only the edge crate's tests can name the binary.

use std::path::Path;
use std::time::{Duration, Instant};

use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::nats::TestNats;
use adic_tests::processes::EdgeProcess;
use adic_tests::stream::{depth, TestStream};
use adic_tests::wait_until;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_adic-edge");

/// One flood at a time: each opens hundreds of sockets and measures the edge's memory.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .expect("VmRSS in /proc/<pid>/status")
}

/// File descriptors a process has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// How many hostile sockets this test process can open: `wanted`, or fewer under a low
/// open-files limit (the test holds each socket, plus its own NATS and client connections).
fn flood_size(wanted: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024);
    let n = wanted.min(soft.saturating_sub(200));
    assert!(n >= 100, "open-files limit {soft} too low for a flood");
    n
}

fn edge_args(nats: &TestNats, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--nats-url",
        &nats.url(),
        "--stream",
        nats.stream_name(),
        "--subject-prefix",
        nats.prefix(),
        "--drain-grace",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// A well-behaved WebSocket and SSE client, connected before the abuse starts.
struct GoodClients {
    ws: WsClient,
    sse: SseClient,
}

impl GoodClients {
    async fn connect(edge: &EdgeProcess) -> GoodClients {
        let port = edge.port();
        let ws = WsClient::connect(&format!("ws://127.0.0.1:{port}/v1/ws/events"))
            .await
            .unwrap();
        let sse = SseClient::connect(&format!("http://127.0.0.1:{port}/v1/sse/events"))
            .await
            .unwrap();
        assert_eq!(sse.status, 200);
        GoodClients { ws, sse }
    }

    /// Both received exactly the numbered events `want`, in order, and nothing else.
    async fn received(&mut self, want: std::ops::RangeInclusive<u64>) {
        for n in want {
            let (_, event) = self.ws.next_event().await.unwrap();
            assert_eq!(depth(&event), n, "websocket");
            let frame = self.sse.next_event().await.unwrap();
            let event: serde_json::Value =
                serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
            assert_eq!(depth(&event), n, "sse");
        }
    }
}

/// Waits until the edge holds at least `n` open file descriptors (it has accepted a flood).
async fn edge_holds(edge: &EdgeProcess, n: usize) {
    let pid = edge.pid().unwrap();
    wait_until(
        Duration::from_secs(20),
        || async move { open_fds(pid) >= n },
    )
    .await
    .unwrap_or_else(|_| panic!("edge holds {} fds, expected {n}", open_fds(pid)));
}

/// Reads until the edge ends the connection; what it sent before closing.
async fn until_closed(mut reader: tokio::net::tcp::OwnedReadHalf, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let ended = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "a hostile connection was still open after {within:?}"
    );
    got
}

/// Sends one complete request on `stream` and reads its whole response (keep-alive).
async fn one_request(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a response");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok())
                    .expect("a content-length");
                if buf.len() >= end + 4 + length {
                    assert!(text.starts_with("http/1.1 200"), "{text}");
                    return;
                }
            }
        }
    })
    .await
    .expect("a response to a complete request");
}

#[tokio::test]
async fn half_open_and_slowloris_floods_are_closed_at_the_head_timeout_while_others_are_served() {
    let _turn = ONE_AT_A_TIME.lock().await;
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let head_timeout = Duration::from_secs(2);
    let edge = EdgeProcess::start(
        Path::new(BIN),
        edge_args(&nats, &["--head-timeout", "2s"]),
        dir.path(),
        "edge",
    )
    .unwrap();
    edge.wait_ready().await.unwrap();
    let pid = edge.pid().unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = GoodClients::connect(&edge).await;
    stream.numbered(1..=10).await;
    good.received(1..=10).await;
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);

    // A quarter each: silent; half an SSE request line, then a byte at a time; half a head for
    // the HTTP server, then a byte at a time; a keep-alive connection that got one answer and
    // then sends its second head a byte at a time.
    let flood = flood_size(500);
    let addr = ("127.0.0.1", edge.port());
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    // Held, never written to: dropping a write half would send a FIN.
    let mut silent = Vec::new();
    let started = Instant::now();
    for i in 0..flood {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let start: &[u8] = match i % 4 {
            0 => b"",
            1 => b"GET /v1/sse/events?events=",
            2 => b"GET /healthz HTTP/1.1\r\nX-Slow: ",
            _ => {
                one_request(&mut socket).await;
                b"GET /healthz HTTP/1.1\r\nX-Slow: "
            }
        };
        socket.write_all(start).await.unwrap();
        let (reader, writer) = socket.into_split();
        readers.push(reader);
        if i % 4 != 0 {
            writers.push(writer);
        } else {
            silent.push(writer);
        }
    }
    // The slowloris pacing: a byte per connection every 250 ms is the attack itself (each
    // connection always looks alive); bounded by 20 s and stopped once every write fails.
    let slowloris = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !writers.is_empty() {
            let mut alive = Vec::new();
            for mut w in writers {
                if w.write_all(b"a").await.is_ok() {
                    alive.push(w);
                }
            }
            writers = alive;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });

    // The edge accepted every one of them; publish while they are all open.
    edge_holds(&edge, fds_before + flood).await;
    stream.numbered(11..=60).await;
    let rss_flooded = rss_kib(pid);
    let growth = rss_flooded.saturating_sub(rss_before);
    println!(
        "{flood} hostile connections: VmRSS {rss_before} -> {rss_flooded} KiB ({} KiB each)",
        growth / flood as u64
    );
    // Generous: measured at about 8 KiB per connection (a task and its head buffer).
    assert!(
        growth < 64 * flood as u64,
        "VmRSS grew {growth} KiB for {flood} half-open or slow connections"
    );

    // Each is closed at the head timeout: not before it, and without an answer.
    let closes = readers.into_iter().map(|r| {
        tokio::spawn(async move {
            let sent = until_closed(r, Duration::from_secs(15)).await;
            (sent, started.elapsed())
        })
    });
    for close in futures::future::join_all(closes).await {
        let (sent, after) = close.unwrap();
        assert!(
            sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"),
            "a hostile connection got {:?}",
            String::from_utf8_lossy(&sent)
        );
        assert!(
            after >= head_timeout / 2,
            "closed after {after:?}, before the head timeout"
        );
    }
    slowloris.abort();
    let _ = slowloris.await;
    drop(silent);
    wait_until(Duration::from_secs(10), || async move {
        open_fds(pid) <= fds_before + 5
    })
    .await
    .unwrap_or_else(|_| panic!("edge still holds {} fds (had {fds_before})", open_fds(pid)));

    // Meanwhile the well-behaved clients missed nothing, and the edge still serves.
    stream.numbered(61..=70).await;
    good.received(11..=70).await;
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", edge.port()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn sigterm_with_a_flood_of_unfinished_heads_open_still_exits_promptly() {
    let _turn = ONE_AT_A_TIME.lock().await;
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The head deadline is far beyond the test: only the drain can end these connections.
    let mut edge = EdgeProcess::start(
        Path::new(BIN),
        edge_args(&nats, &["--head-timeout", "300s"]),
        dir.path(),
        "edge",
    )
    .unwrap();
    edge.wait_ready().await.unwrap();
    let pid = edge.pid().unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = GoodClients::connect(&edge).await;
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);

    let flood = flood_size(500);
    let mut sockets = Vec::new();
    for i in 0..flood {
        let mut socket = TcpStream::connect(("127.0.0.1", edge.port()))
            .await
            .unwrap();
        match i % 3 {
            0 => {}
            1 => socket.write_all(b"GET /v1/sse/ev").await.unwrap(),
            _ => one_request(&mut socket).await,
        }
        sockets.push(socket);
    }
    edge_holds(&edge, fds_before + flood).await;
    stream.numbered(1..=30).await;
    let growth = rss_kib(pid).saturating_sub(rss_before);
    assert!(
        growth < 64 * flood as u64,
        "VmRSS grew {growth} KiB for {flood} idle connections"
    );
    good.received(1..=30).await;

    // SIGTERM: the edge exits within its 1 s grace plus a margin, though none of the flood
    // ever finished a request head.
    let started = Instant::now();
    let clean = edge.terminate(Duration::from_secs(8)).await.unwrap();
    assert!(clean, "the edge exits cleanly on SIGTERM");
    println!(
        "exited {:?} after SIGTERM with {flood} idle connections",
        started.elapsed()
    );
    // The good WebSocket client was told to go elsewhere, with its cursor.
    loop {
        match good.ws.next_item().await.unwrap() {
            WsItem::Json(_) => {}
            WsItem::Close(close) => {
                let (code, reason) = close.expect("a close frame");
                assert_eq!(code, 4000, "{reason}");
                assert!(reason.contains("resume="), "{reason}");
                break;
            }
        }
    }
    for mut socket in sockets {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut rest));
        assert!(read.await.is_ok(), "a connection outlived the edge's exit");
    }
}

#[tokio::test]
async fn message_spam_on_many_connections_is_closed_with_4429_while_others_are_served() {
    let _turn = ONE_AT_A_TIME.lock().await;
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = EdgeProcess::start(
        Path::new(BIN),
        edge_args(&nats, &["--client-messages-per-second", "20"]),
        dir.path(),
        "edge",
    )
    .unwrap();
    edge.wait_ready().await.unwrap();
    let pid = edge.pid().unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = GoodClients::connect(&edge).await;
    stream.numbered(1..=5).await;
    good.received(1..=5).await;
    let rss_before = rss_kib(pid);

    const SPAMMERS: usize = 50;
    let url = format!("ws://127.0.0.1:{}/v1/ws/events", edge.port());
    let mut spammers = Vec::new();
    for _ in 0..SPAMMERS {
        spammers.push(WsClient::connect(&url).await.unwrap());
    }
    let spam = spammers.into_iter().map(|mut ws| {
        tokio::spawn(async move {
            // As fast as the socket takes them; bounded: the burst allowance is 40.
            for i in 0..1000 {
                let kind = if i % 2 == 0 {
                    "Subscribe"
                } else {
                    "Unsubscribe"
                };
                let message = json!({"type": kind, "events": ["tips.update", "message.new"]});
                if ws.send_json(&message).await.is_err() {
                    break;
                }
            }
            // Replies, then the close.
            for _ in 0..1100 {
                match ws.next_item().await {
                    Ok(WsItem::Json(reply)) => {
                        let kind = reply["type"].as_str().unwrap_or_default().to_owned();
                        assert!(
                            ["Subscribed", "Unsubscribed", "Event"].contains(&kind.as_str()),
                            "{reply}"
                        );
                    }
                    Ok(WsItem::Close(close)) => return close,
                    // A reset after the close frame, as the edge drops the socket.
                    Err(e) => panic!("no close frame: {e:#}"),
                }
            }
            panic!("no close after the spam")
        })
    });
    let spam: Vec<_> = spam.collect();
    stream.numbered(6..=55).await;
    let rss_spammed = rss_kib(pid);
    for spammer in futures::future::join_all(spam).await {
        let (code, reason) = spammer.unwrap().expect("a close frame with a code");
        assert_eq!(code, 4429, "{reason}");
        assert!(reason.contains("at most 20 per second"), "{reason}");
        assert!(reason.contains("resume="), "{reason}");
    }
    let growth = rss_spammed.saturating_sub(rss_before);
    println!("{SPAMMERS} spammers: VmRSS grew {growth} KiB");
    // Generous: measured at under 10 KiB per spamming connection.
    assert!(
        growth < 128 * SPAMMERS as u64,
        "VmRSS grew {growth} KiB for {SPAMMERS} spamming connections"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", edge.port()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "adic_edge_limits_hit_total{{limit=\"message_rate\"}} {SPAMMERS}"
        )),
        "{metrics}"
    );
    good.received(6..=55).await;
}
