//! The edge's part of an event's trace.
//!
//! An event the publisher traced arrives with a `traceparent` header. While this edge exports
//! traces ([`adic_publisher::telemetry::enabled`]), it continues that trace with three spans:
//!
//! - `adic.edge.receive` (consumer), child of the publisher's `adic.publish`: from the event
//!   reaching the feed until its fan-out is done; validation and encoding happen inside it;
//! - `adic.edge.fanout`, child of `receive`: queueing the event for every client whose filter
//!   takes it; `adic.recipients` counts them;
//! - `adic.edge.deliver`, child of `fanout`, **one per event per edge**: from the fan-out until
//!   the first client's write of the event, with that client's transport. Not one span per
//!   client per event: at 10,000 clients that would be 10,000 spans for one event.
//!
//! Events without a `traceparent`, and every event while traces are off, carry no trace: the
//! cost is then one atomic load per event in the feed and a pointer check per delivery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use adic_publisher::trace::parse_traceparent;
use opentelemetry::trace::{Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::encoded::EncodedEvent;

const TRACER: &str = "adic-edge";

/// The fan-out span an event's deliveries belong to.
#[derive(Debug)]
pub struct EventTrace {
    fanout: Context,
    fanned_out_at: SystemTime,
    recipients: std::sync::atomic::AtomicUsize,
    delivered: AtomicBool,
}

impl EventTrace {
    /// Records the delivery span for the first write of `event` to a client (later writes of
    /// the same event do nothing).
    pub fn delivered(&self, transport: &'static str, event: &EncodedEvent) {
        if self.delivered.swap(true, Ordering::Relaxed) {
            return;
        }
        let tracer = opentelemetry::global::tracer(TRACER);
        let mut span = tracer
            .span_builder("adic.edge.deliver")
            .with_kind(SpanKind::Internal)
            .with_start_time(self.fanned_out_at)
            .with_attributes([
                KeyValue::new("adic.transport", transport),
                KeyValue::new("adic.kind", event.name.to_string()),
                KeyValue::new("adic.priority", priority(event)),
                KeyValue::new("adic.cursor", event.cursor.to_string()),
                KeyValue::new(
                    "adic.recipients",
                    self.recipients.load(Ordering::Relaxed) as i64,
                ),
            ])
            .start_with_context(&tracer, &self.fanout);
        span.end();
    }
}

/// The receive span of one event, open while it is encoded and fanned out.
pub struct Receiving {
    receive: Context,
}

/// Opens the receive span for an event carrying `traceparent`, when traces are exported.
pub fn receiving(traceparent: Option<&str>, subject: &str) -> Option<Receiving> {
    if !adic_publisher::telemetry::enabled() {
        return None;
    }
    let parent = parse_traceparent(traceparent?)?;
    let parent = Context::new().with_remote_span_context(parent);
    let tracer = opentelemetry::global::tracer(TRACER);
    let span = tracer
        .span_builder("adic.edge.receive")
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("messaging.destination.name", subject.to_owned()),
        ])
        .start_with_context(&tracer, &parent);
    Some(Receiving {
        receive: parent.with_span(span),
    })
}

/// The fan-out span, started before the event is queued so that deliveries can name it.
pub struct FanningOut {
    span: opentelemetry::global::BoxedSpan,
}

impl Receiving {
    /// Starts the fan-out span; the returned [`EventTrace`] goes with the encoded event.
    pub fn fan_out(&self) -> (FanningOut, EventTrace) {
        let tracer = opentelemetry::global::tracer(TRACER);
        let span = tracer
            .span_builder("adic.edge.fanout")
            .with_kind(SpanKind::Internal)
            .start_with_context(&tracer, &self.receive);
        let fanout = Context::new().with_remote_span_context(span.span_context().clone());
        let trace = EventTrace {
            fanout,
            fanned_out_at: SystemTime::now(),
            recipients: std::sync::atomic::AtomicUsize::new(0),
            delivered: AtomicBool::new(false),
        };
        (FanningOut { span }, trace)
    }

    /// Ends the receive span with the event's attributes.
    pub fn done(self, event: &EncodedEvent) {
        let span = self.receive.span();
        span.set_attributes(event_attributes(event));
        span.end();
    }

    /// Ends the receive span of an event that could not be delivered.
    pub fn failed(self, error: &str) {
        let span = self.receive.span();
        span.set_status(opentelemetry::trace::Status::error(error.to_owned()));
        span.end();
    }
}

impl FanningOut {
    /// Ends the fan-out span with the number of clients the event was queued for.
    pub fn done(mut self, event: &EncodedEvent, recipients: usize, conflated: usize) {
        if let Some(trace) = &event.trace {
            trace.recipients.store(recipients, Ordering::Relaxed);
        }
        self.span.set_attributes(event_attributes(event));
        self.span
            .set_attribute(KeyValue::new("adic.recipients", recipients as i64));
        self.span
            .set_attribute(KeyValue::new("adic.conflated", conflated as i64));
        self.span.end();
    }
}

fn event_attributes(event: &EncodedEvent) -> [KeyValue; 3] {
    [
        KeyValue::new("adic.kind", event.name.to_string()),
        KeyValue::new("adic.priority", priority(event)),
        KeyValue::new("adic.cursor", event.cursor.to_string()),
    ]
}

fn priority(event: &EncodedEvent) -> &'static str {
    event.key.priority().as_str()
}
