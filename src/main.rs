use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use embeddings::api::openai::types::EmbeddingRequest;
use embeddings::api::{create_embeddings, AppState, Limits};
use embeddings::config::{Cli, Command, DownloadArgs, EmbedArgs, LogFormat};
use embeddings::engine::EngineConfig;
use embeddings::hub::{Access, HubSettings, Snapshot};
use embeddings::model_files::{ModelDescription, WeightFiles};
use embeddings::model_store::{MemorySettings, ModelStore};
use embeddings::registry::Registry;
use embeddings::runner::select_device;

fn main() -> ExitCode {
    embeddings::config::tei::adopt_environment();
    let cli = Cli::parse();
    let (json, spans) = match &cli.command {
        Command::Serve(args) => (args.tei.json_output, !args.tei.disable_spans),
        _ => (false, true),
    };
    let format = if json { LogFormat::Json } else { cli.log_format };
    init_logging(format, spans);
    let outcome = match cli.command {
        Command::Serve(args) => {
            embeddings::runner::kernels::configure_cpu_threads(args.tuning.threads_per_worker());
            runtime().and_then(|rt| rt.block_on(embeddings::server::serve(*args)))
        }
        Command::Download(args) => download(args),
        Command::Embed(args) => {
            embeddings::runner::kernels::configure_cpu_threads(1);
            runtime().and_then(|rt| rt.block_on(embed(args)))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging(format: LogFormat, spans: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: container and journal logs get plain text.
    // Spans (a request's validate, tokenize, queue, forward and encode stages, at debug level)
    // are logged when they close, with their durations.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(if spans {
            tracing_subscriber::fmt::format::FmtSpan::CLOSE
        } else {
            tracing_subscriber::fmt::format::FmtSpan::NONE
        })
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
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
    let response = create_embeddings(&state, request)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    println!("{}", serde_json::to_string(&response)?);
    Ok(())
}
