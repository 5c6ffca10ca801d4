//! Logs and OpenTelemetry traces of the adic binaries (`adic-publisher`, `adic-edge`).
//!
//! Traces are off unless an OTLP endpoint is configured with the standard variables:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | where spans go (`http://collector:4318`); unset: no traces |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `http/protobuf` (default) or `http/json` |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT` | extra headers, export timeout |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the service's name (default: the binary's) and attributes |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampling (default `parentbased_always_on`) |
//! | `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none` | force traces off |
//!
//! While traces are off, [`enabled`] is false and the publisher and the edge skip every span they
//! would make: the cost is one relaxed atomic load per event.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported by this process.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether traces are exported.
    pub fn tracing(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            ENABLED.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                eprintln!("flushing traces: {e}");
            }
        }
    }
}

/// Where traces go, read from the `OTEL_*` variables.
#[derive(Debug, PartialEq, Eq)]
pub enum TraceExport {
    Off,
    Otlp,
}

/// Decides from the environment whether to export traces; a setting this build cannot honour is
/// an error that names the alternative.
pub fn trace_export(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<TraceExport> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(TraceExport::Off);
    }
    match set("OTEL_TRACES_EXPORTER").map(|v| v.trim().to_ascii_lowercase()) {
        None => {}
        Some(v) if v == "none" => return Ok(TraceExport::Off),
        Some(v) if v == "otlp" => {}
        Some(v) => anyhow::bail!("OTEL_TRACES_EXPORTER={v} is not supported: use otlp or none"),
    }
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = set(name) {
            let p = protocol.trim().to_ascii_lowercase();
            anyhow::ensure!(
                p == "http/protobuf" || p == "http/json",
                "{name}={protocol} is not supported: use http/protobuf (the collector's port 4318) or http/json"
            );
            break;
        }
    }
    let endpoint =
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
    Ok(match endpoint {
        Some(_) => TraceExport::Otlp,
        None => TraceExport::Off,
    })
}

/// Installs logging to stderr (`RUST_LOG`, default `info`) and, when configured, the OTLP trace exporter.
/// Call before starting the async runtime: the exporter runs on its own thread.
pub fn init(service: &str) -> anyhow::Result<Telemetry> {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    let provider = match trace_export(|name| std::env::var(name).ok())? {
        TraceExport::Off => None,
        TraceExport::Otlp => Some(provider(service)?),
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service.to_owned()))
            .with_filter(
                Targets::new()
                    .with_target("adic_publisher", LevelFilter::INFO)
                    .with_target("adic_edge", LevelFilter::INFO),
            )
    });
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .context("installing the log subscriber")?;
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
        ENABLED.store(true, Ordering::Relaxed);
        tracing::info!("exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

fn provider(service: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    // The OTLP default is protobuf; the exporter crate would pick JSON when both are built in.
    let json = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    .is_some_and(|p| p.trim().eq_ignore_ascii_case("http/json"));
    let protocol = if json {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .context("configuring the OTLP trace exporter")?;
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder()
    } else {
        Resource::builder().with_service_name(service.to_owned())
    };
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(vars: &[(&str, &str)]) -> anyhow::Result<TraceExport> {
        trace_export(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(decide(&[]).unwrap(), TraceExport::Off);
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(decide(&[endpoint]).unwrap(), TraceExport::Otlp);
        assert_eq!(
            decide(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces"
            )])
            .unwrap(),
            TraceExport::Otlp
        );
        assert_eq!(
            decide(&[endpoint, ("OTEL_SDK_DISABLED", "true")]).unwrap(),
            TraceExport::Off
        );
        assert_eq!(
            decide(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            TraceExport::Off
        );
    }

    #[test]
    fn unsupported_settings_are_named() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let e = decide(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
        assert!(e.to_string().contains("http/protobuf"), "{e}");
        let e = decide(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(e.to_string().contains("otlp or none"), "{e}");
        assert_eq!(
            decide(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap(),
            TraceExport::Otlp
        );
    }
}
