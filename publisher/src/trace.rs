//! W3C trace context across the NATS hop.
//!
//! The publisher puts the current span's context into each message's `traceparent` header, so the
//! edge can continue the node's trace for receive, fan-out and delivery.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The NATS header that carries the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current tracing span, when an OpenTelemetry layer is installed and
/// the span is being traced; `None` otherwise.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The `traceparent` of a tracing span, when it is traced.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let otel = context.span();
    let sc = otel.span_context();
    sc.is_valid().then(|| format_traceparent(sc))
}

/// `00-<trace id>-<span id>-<flags>`.
pub fn format_traceparent(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// The remote span a `traceparent` names; `None` when it is malformed or all zeros.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    if !is_valid_traceparent(value) {
        return None;
    }
    let mut parts = value.split('-');
    let version = parts.next()?;
    if version == "ff" {
        return None;
    }
    let trace_id = TraceId::from_hex(parts.next()?).ok()?;
    let span_id = SpanId::from_hex(parts.next()?).ok()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    let sc = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags & 1),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// Checks the shape of a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_context_without_a_tracer() {
        assert_eq!(current_traceparent(), None);
    }

    #[test]
    fn traceparent_round_trip() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(value).unwrap();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(format_traceparent(&sc), value);
        let unsampled =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!unsampled.unwrap().is_sampled());
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(parse_traceparent("garbage").is_none());
    }

    #[test]
    fn traceparent_shape() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
        ));
    }
}
