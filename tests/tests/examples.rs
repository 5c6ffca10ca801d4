//! The client examples in `docs/examples/` against real edges and a real nats-server: the Python
//! tail script (a child process with its cursor file in a temp dir) and the browser page (opened
//! from disk in headless Chromium, so it reaches the edge cross-origin, through CORS).
//!
//! Every test compares what the example showed with what was published: numbered `message.new`
//! events, each with a known stream sequence, hence a known cursor. Needs `python3` with
//! `requests` and `chromium`; without them the tests fail with the install command.

use std::time::Duration;

use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::browser::Browser;
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::examples::{page_rows, page_url, text_of, wait_rows, Tail, TailLine, WAIT};
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;

/// A drain that closes clients at once, so a restart takes a second, not half a minute.
fn quick_drain() -> EdgeSettings {
    EdgeSettings {
        drain_grace: Duration::from_secs(1),
        ..EdgeSettings::default()
    }
}

/// The cursors `<epoch>-<seq>` of published events.
fn cursors(epoch: impl std::fmt::Display, seqs: &[u64]) -> Vec<String> {
    seqs.iter().map(|seq| format!("{epoch}-{seq}")).collect()
}

/// Publishes numbered events one by one at a steady pace, so that a client can be stopped while
/// they are still arriving; returns their stream sequences.
async fn publish_paced(stream: TestStream, range: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    let mut seqs = Vec::new();
    for n in range {
        seqs.extend(stream.numbered(n..=n).await);
        // The pace is the point: events keep coming while the test stops the client.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seqs
}

fn depths(lines: &[TailLine]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| l.depth().expect("a numbered event"))
        .collect()
}

