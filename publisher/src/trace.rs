//! W3C trace context across the NATS hop.
//!
//! The publisher puts the current span's context into each message's `traceparent` header, so the
//! edge can continue the node's trace for receive, fan-out and delivery.

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The NATS header that carries the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current tracing span, when an OpenTelemetry layer is installed and
/// the span is being traced; `None` otherwise.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
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
    fn traceparent_shape() {
        assert!(is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
        ));
    }
}
