//! Starting and stopping the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::auth::ApiKeys;
use crate::config::{preload_selection, ServeArgs};
use crate::hub::HubSettings;
use crate::model_store::ModelStore;
use crate::registry::ModelSpec;
use crate::runner::select_device;

/// Runs `embeddings serve` until SIGINT/SIGTERM, or until a model loaded at start fails.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let registry = args.precision.registry(&args.models)?;
    let preload = preload_selection(&args.preload, &registry)?;
    let device = select_device(args.device)?;
    let hub = HubSettings::from_env();
    tracing::info!(cache = %hub.cache_dir.display(), offline = hub.offline, token = hub.has_token(), "hugging face hub settings");
    let engine = args.tuning.engine(&device);
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
    let loopback = args
        .host
        .parse::<std::net::IpAddr>()
        .map_or(args.host == "localhost", |ip| ip.is_loopback());
    if !keys.enabled() && !loopback {
        tracing::warn!(
            host = %args.host,
            "listening beyond loopback with no API key: anyone who can reach this port can use it (set --api-key or --api-key-file)"
        );
    }
    tracing::info!(api_keys = keys.enabled(), "access");
    let mut state = AppState::new(store, args.tuning.limits(&args.protection))
        .with_keys(keys)
        .with_cache_bytes(args.tuning.cache_bytes);
    state.metrics_public = args.access.metrics_public;
    state.cors_origins = args.access.cors_allow_origin.clone();
    let state = Arc::new(state);
    #[cfg(unix)]
    tokio::spawn(reload_keys_on_hangup(Arc::clone(&state)));

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let address: SocketAddr = listener.local_addr()?;
    tracing::info!(%address, "listening");

    let loading = tokio::spawn(preload_models(Arc::clone(&state), preload));
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
    let stop = async move {
        shutdown_signal().await;
        draining.start_draining();
    };
    let server = crate::connections::serve(listener, router(state), args.protection.connections(), stop);
    tokio::select! {
        served = server => served.map_err(Into::into),
        error = load_failure => Err(error),
    }
}

/// Loads the start-up models, then marks the server ready. The server keeps running after a
/// successful load: the caller only wakes up on failure.
pub async fn preload_models(state: Arc<AppState>, models: Vec<ModelSpec>) -> anyhow::Result<()> {
    for spec in &models {
        state.store.get(spec, None).await?;
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
