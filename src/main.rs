use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use embeddings::server::telemetry::{Telemetry, TelemetrySettings};

use embeddings::config::{Cli, Command, DownloadArgs, EmbedArgs, LogFormat};
use embeddings::engine::EngineConfig;
use embeddings::http::create_embeddings;
use embeddings::http::openai::types::EmbeddingRequest;
use embeddings::hub::{Access, HubSettings, Snapshot};
use embeddings::model_files::{ModelDescription, WeightFiles};
use embeddings::model_store::{MemorySettings, ModelStore};
use embeddings::registry::Registry;
use embeddings::runner::select_device;
use embeddings::service::{AppState, Limits};

fn main() -> ExitCode {
    embeddings::config::tei::adopt_environment();
    let cli = Cli::parse_from(embeddings::config::tei::with_serve_default(
        std::env::args_os().collect(),
    ));
    let outcome = match cli.command {
        Command::Serve(args) => {
            embeddings::runner::kernels::configure_cpu_threads(args.tuning.threads_per_worker());
            runtime().and_then(|rt| {
                let tei = &args.tei;
                let settings = TelemetrySettings {
                    format: if tei.json_output {
                        LogFormat::Json
                    } else {
                        cli.log_format
                    },
                    log_spans: !tei.disable_spans,
                    otlp: tei
                        .otlp_endpoint
                        .as_deref()
                        .map(|e| (e, tei.otlp_service_name.as_str())),
                };
                let telemetry = {
                    let _entered = rt.enter();
                    Telemetry::install(&settings)?
                };
                let served = rt.block_on(embeddings::server::serve(*args));
                if let Err(error) = &served {
                    tracing::error!("{error:#}");
                }
                telemetry.shutdown();
                served
            })
        }
        Command::Download(args) => plain_logging(cli.log_format).and_then(|()| download(args)),
        Command::Embed(args) => {
            embeddings::runner::kernels::configure_cpu_threads(1);
            plain_logging(cli.log_format).and_then(|()| runtime()?.block_on(embed(args)))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Log lines only, for the commands that serve nothing.
fn plain_logging(format: LogFormat) -> anyhow::Result<()> {
    let settings = TelemetrySettings {
        format,
        log_spans: true,
        otlp: None,
    };
    Telemetry::install(&settings).map(drop)
}

fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let registry = Registry::load(&args.models.models_file)?;
    let specs = if args.names.is_empty() {
        registry.specs().to_vec()
    } else {
        args.names
            .iter()
            .map(|name| {
                registry.resolve(name).cloned().ok_or_else(|| {
                    anyhow::anyhow!(
                        "{name} is not in {} ({})",
                        args.models.models_file.display(),
                        registry.ids().join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let hub = HubSettings::from_env();
    for spec in specs {
        eprintln!("fetching {}", spec.id);
        // Reading the pipeline fetches every file it names; then the weights and tokenizer.
        let snapshot = Snapshot::new(&spec, &hub, Access::Download { progress: true });
        let fail = |e: anyhow::Error| anyhow::anyhow!("model {}: {e}", spec.id);
        ModelDescription::read(&snapshot).map_err(fail)?;
        let files = WeightFiles::fetch(&snapshot).map_err(fail)?;
        let folder = files
            .tokenizer
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!("{}\t{}", spec.id, folder);
    }
    Ok(())
}

async fn embed(args: EmbedArgs) -> anyhow::Result<()> {
    let registry = args.precision.registry(&args.models)?;
    let device = select_device(args.device)?;
    let engine = EngineConfig {
        workers: embeddings::runner::kernels::default_workers(&device),
        ..EngineConfig::default()
    };
    let store = ModelStore::new(
        registry,
        HubSettings::from_env(),
        device,
        engine,
        MemorySettings::default(),
    )?;
    let state = Arc::new(AppState::new(
        store,
        Limits {
            max_request_tokens: usize::MAX,
            ..Limits::default()
        },
    ));
    let mut body = serde_json::json!({
        "model": args.model,
        "input": args.texts,
        "encoding_format": args.encoding_format,
    });
    if let Some(dimensions) = args.dimensions {
        body["dimensions"] = dimensions.into();
    }
    let request = EmbeddingRequest::from_json(body).map_err(|e| anyhow::anyhow!(e.message))?;
    let response = create_embeddings(&state, request, embeddings::http::openai::Sparse::Answered)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}
