//! The dashboard in a real browser: headless Chromium loads `/` from an in-process demo edge
//! (in-memory stream + simulated node at 20x speed), and the test checks what a person would
//! see against an independent WebSocket client on the same edge (the "witness"). The demo, the
//! witness and the page helpers are in `adic_tests::dashboard_page`.
//!
//! The screenshot in `docs/dashboard.png` is written here, after events have flowed and before
//! the filters narrow the view. Needs `chromium` (`apt-get install -y chromium`); without it the
//! tests fail rather than skip.

use adic_edge::auth::{AuthMode, Secret};
use adic_tests::browser::Browser;
use adic_tests::dashboard_page::{
    agree_with_witness, extra_screenshots, poll_page, total, wait_live, Demo, Witness, STATUS,
};
use adic_tests::tokens::{claims, Signer, SECRET};
use anyhow::Context;
use serde_json::Value;

const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dashboard.png");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_the_live_stream_and_filters_it() -> anyhow::Result<()> {
    adic_tests::init_logs();
    let demo = Demo::start().await?;
    // The witness connects first and has seen a tips update, so whatever the page knows about
    // tips the witness knows too.
    let witness = Witness::connect(&demo).await?;
    witness.wait_for_tips().await?;

    let mut browser = Browser::launch().await?;
    browser.navigate(&demo.url("/")).await?;
    assert_eq!(browser.eval("document.title").await?, "ADIC live events");

    let status = wait_live(&mut browser, "websocket", "WebSocket").await?;
    assert_eq!(
        browser
            .eval("document.getElementById('transport').textContent")
            .await?,
        "WebSocket"
    );
    let first_total = total(&status);

    // Same stream, same values: the page's cursor is one of the witness's ids, and its tips count
    // is the witness's at that id.
    let (cursor, _tips) = agree_with_witness(&mut browser, &witness).await?;
    assert!(
        cursor.parse::<adic_protocol::Cursor>().is_ok(),
        "cursor {cursor} has the cursor format"
    );
    // The header and the card show what the model holds (they render a frame later).
    poll_page(&mut browser, "cursor and tips shown", STATUS, |s| {
        s["cursorText"] == s["cursor"]
            && s["tipsText"].as_str().map(|t| t.replace(',', ""))
                == s["tips"].as_u64().map(|n| n.to_string())
    })
    .await?;

    // The counters move.
    poll_page(&mut browser, "total grows", STATUS, |s| {
        total(s) > first_total + 20
    })
    .await?;
    let counts = browser.eval("(() => { const d = window.adicDashboard; const c = d.countsByKind; \
        return { sum: Object.values(c).reduce((a, b) => a + b, 0), total: d.total, \
                 shown: Number(document.getElementById('count-total').textContent.replace(/,/g, '')) }; })()").await?;
    assert_eq!(
        counts["sum"], counts["total"],
        "per-kind counts add up to the total"
    );

    // A rich view for the screenshot: the gauges in, a full feed and a quarter minute of rate
    // history (best effort: the screenshot is documentation, the assertions are above and below).
    let _ = poll_page(
        &mut browser,
        "gauges filled",
        "['kcore-finalized', 'diversity-score', 'energy-active', 'admissibility-overall', 'supply-total'] \
         .every(id => document.getElementById(id).textContent !== '—') \
         && window.adicDashboard.feedKinds().length >= 100 && performance.now() > 15000",
        |v| v == true,
    )
    .await;
    browser.screenshot(std::path::Path::new(SCREENSHOT)).await?;
    extra_screenshots(&mut browser).await?;

    // Narrow screens: nothing sticks out sideways, the feed is still there.
    browser.set_viewport(390, 844).await?;
    let narrow = browser
        .eval("[document.documentElement.scrollWidth, document.getElementById('feed').getBoundingClientRect().width]")
        .await?;
    assert!(
        narrow[0].as_f64().unwrap_or(f64::MAX) <= 390.0,
        "page wider than a phone: {narrow}"
    );
    assert!(
        narrow[1].as_f64().unwrap_or(0.0) > 300.0,
        "feed too narrow on a phone: {narrow}"
    );
    browser
        .set_viewport(adic_tests::browser::WIDTH, adic_tests::browser::HEIGHT)
        .await?;

    // Narrow to message.new through the UI: "None", then tick message.new. Over WebSocket this is
    // one Subscribe on the open connection; the feed must then show only message.new.
    browser
        .eval(
            "document.getElementById('filter-none').click(); \
               document.querySelector('input[data-filter-kind=\"message.new\"]').click();",
        )
        .await?;
    let checked = browser
        .eval("Array.from(document.querySelectorAll('input[data-filter-kind]:checked'), i => i.dataset.filterKind)")
        .await?;
    assert_eq!(checked, serde_json::json!(["message.new"]));
    poll_page(
        &mut browser,
        "only message.new arrives",
        "window.adicDashboard.feedKinds().slice(0, 12)",
        |v| {
            v.as_array()
                .is_some_and(|kinds| kinds.len() == 12 && kinds.iter().all(|k| k == "message.new"))
        },
    )
    .await?;
    // From here on only message.new is counted, while the witness (unfiltered) still gets the rest.
    let before = browser.eval("window.adicDashboard.countsByKind").await?;
    let witness_before = witness.with(|s| s.by_kind.get("TipsUpdated").copied().unwrap_or(0));
    let added_before = before["message.new"].as_u64().unwrap_or(0);
    let after = poll_page(
        &mut browser,
        "more message.new",
        "window.adicDashboard.countsByKind",
        |c| c["message.new"].as_u64().unwrap_or(0) >= added_before + 10,
    )
    .await?;
    for (kind, n) in after.as_object().context("countsByKind is an object")? {
        if kind != "message.new" {
            assert_eq!(
                Some(n),
                before.get(kind),
                "{kind} still counted after filtering to message.new"
            );
        }
    }
    assert!(
        witness.with(|s| s.by_kind.get("TipsUpdated").copied().unwrap_or(0)) > witness_before,
        "the witness's own unfiltered stream kept receiving other kinds"
    );
    let feed_ok = browser
        .eval("Array.from(document.querySelectorAll('#feed > li[data-kind]')).slice(0, 12) \
               .every(li => li.dataset.kind === 'message.new' && /^[0-9a-f]{8}-[0-9]+$/.test(li.dataset.id))")
        .await?;
    assert_eq!(
        feed_ok, true,
        "feed entries carry data-kind and a cursor in data-id"
    );

    // "All kinds" puts everything back (Subscribe(["all"]) on the same connection).
    browser
        .eval("document.getElementById('filter-all').click()")
        .await?;
    poll_page(
        &mut browser,
        "other kinds arrive again",
        "window.adicDashboard.feedKinds().slice(0, 12)",
        |v| {
            v.as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k != "message.new"))
        },
    )
    .await?;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('input[data-filter-kind]:not(:checked)').length")
            .await?,
        0,
        "every kind box is ticked again"
    );

    assert!(
        browser.page_errors().is_empty(),
        "page errors: {:?}",
        browser.page_errors()
    );
    drop(browser);
    demo.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_over_sse_filters_by_priority() -> anyhow::Result<()> {
    adic_tests::init_logs();
    let demo = Demo::start().await?;
    let witness = Witness::connect(&demo).await?;
    witness.wait_for_tips().await?;

    let mut browser = Browser::launch().await?;
    browser.navigate(&demo.url("/?transport=sse")).await?;
    let status = wait_live(&mut browser, "sse", "SSE").await?;
    poll_page(&mut browser, "events over SSE", STATUS, |s| {
        total(s) > total(&status) + 20
    })
    .await?;
    agree_with_witness(&mut browser, &witness).await?;

    // A priority change reconnects SSE with `priority=medium`; the feed and counters keep going.
    browser
        .eval(
            "const s = document.getElementById('filter-priority'); s.value = 'medium'; \
               s.dispatchEvent(new Event('change'));",
        )
        .await?;
    let medium = "new Set(['diversity.update','energy.update','kcore.update','deposit.released','sync.started', \
        'sync.progress','sync.completed','reputation.changed','quorum.selected','quorum.voted','escrow.locked', \
        'escrow.released','escrow.slashed','escrow.refunded','governance.treasury.executed', \
        'committee.aggregator.selected','pouw.workers.selected'])";
    poll_page(
        &mut browser,
        "only medium-priority kinds arrive",
        &format!("(() => {{ const m = {medium}; const k = window.adicDashboard.feedKinds().slice(0, 8); \
                  return k.length === 8 && k.every(x => m.has(x)); }})()"),
        |v| v == true,
    )
    .await?;
    wait_live(&mut browser, "sse", "SSE").await?;
    assert_eq!(
        browser.eval("location.search").await?,
        "?transport=sse&priority=medium",
        "filters kept in the URL"
    );

    assert!(
        browser.page_errors().is_empty(),
        "page errors: {:?}",
        browser.page_errors()
    );
    drop(browser);
    demo.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_reconnects_when_its_edge_restarts() -> anyhow::Result<()> {
    adic_tests::init_logs();
    let demo = Demo::start().await?;
    let addr = demo.addr();
    let mut browser = Browser::launch().await?;
    browser.navigate(&demo.url("/")).await?;
    wait_live(&mut browser, "websocket", "WebSocket").await?;
    let before = poll_page(&mut browser, "a first cursor", STATUS, |s| {
        s["cursor"].is_string()
    })
    .await?;

    // The edge drains (close code 4000); a new one comes up on the same address with a new
    // in-memory stream, hence a new cursor epoch. The page must find it by itself.
    demo.shutdown().await?;
    poll_page(&mut browser, "notices the loss", STATUS, |s| {
        s["state"] != "live"
    })
    .await?;
    let demo = Demo::start_on(addr).await?;
    let old_epoch = before["cursor"]
        .as_str()
        .unwrap_or_default()
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned();
    poll_page(&mut browser, "live again on the new stream", STATUS, |s| {
        s["state"] == "live"
            && s["cursor"]
                .as_str()
                .and_then(|c| c.split('-').next())
                .is_some_and(|epoch| epoch != old_epoch)
    })
    .await?;
    let total_now = total(&browser.eval(STATUS).await?);
    poll_page(&mut browser, "counting again", STATUS, |s| {
        total(s) > total_now + 10
    })
    .await?;
    // It asked to resume with its old cursor; the new stream answered Reset, and the log says so.
    let notices = browser
        .eval("Array.from(document.querySelectorAll('#log > li'), li => li.textContent)")
        .await?;
    let notices: Vec<&str> = notices
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notices.iter().any(|n| n.contains("shutting down")),
        "a notice for the drain: {notices:?}"
    );
    assert!(
        notices.iter().any(|n| n.contains("stream was recreated")),
        "a notice for the reset: {notices:?}"
    );

    assert!(
        browser.page_errors().is_empty(),
        "page errors: {:?}",
        browser.page_errors()
    );
    drop(browser);
    demo.shutdown().await
}

