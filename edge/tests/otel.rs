//! One event's trace from the node to a client, across the NATS hop: the publisher (configured
//! by the standard `OTEL_*` variables, as the binary is) continues the node's span, and a real
//! `adic-edge` process continues the publisher's. Both export over OTLP/HTTP to a receiver that
//! decodes the protobuf, as a collector would.

use std::collections::HashMap;
use std::time::Duration;

use adic_protocol::event::{Event, NodeStarted};
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::clients::WsClient;
use adic_tests::edge::stream_settings;
use adic_tests::nats::TestNats;
use adic_tests::otlp::{OtlpReceiver, ReceivedSpan};
use adic_tests::processes::EdgeProcess;
use adic_tests::wait_until;

const NODE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const NODE_SPAN: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn node_started(id: &str) -> Event {
    Event::NodeStarted(NodeStarted {
        node_id: id.into(),
        version: "1".into(),
        timestamp: 1,
    })
}

#[test]
fn an_events_trace_spans_publisher_and_edge() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime.block_on(OtlpReceiver::start()).unwrap();
    let otel_env = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            receiver.endpoint(),
        ),
        // Export every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
    ];
    for (k, v) in &otel_env {
        std::env::set_var(k, v);
    }
    std::env::set_var("RUST_LOG", "warn");
    // As the binaries do: before the runtime runs anything of the publisher.
    let telemetry = adic_publisher::telemetry::init("adic-publisher").unwrap();
    assert!(telemetry.tracing() && adic_publisher::telemetry::enabled());

    runtime.block_on(async {
        let nats = TestNats::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let settings = stream_settings(&nats);
        let args = vec![
            "--nats-url".to_owned(),
            nats.url(),
            "--stream".to_owned(),
            settings.name.clone(),
            "--subject-prefix".to_owned(),
            settings.prefix.clone(),
        ];
        let edge = EdgeProcess::start_with_env(
            env!("CARGO_BIN_EXE_adic-edge").as_ref(),
            args,
            otel_env.clone(),
            dir.path(),
            "edge",
        )
        .unwrap();
        edge.wait_ready().await.unwrap();
        let mut client = WsClient::connect(&format!("ws://127.0.0.1:{}/v1/ws/events", edge.port()))
            .await
            .unwrap();

        let publisher = Publisher::start(
            nats.client().await.unwrap(),
            PublisherConfig {
                stream: settings,
                ..PublisherConfig::default()
            },
        );
        // The node passes its span in as a W3C traceparent.
        publisher
            .publish_with_parent(
                &node_started("traced"),
                &format!("00-{NODE_TRACE}-{NODE_SPAN}-01"),
            )
            .unwrap();
        // A node span that its sampler dropped: nothing of it may be exported.
        publisher
            .publish_with_parent(
                &node_started("unsampled"),
                &format!("00-{UNSAMPLED_TRACE}-{NODE_SPAN}-00"),
            )
            .unwrap();
        // No span passed in: the publisher starts the trace.
        publisher.publish(&node_started("root")).unwrap();
        publisher.flush().await;

        let mut cursors = Vec::new();
        while cursors.len() < 3 {
            let (id, _) = tokio::time::timeout(Duration::from_secs(10), client.next_event())
                .await
                .expect("events reach the client")
                .unwrap();
            cursors.push(id);
        }

        // The publisher's three spans and the edge's three per sampled event.
        wait_until(Duration::from_secs(20), || async {
            let spans = receiver.spans();
            spans.iter().filter(|s| s.name == "adic.publish").count() >= 2
                && spans
                    .iter()
                    .filter(|s| s.name == "adic.edge.deliver")
                    .count()
                    >= 2
        })
        .await
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(edge.log()).unwrap_or_default();
            panic!("{e}: received {:#?}\nedge log:\n{log}", receiver.spans())
        });
        // Time for anything that should not be there to arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let spans = receiver.spans();

        assert!(
            spans.iter().all(|s| s.trace_id != UNSAMPLED_TRACE),
            "an unsampled trace was exported: {spans:#?}"
        );

        // The node's trace: node → adic.publish → receive → fanout → deliver.
        let publish = one(&spans, "adic.publish", NODE_TRACE);
        assert_eq!(publish.service, "adic-publisher");
        assert_eq!(publish.parent_span_id, NODE_SPAN);
        assert_eq!(publish.attributes["adic.sequence"], "1");
        let subject = &publish.attributes["messaging.destination.name"];
        assert!(subject.ends_with(".node.started"), "{subject}");
        check_edge_spans(&spans, NODE_TRACE, publish, &cursors[0]);

        // The trace the publisher started.
        let root = spans
            .iter()
            .find(|s| s.name == "adic.publish" && s.trace_id != NODE_TRACE)
            .expect("the root publish span");
        assert_eq!(root.parent_span_id, "", "{root:#?}");
        check_edge_spans(&spans, &root.trace_id, root, &cursors[2]);
        drop(edge);
    });
    drop(runtime);
    drop(telemetry);
}

/// The only span named `name` in `trace`.
fn one<'a>(spans: &'a [ReceivedSpan], name: &str, trace: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.trace_id == trace)
        .collect();
    assert_eq!(found.len(), 1, "{name} in {trace}: {spans:#?}");
    found[0]
}

fn check_edge_spans(spans: &[ReceivedSpan], trace: &str, publish: &ReceivedSpan, cursor: &str) {
    let receive = one(spans, "adic.edge.receive", trace);
    let fanout = one(spans, "adic.edge.fanout", trace);
    let deliver = one(spans, "adic.edge.deliver", trace);
    for span in [receive, fanout, deliver] {
        assert_eq!(span.service, "adic-edge", "{span:#?}");
    }
    assert_eq!(
        receive.parent_span_id, publish.span_id,
        "receive is a child of publish"
    );
    assert_eq!(
        fanout.parent_span_id, receive.span_id,
        "fanout is a child of receive"
    );
    assert_eq!(
        deliver.parent_span_id, fanout.span_id,
        "deliver is a child of fanout"
    );
    let expected: HashMap<&str, &str> = [
        ("adic.kind", "node.started"),
        ("adic.priority", "low"),
        ("adic.cursor", cursor),
    ]
    .into();
    for span in [receive, fanout, deliver] {
        for (key, value) in &expected {
            assert_eq!(
                span.attributes.get(*key).map(String::as_str),
                Some(*value),
                "{key} of {span:#?}"
            );
        }
    }
    assert_eq!(fanout.attributes["adic.recipients"], "1");
    assert_eq!(deliver.attributes["adic.recipients"], "1");
    assert_eq!(deliver.attributes["adic.transport"], "websocket");
    assert!(publish.start_unix_nanos <= receive.start_unix_nanos);
    assert!(fanout.end_unix_nanos <= deliver.end_unix_nanos);
}
