//! The publisher's trace context crosses the NATS hop: the `traceparent` of the span that
//! published an event is in the message headers the edge's broker receives.

use std::time::Duration;

use adic_edge::broker::nats::NatsBroker;
use adic_edge::broker::{Broker, LiveItem, LiveStart};
use adic_protocol::event::{Event, NodeStarted};
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::edge::stream_settings;
use adic_tests::nats::TestNats;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn traceparent_travels_in_the_nats_headers() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let nats = TestNats::start().await.unwrap();
    let config = PublisherConfig {
        stream: stream_settings(&nats),
        ..PublisherConfig::default()
    };
    let publisher = Publisher::start(nats.client().await.unwrap(), config);
    let span = tracing::info_span!("node emits");
    let trace_id = span.context().span().span_context().trace_id();
    assert_ne!(trace_id, opentelemetry::trace::TraceId::INVALID);
    {
        let _entered = span.enter();
        let event = Event::NodeStarted(NodeStarted {
            node_id: "n1".into(),
            version: "1".into(),
            timestamp: 1,
        });
        publisher.publish(&event).unwrap();
    }
    // One event published outside any span carries no trace context.
    let untraced = Event::NodeStarted(NodeStarted {
        node_id: "n2".into(),
        version: "1".into(),
        timestamp: 2,
    });
    publisher.publish(&untraced).unwrap();
    publisher.flush().await;

    let broker = NatsBroker::new(nats.client().await.unwrap(), stream_settings(&nats));
    let mut live = broker.live(LiveStart::At(1));
    let mut received = Vec::new();
    while received.len() < 2 {
        let item = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .unwrap();
        if let Some(LiveItem::Event(event)) = item {
            received.push(event);
        }
    }
    let traceparent = received[0].traceparent.clone().expect("traceparent header");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(adic_publisher::trace::is_valid_traceparent(&traceparent));
    assert_eq!(received[1].traceparent, None);
}