/// On an edge with authentication on: without a token the page says "not authorized" and
/// stops (no reconnect loop), over WebSocket and over SSE; with `#token=` it is live over both
/// and shows only the kinds the token allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_on_an_edge_that_needs_a_token() -> anyhow::Result<()> {
    adic_tests::init_logs();
    let mut edge = adic_edge::config::EdgeSettings {
        listen: "127.0.0.1:0".parse()?,
        ..adic_edge::config::EdgeSettings::default()
    };
    edge.auth.mode = AuthMode::Jwt;
    edge.auth.hs256_secret = Some(Secret(SECRET.into()));
    let demo = Demo::start_with(edge).await?;
    let mut browser = Browser::launch().await?;
    let stopped = "(() => ({ state: window.adicDashboard.state, why: window.adicDashboard.stoppedReason }))()";
    for page in ["/", "/?transport=sse"] {
        browser.navigate(&demo.url(page)).await?;
        let status = poll_page(&mut browser, "stopped as not authorized", stopped, |s| {
            s["state"] == "stopped"
        })
        .await?;
        let why = status["why"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("Not authorized: ") && why.contains("token is required"),
            "{page}: {why}"
        );
    }

    let token = Signer::Hs256.sign(&claims("dashboard", &["high"], 600), None);
    for (page, transport, label) in [
        (format!("/#token={token}"), "websocket", "WebSocket"),
        (format!("/?transport=sse#token={token}"), "sse", "SSE"),
    ] {
        browser.navigate(&demo.url(&page)).await?;
        wait_live(&mut browser, transport, label).await?;
        poll_page(
            &mut browser,
            "high-priority events only",
            "window.adicDashboard.feedKinds().slice(0, 10)",
            |v| v.as_array().is_some_and(|k| k.len() == 10),
        )
        .await?;
        let kinds = browser
            .eval("window.adicDashboard.feedKinds()")
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default();
        let high: Vec<&str> = adic_protocol::Kind::all()
            .filter(|k| k.priority() == adic_protocol::Priority::High)
            .map(|k| k.name())
            .collect();
        assert!(
            kinds
                .iter()
                .all(|k| high.contains(&k.as_str().unwrap_or(""))),
            "{transport}: {kinds:?}"
        );
    }
    drop(browser);
    demo.shutdown().await
}