fn ids(lines: &[TailLine]) -> Vec<String> {
    lines.iter().map(|l| l.cursor.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Python: docs/examples/python/adic_tail.py

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tail_stopped_mid_stream_resumes_from_its_cursor_file_on_another_edge() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge_a = TestEdge::start_with(&nats, quick_drain()).await.unwrap();
    let epoch = edge_a.state().feed.epoch();
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("tail.cursor");
    let args = ["--events", "message.new"];

    // First run: no cursor file, so it follows live events; it is stopped while they arrive.
    let tail = Tail::start(&[edge_a.http("")], &cursor_file, &args).unwrap();
    tail.wait_stderr("connected to", 1).await.unwrap();
    let publishing = tokio::spawn(publish_paced(TestStream::new(&nats).await, 1..=150));
    tail.wait_lines(20).await.unwrap();
    let tail = tail.terminate().await.unwrap();
    let mut seqs = publishing.await.unwrap();
    let first = tail.lines();
    assert!(
        first.len() < 150,
        "stopped mid-stream, not after the last event ({} lines)",
        first.len()
    );
    let last = first.last().unwrap().cursor.clone();
    let saved = std::fs::read_to_string(&cursor_file).unwrap();
    assert_eq!(
        saved.trim(),
        last,
        "the cursor file holds the last printed event"
    );

    // The edge goes away; events go on; the script starts again against another edge.
    edge_a.shutdown().await.unwrap();
    let stream = TestStream::new(&nats).await;
    seqs.extend(stream.numbered(151..=180).await);
    let edge_b = TestEdge::start(&nats).await.unwrap();
    let tail = Tail::start(&[edge_b.http("")], &cursor_file, &args).unwrap();
    tail.wait_stderr(&format!("resuming after {last}"), 1)
        .await
        .unwrap();
    seqs.extend(stream.numbered(181..=200).await);
    tail.wait_lines(200 - first.len()).await.unwrap();
    let tail = tail.terminate().await.unwrap();

    let all: Vec<TailLine> = first.into_iter().chain(tail.lines()).collect();
    assert_eq!(
        depths(&all),
        (1..=200).collect::<Vec<_>>(),
        "every event exactly once, in order, across the stop and the change of edge"
    );
    assert_eq!(
        ids(&all),
        cursors(epoch, &seqs),
        "each line carries its cursor"
    );
    assert!(all.iter().all(|l| l.kind == "message.new"));
    assert_eq!(
        std::fs::read_to_string(&cursor_file).unwrap().trim(),
        format!("{epoch}-{}", seqs[199])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tail_reconnects_by_itself_and_a_hard_kill_repeats_at_most_one_event() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, quick_drain()).await.unwrap();
    let addr = edge.addr();
    let epoch = edge.state().feed.epoch();
    let stream = TestStream::new(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("tail.cursor");

    let tail = Tail::start(&[edge.http("")], &cursor_file, &[]).unwrap();
    tail.wait_stderr("connected to", 1).await.unwrap();
    let mut seqs = stream.numbered(1..=10).await;
    tail.wait_lines(10).await.unwrap();

    // The edge restarts on the same address while the script runs: it reconnects on its own
    // with backoff and resumes from its cursor.
    edge.shutdown().await.unwrap();
    seqs.extend(stream.numbered(11..=20).await);
    let edge = TestEdge::start_on(&nats, addr, quick_drain())
        .await
        .unwrap();
    tail.wait_stderr("connected to", 2).await.unwrap();
    seqs.extend(stream.numbered(21..=30).await);
    tail.wait_lines(30).await.unwrap();
    assert_eq!(depths(&tail.lines()), (1..=30).collect::<Vec<_>>());
    assert_eq!(ids(&tail.lines()), cursors(epoch, &seqs));
    assert!(
        tail.stderr().contains("reconnecting in"),
        "{}",
        tail.stderr()
    );

    // SIGKILL while events arrive: the event being printed may not have reached the cursor file,
    // so the next run may print that one again, and nothing else twice.
    let publishing = tokio::spawn(publish_paced(TestStream::new(&nats).await, 31..=130));
    tail.wait_lines(40).await.unwrap();
    let killed = tail.kill().await.unwrap();
    seqs.extend(publishing.await.unwrap());
    let before = killed.lines();
    assert!(
        before.len() < 130,
        "killed mid-stream, not after the last event"
    );
    let tail = Tail::start(&[edge.http("")], &cursor_file, &[]).unwrap();
    tail.wait_stderr("resuming after", 1).await.unwrap();
    let caught_up = || {
        tail.lines()
            .last()
            .and_then(TailLine::depth)
            .is_some_and(|d| d == 130)
    };
    adic_tests::wait_until(WAIT, || {
        let done = caught_up();
        async move { done }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {}", tail.stderr()));
    let after = tail.lines();
    let repeated = usize::from(after.first() == before.last());
    let all: Vec<TailLine> = before
        .into_iter()
        .chain(after.into_iter().skip(repeated))
        .collect();
    assert_eq!(
        depths(&all),
        (1..=130).collect::<Vec<_>>(),
        "nothing lost, in order, at most the event in flight repeated"
    );
    assert_eq!(ids(&all), cursors(epoch, &seqs));
    tail.terminate().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tail_reports_a_gap_and_a_reset_and_carries_on() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    // The stream keeps only 20 events: an old cursor falls into a gap.
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let mut config = stream_settings(&nats).config();
    config.max_messages = 20;
    js.create_stream(config).await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            ring_events: 10,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let epoch = edge.state().feed.epoch();
    let stream = TestStream::new(&nats).await;
    let seqs = stream.numbered(1..=50).await;
    let dir = tempfile::tempdir().unwrap();
    let cursor_file = dir.path().join("tail.cursor");

    std::fs::write(&cursor_file, format!("{epoch}-{}\n", seqs[4])).unwrap();
    let tail = Tail::start(&[edge.http("")], &cursor_file, &[]).unwrap();
    tail.wait_lines(20).await.unwrap();
    tail.wait_stderr("gap:", 1).await.unwrap();
    assert!(
        tail.stderr().contains(&format!("{epoch}-{}", seqs[30])),
        "the gap names the first event held: {}",
        tail.stderr()
    );
    assert_eq!(depths(&tail.lines()), (31..=50).collect::<Vec<_>>());
    tail.terminate().await.unwrap();

    // A cursor of another stream instance (the stream was recreated): a reset, then the stream
    // as it is now, and the cursor file follows the new stream.
    let other = if epoch.0 == 1 { "00000002" } else { "00000001" };
    std::fs::write(&cursor_file, format!("{other}-7\n")).unwrap();
    let tail = Tail::start(&[edge.http("")], &cursor_file, &[]).unwrap();
    tail.wait_stderr("reset:", 1).await.unwrap();
    tail.wait_lines(20).await.unwrap();
    assert_eq!(depths(&tail.lines()).last(), Some(&50));
    let tail = tail.terminate().await.unwrap();
    let lines = tail.lines();
    let seq_of = |l: &TailLine| {
        l.cursor
            .split_once('-')
            .map(|(_, s)| s.parse::<u64>().unwrap())
    };
    assert!(
        lines.windows(2).all(|w| seq_of(&w[0]) < seq_of(&w[1])),
        "in stream order after the reset"
    );
    assert_eq!(
        std::fs::read_to_string(&cursor_file).unwrap().trim(),
        format!("{epoch}-{}", seqs[49])
    );
}

// ---------------------------------------------------------------------------------------------
// Browser: docs/examples/browser/index.html

#[test]
fn browser_page_listens_to_every_kind_of_the_catalog() {
    let page =
        std::fs::read_to_string(adic_tests::examples::examples_dir().join("browser/index.html"))
            .unwrap();
    let missing: Vec<&str> = Kind::all()
        .map(Kind::name)
        .filter(|name| !page.contains(&format!("'{name}'")))
        .collect();
    assert!(
        missing.is_empty(),
        "the page's KINDS list lacks {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_resumes_across_an_edge_restart_and_a_reload() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, quick_drain()).await.unwrap();
    let addr = edge.addr();
    let epoch = edge.state().feed.epoch();
    let stream = TestStream::new(&nats).await;
    let url = page_url(&format!("edge=http://{addr}&events=message.new"));

    let mut browser = Browser::launch().await.unwrap();
    browser.navigate(&url).await.unwrap();
    wait_status(&mut browser, "live").await;
    let mut seqs = stream.numbered(1..=30).await;
    wait_rows(&mut browser, 30).await.unwrap();
    expect_rows(&mut browser, epoch, &seqs, 1).await;
    let last = format!("{epoch}-{}", seqs[29]);
    assert_eq!(text_of(&mut browser, "cursor").await.unwrap(), last);
    assert_eq!(text_of(&mut browser, "count").await.unwrap(), "30");

    // The edge restarts on the same address; events are published while it is away. The
    // browser's EventSource reconnects with Last-Event-ID by itself.
    edge.shutdown().await.unwrap();
    seqs.extend(stream.numbered(31..=60).await);
    let edge = TestEdge::start_on(&nats, addr, quick_drain())
        .await
        .unwrap();
    seqs.extend(stream.numbered(61..=90).await);
    wait_rows(&mut browser, 90).await.unwrap();
    expect_rows(&mut browser, epoch, &seqs, 1).await;
    let opens: u64 = text_of(&mut browser, "opens")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(opens >= 2, "the page reconnected ({opens} connections)");
    assert_eq!(
        text_of(&mut browser, "cursor").await.unwrap(),
        format!("{epoch}-{}", seqs[89])
    );

    // The page is closed while events go on, then opened again: it resumes from the cursor it
    // saved in localStorage.
    open_page(&mut browser, "about:blank#away").await;
    seqs.extend(stream.numbered(91..=120).await);
    open_page(&mut browser, &url).await;
    wait_rows(&mut browser, 30).await.unwrap();
    expect_rows(&mut browser, epoch, &seqs[90..], 91).await;
    assert!(
        browser.page_errors().is_empty(),
        "page errors: {:?}",
        browser.page_errors()
    );
    drop(browser);
    edge.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_page_reports_a_gap_and_a_reset() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let mut config = stream_settings(&nats).config();
    config.max_messages = 20;
    js.create_stream(config).await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            ring_events: 10,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let epoch = edge.state().feed.epoch();
    let seqs = TestStream::new(&nats).await.numbered(1..=50).await;
    let edge_url = format!("http://{}", edge.addr());
    let url = page_url(&format!("edge={edge_url}"));
    // The key the page saves its cursor under: the edge and the filter (none here).
    let key = format!("adic-cursor {edge_url}?");

    let mut browser = Browser::launch().await.unwrap();
    browser.navigate(&url).await.unwrap();
    wait_status(&mut browser, "live").await;

    // A saved cursor older than the stream keeps: a gap notice, then the 20 events held.
    let old = format!("{epoch}-{}", seqs[4]);
    reload_with_cursor(&mut browser, &key, &old).await;
    wait_rows(&mut browser, 20).await.unwrap();
    expect_rows(&mut browser, epoch, &seqs[30..], 31).await;
    let notices = text_of(&mut browser, "notices").await.unwrap();
    assert!(
        notices.contains(&format!(
            "Gap: events after {old} are no longer kept; continuing at {epoch}-{}",
            seqs[30]
        )),
        "{notices}"
    );

    // A saved cursor of another stream instance: a reset notice, then the stream as it is now.
    let other = if epoch.0 == 1 { "00000002" } else { "00000001" };
    reload_with_cursor(&mut browser, &key, &format!("{other}-7")).await;
    browser
        .eval_until(
            "a reset notice",
            "document.getElementById('notices').textContent",
            WAIT,
            |t| t.as_str().is_some_and(|t| t.contains("Reset: ")),
        )
        .await
        .unwrap();
    let last = format!("{epoch}-{}", seqs[49]);
    browser
        .eval_until(
            "the newest event after the reset",
            "document.getElementById('cursor').textContent",
            WAIT,
            |c| c == last.as_str(),
        )
        .await
        .unwrap();
    let stored = browser
        .eval(&format!(
            "localStorage.getItem({})",
            serde_json::to_string(&key).unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(
        stored,
        last.as_str(),
        "the saved cursor follows the new stream"
    );
    assert!(
        browser.page_errors().is_empty(),
        "page errors: {:?}",
        browser.page_errors()
    );
}

/// Waits until the page's status reads `status`.
async fn wait_status(browser: &mut Browser, status: &str) {
    browser
        .eval_until(
            &format!("status {status}"),
            "document.getElementById('status').textContent",
            WAIT,
            |s| s == status,
        )
        .await
        .unwrap();
}

/// Checks the page lists exactly the events of `seqs`, numbered from `first`, in order.
async fn expect_rows(browser: &mut Browser, epoch: adic_protocol::Epoch, seqs: &[u64], first: u64) {
    let rows = page_rows(browser).await.unwrap();
    let want: Vec<u64> = (first..first + seqs.len() as u64).collect();
    let got: Vec<u64> = rows.iter().filter_map(|r| r.depth()).collect();
    assert_eq!(got, want, "every event exactly once, in order");
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, cursors(epoch, seqs), "each row carries its cursor");
    assert!(rows.iter().all(|r| r.kind == "message.new"));
}

/// Opens `url` and waits until it is a fresh document (navigating to the URL that is already
/// open must not count the old page as loaded).
async fn open_page(browser: &mut Browser, url: &str) {
    browser.eval("window.adicOldPage = true").await.unwrap();
    browser.navigate(url).await.unwrap();
    browser
        .eval_until(
            "the page loaded afresh",
            "window.adicOldPage !== true && document.readyState === 'complete'",
            WAIT,
            |fresh| fresh == true,
        )
        .await
        .unwrap();
}

/// Opens the page again with `cursor` as its saved cursor. The cursor is stored by a script
/// that runs in the new document before the page's own: a write made from the old document
/// could reach the new one after the page has read its storage.
async fn reload_with_cursor(browser: &mut Browser, key: &str, cursor: &str) {
    let url = browser.eval("location.href").await.unwrap();
    let set = format!(
        "localStorage.setItem({}, {})",
        serde_json::to_string(key).unwrap(),
        serde_json::to_string(cursor).unwrap()
    );
    let script = browser
        .command(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": set }),
        )
        .await
        .unwrap();
    open_page(browser, url.as_str().unwrap()).await;
    browser
        .command(
            "Page.removeScriptToEvaluateOnNewDocument",
            serde_json::json!({ "identifier": script["identifier"] }),
        )
        .await
        .unwrap();
}
