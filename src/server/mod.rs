//! Starting and stopping the server: the listeners (HTTP and gRPC on `--port`, and on
//! `--uds-path`; gRPC alone on `--grpc-port`; metrics alone on `--prometheus-port`), the
//! start-up models, and one shutdown for all of them.

pub mod connections;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::ApiKeys;
use crate::config::{preload_selection, ServeArgs};
use crate::http::router;
use crate::hub::HubSettings;
use crate::model_files::ModelKind;
use crate::model_store::ModelStore;
use crate::registry::ModelSpec;
use crate::runner::select_device;
use crate::service::AppState;

/// Runs `embeddings serve` until SIGINT/SIGTERM, or until a model loaded at start fails.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    for line in args
        .tei
        .ignored()
        .into_iter()
        .chain(args.precision.dtype.substitution())
    {
        tracing::warn!("{line}");
    }
    let registry = args.registry()?;
    let preload = preload_selection(&args.preload, &registry)?;
    let device = select_device(args.device)?;
    let mut hub = HubSettings::from_env().with_token(args.tei.hf_token.as_deref());
    if let Some(cache) = &args.tei.huggingface_hub_cache {
        hub.cache_dir = cache.clone();
    }
    tracing::info!(cache = %hub.cache_dir.display(), offline = hub.offline, token = hub.has_token(), "hugging face hub settings");
    let engine = args.engine(&device);
    tracing::info!(
        device = crate::runner::device::describe(&device),
        cpu_backend = crate::runner::kernels::cpu_backend(),
        workers = engine.workers,
        threads_per_worker = engine.threads_per_worker,
        max_batch_tokens = engine.max_batch_tokens,
        "engine settings"
    );
    let precisions: std::collections::BTreeSet<_> = registry.specs().iter().map(|s| s.precision()).collect();
    for precision in precisions {
        tracing::info!(dtype = precision.name(), kernels = %crate::runner::kernels::describe(&device, precision), "kernels");
    }
    let memory = args.memory.settings();
    tracing::info!(
        max_loaded_bytes = memory.max_loaded_bytes,
        keep_alive = %memory.keep_alive.describe(),
        "model memory"
    );
    let store = ModelStore::new(registry, hub, device, engine, memory)?;
    let keys = ApiKeys::new(&args.access.api_key, args.access.api_key_file.clone())?;
    let (host, port) = args.address();
    let loopback = host
        .parse::<std::net::IpAddr>()
        .map_or(host == "localhost", |ip| ip.is_loopback());
    if !keys.enabled() && !loopback {
        tracing::warn!(
            host = %host,
            "listening beyond loopback with no API key: anyone who can reach this port can use it (set --api-key or --api-key-file)"
        );
    }
    tracing::info!(api_keys = keys.enabled(), "access");
    let mut state = AppState::new(store, args.limits())
        .with_keys(keys)
        .with_cache_bytes(args.tuning.cache_bytes);
    state.metrics_public = args.access.metrics_public;
    state.tei_drop_in = args.tei.drop_in();
    state.cors_origins = args.access.cors_allow_origin.clone();
    let state = Arc::new(state);
    #[cfg(unix)]
    tokio::spawn(reload_keys_on_hangup(Arc::clone(&state)));

    let listener = bind(&host, port, "HTTP and gRPC").await?;
    let grpc = crate::grpc::router(Arc::clone(&state))?;
    let app = crate::grpc::beside(router(Arc::clone(&state)), grpc.clone());
    let (stop, stopped) = watch::channel(false);
    let connections = args.protection.connections();
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(crate::server::connections::serve(
        listener,
        app.clone(),
        connections,
        until(&stopped),
    ));
    if let Some(port) = args.tei.grpc_port {
        let listener = bind(&host, port, "gRPC").await?;
        servers.spawn(crate::server::connections::serve(
            listener,
            grpc,
            connections,
            until(&stopped),
        ));
    }
    if let Some(port) = args.prometheus_port() {
        let listener = bind(&host, port, "metrics").await?;
        servers.spawn(crate::server::connections::serve(
            listener,
            metrics_only(),
            connections,
            until(&stopped),
        ));
    }
    #[cfg(unix)]
    if let Some(path) = &args.tei.uds_path {
        let listener = bind_socket(path)?;
        servers.spawn(crate::server::connections::serve(
            listener,
            app,
            connections,
            until(&stopped),
        ));
    }

    let loading = tokio::spawn(preload_models(Arc::clone(&state), preload, args.tei.wants_splade()));
    // Resolves only if loading fails: a server that cannot serve its models should exit (and be
    // restarted by its supervisor) rather than stay up answering 503 forever.
    let load_failure = async {
        match loading.await {
            Ok(Ok(())) => std::future::pending().await,
            Ok(Err(e)) => e,
            Err(e) => anyhow::anyhow!("model loading stopped: {e}"),
        }
    };
    let draining = Arc::clone(&state);
    let shutdown = async move {
        shutdown_signal().await;
        draining.start_draining();
        let _ = stop.send(true);
        drain(servers).await
    };
    let outcome = tokio::select! {
        served = shutdown => served,
        error = load_failure => Err(error),
    };
    #[cfg(unix)]
    if let Some(path) = &args.tei.uds_path {
        let _ = std::fs::remove_file(path);
    }
    outcome
}

async fn bind(host: &str, port: u16, serves: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port} ({serves}): {e}"))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, serves, "listening");
    Ok(listener)
}

/// A Unix socket at `path`, replacing a stale one left by an earlier run.
#[cfg(unix)]
fn bind_socket(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", path.display()))?;
    tracing::info!(socket = %path.display(), serves = "HTTP and gRPC", "listening");
    Ok(listener)
}

/// GET /metrics alone, for `--prometheus-port` (open: a port of its own is how TEI serves it).
fn metrics_only() -> Router {
    Router::new().route("/metrics", axum::routing::get(crate::http::metrics))
}

/// Resolves once shutdown starts.
fn until(stopped: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stopped = stopped.clone();
    async move {
        let _ = stopped.wait_for(|&stop| stop).await;
    }
}

/// Waits for every listener to drain (each within the shutdown timeout).
async fn drain(mut servers: tokio::task::JoinSet<std::io::Result<()>>) -> anyhow::Result<()> {
    while let Some(served) = servers.join_next().await {
        served??;
    }
    Ok(())
}

/// Loads the start-up models, then marks the server ready. The server keeps running after a
/// successful load: the caller only wakes up on failure. `splade`: TEI's `--pooling splade`,
/// which only a SPLADE model can honour.
pub async fn preload_models(state: Arc<AppState>, models: Vec<ModelSpec>, splade: bool) -> anyhow::Result<()> {
    for spec in &models {
        state
            .store
            .get(spec, None)
            .await
            .map_err(|error| anyhow::anyhow!("model {}: {error}", spec.id))?;
        let kind = state.store.info(spec).map(|info| info.description.kind());
        if splade && kind != Some(ModelKind::Sparse) {
            anyhow::bail!(
                "--pooling splade: {} is not a SPLADE model (its files make it {})",
                spec.public_name(),
                kind.map_or("unknown", |k| k.name())
            );
        }
    }
    state.set_ready();
    tracing::info!(models = models.len(), "ready");
    Ok(())
}

/// Reads the API key file again on every SIGHUP; connections and requests carry on.
#[cfg(unix)]
async fn reload_keys_on_hangup(state: Arc<AppState>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match state.keys.reload() {
            Ok(count) => tracing::info!(keys = count, "API keys reloaded"),
            Err(error) => tracing::error!(%error, "API keys not reloaded; the previous keys stay in force"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
