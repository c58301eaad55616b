//! Where the process's logs and traces go: log lines on stderr (text or JSON, `RUST_LOG`
//! filtering them), and with `--otlp-endpoint` each request's spans (the request, then its
//! validate, tokenize, queue, forward and encode stages) exported as OpenTelemetry traces, OTLP
//! over gRPC, as text-embeddings-inference exports them.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use crate::config::LogFormat;

/// How the process reports.
pub struct TelemetrySettings<'a> {
    pub format: LogFormat,
    /// Log the request stages' spans as they close (at debug level, `RUST_LOG` permitting).
    pub log_spans: bool,
    /// The collector's OTLP/gRPC endpoint (`http://HOST:4317`), and the service name traces
    /// carry.
    pub otlp: Option<(&'a str, &'a str)>,
}

/// The installed reporting; [`Telemetry::shutdown`] sends the traces still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber. With an OTLP endpoint it must run inside a Tokio
    /// runtime (the exporter's channel lives there).
    pub fn install(settings: &TelemetrySettings<'_>) -> anyhow::Result<Self> {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        // Colours only on a terminal: container and journal logs get plain text.
        let log = tracing_subscriber::fmt::layer()
            .with_span_events(if settings.log_spans {
                FmtSpan::CLOSE
            } else {
                FmtSpan::NONE
            })
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        let log: Box<dyn Layer<Registry> + Send + Sync> = match settings.format {
            LogFormat::Text => log.boxed(),
            LogFormat::Json => log.json().boxed(),
        };
        let provider = settings
            .otlp
            .map(|(endpoint, service)| tracer_provider(endpoint, service))
            .transpose()?;
        // The traces take this crate's spans at debug level whatever RUST_LOG keeps in the log.
        let traces = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("embeddings"))
                .with_filter(Targets::new().with_target("embeddings", tracing::Level::DEBUG))
        });
        tracing_subscriber::registry()
            .with(log.with_filter(filter))
            .with(traces)
            .try_init()?;
        if let Some((endpoint, service)) = settings.otlp {
            tracing::info!(endpoint, service, "sending traces (OTLP over gRPC)");
        }
        Ok(Self { provider })
    }

    /// Sends what is still buffered (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: traces not all sent: {error}");
            }
        }
    }
}

fn tracer_provider(endpoint: &str, service: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
