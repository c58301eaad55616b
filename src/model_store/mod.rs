//! The store of models the allow-list names: each set of weights is loaded at most once at a
//! time (even when several requests or entries of the models file ask for it at the same
//! moment), shared by every request while resident, and unloaded when its keep-alive runs out
//! or another model needs its room within `--max-loaded-bytes` ([`residency`]).

mod error;
mod keep_alive;
mod loaded;
pub mod memory_guard;
mod residency;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use candle_core::Device;

use crate::engine::EngineConfig;
use crate::hub::{Access, HubSettings, Snapshot};
use crate::model_files::{EntryServing, ModelDescription, WeightFiles};
use crate::model_store::memory_guard::WeightsSize;
use crate::registry::{ModelSpec, Registry};
use crate::runner;
pub use error::LoadError;
pub use keep_alive::KeepAlive;
use loaded::FetchedModel;
pub use loaded::LoadedModel;
pub use residency::{LargerThanBudget, ResidentState, UnloadReason};
use residency::{Lease, Residency};

/// A request's hold on its model: the model stays loaded while this lives.
pub type ModelLease = Lease<LoadedModel>;

/// What an entry of the models file serves, known from the files before the weights load.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub description: ModelDescription,
    pub serving: EntryServing,
}

/// How many models stay in memory, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySettings {
    /// Most bytes of weights loaded at once; `None`: no limit.
    pub max_loaded_bytes: Option<u64>,
    /// How long a model stays loaded after its last request unless the request says otherwise.
    pub keep_alive: KeepAlive,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            max_loaded_bytes: None,
            keep_alive: KeepAlive::Forever,
        }
    }
}

pub struct ModelStore {
    registry: Registry,
    hub: HubSettings,
    device: Device,
    engine_config: EngineConfig,
    /// Per set of weights: held while it loads, so concurrent requests share one load.
    loading: HashMap<String, tokio::sync::Mutex<()>>,
    residency: Arc<Residency<LoadedModel>>,
    /// Per entry id, from the start-up check or the entry's first load; kept across unloads.
    described: RwLock<HashMap<String, EntryInfo>>,
    /// Per set of weights, their size in the running format once their files have been read.
    sizes: RwLock<HashMap<String, u64>>,
    /// Per entry id, why its last load failed; cleared when a load succeeds.
    failures: RwLock<HashMap<String, LoadError>>,
}

impl ModelStore {
    /// Checks every entry whose files are already on disk (architecture, modules, options, size
    /// against the budget), so that a listed model that can never load stops the start instead
    /// of failing a request. Reads small files and the weights' headers only; blocking.
    pub fn new(
        registry: Registry,
        hub: HubSettings,
        device: Device,
        engine_config: EngineConfig,
        memory: MemorySettings,
    ) -> anyhow::Result<Self> {
        for spec in registry.specs() {
            if let Some(reason) = spec.precision().unsupported_on(&device) {
                anyhow::bail!("model {}: {reason}", spec.id);
            }
        }
        let mut described = HashMap::new();
        let mut sizes = HashMap::new();
        for spec in registry.specs() {
            crate::metrics::model_listed(&spec.id);
            let snapshot = Snapshot::new(spec, &hub, Access::CacheOnly);
            if !snapshot.is_local() {
                tracing::info!(model = %spec.id, "not in the cache yet: checked when first loaded");
                continue;
            }
            let fail = |e: String| anyhow::anyhow!("model {}: {e}", spec.id);
            let description = ModelDescription::read(&snapshot).map_err(|e| fail(e.to_string()))?;
            let serving = description.serving(&spec.options).map_err(|e| fail(e.to_string()))?;
            described.insert(spec.id.clone(), EntryInfo { description, serving });
            // Entries sharing weights (a model's query / document lines) share one measurement.
            if sizes.contains_key(&spec.weights_key()) {
                continue;
            }
            let measured = WeightFiles::fetch(&snapshot).map(|files| WeightsSize::of(&files.weights));
            if let Ok(Ok(size)) = measured {
                let bytes = size.in_format(spec.precision());
                if let Some(budget) = memory.max_loaded_bytes.filter(|&budget| bytes > budget) {
                    return Err(fail(LargerThanBudget { needed: bytes, budget }.to_string()));
                }
                sizes.insert(spec.weights_key(), bytes);
            }
        }
        let loading = registry
            .specs()
            .iter()
            .map(|s| (s.weights_key(), tokio::sync::Mutex::new(())))
            .collect();
        let residency = Residency::new(memory.max_loaded_bytes, memory.keep_alive, unload_observer(&registry));
        Ok(Self {
            registry,
            hub,
            device,
            engine_config,
            loading,
            residency,
            described: RwLock::new(described),
            sizes: RwLock::new(sizes),
            failures: RwLock::default(),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The kernels `precision` runs on this store's device ([`runner::kernels`]).
    pub fn kernels(&self, precision: runner::Precision) -> String {
        runner::kernels::describe(&self.device, precision)
    }

    pub fn engine_config(&self) -> EngineConfig {
        self.engine_config
    }

    /// The budget and the default keep-alive.
    pub fn memory(&self) -> MemorySettings {
        MemorySettings {
            max_loaded_bytes: self.residency.budget(),
            keep_alive: self.residency.default_keep_alive(),
        }
    }

    /// Bytes of weights loaded now (and being loaded).
    pub fn loaded_bytes(&self) -> u64 {
        self.residency.used_bytes()
    }

    /// The entry's weights files (one, or each shard), when they are on disk.
    pub fn weights_files(&self, spec: &ModelSpec) -> Option<Vec<std::path::PathBuf>> {
        WeightFiles::fetch(&Snapshot::new(spec, &self.hub, Access::CacheOnly))
            .ok()
            .map(|files| files.weights)
    }

    /// The model behind `spec` and its state if it is loaded now; takes no lease.
    pub fn loaded(&self, spec: &ModelSpec) -> Option<(Arc<LoadedModel>, ResidentState)> {
        self.residency.peek(&spec.weights_key())
    }

    /// The entry's weights' size in memory, once its files have been read.
    pub fn size(&self, spec: &ModelSpec) -> Option<u64> {
        read(&self.sizes).get(&spec.weights_key()).copied()
    }

    /// What `spec` serves, from the start-up check or a load; `None` while neither has read its
    /// files.
    pub fn info(&self, spec: &ModelSpec) -> Option<EntryInfo> {
        read(&self.described).get(&spec.id).cloned()
    }

    /// Why `spec`'s last load failed, unless a load has succeeded since.
    pub fn failure(&self, spec: &ModelSpec) -> Option<LoadError> {
        read(&self.failures).get(&spec.id).cloned()
    }

    /// The loaded model and how `spec` serves it, loading it now if it is not resident.
    /// Concurrent callers share one load; a failed load leaves nothing behind so a later call
    /// can try again. `keep_alive` (else `--keep-alive`) starts when the lease ends.
    pub async fn get(
        &self,
        spec: &ModelSpec,
        keep_alive: Option<KeepAlive>,
    ) -> Result<(ModelLease, EntryServing), LoadError> {
        let key = spec.weights_key();
        let one_load = self
            .loading
            .get(&key)
            .ok_or_else(|| LoadError::Files(format!("{} is not in the models file", spec.id)))?;
        let model = match self.residency.lease(&key, keep_alive) {
            Some(lease) => lease,
            None => {
                let _loading = one_load.lock().await;
                match self.residency.lease(&key, keep_alive) {
                    Some(lease) => lease,
                    None => {
                        let loaded = self.load(spec, &key, keep_alive).await;
                        self.record_outcome(&key, loaded.as_ref().err());
                        loaded?
                    }
                }
            }
        };
        let serving = model
            .description
            .serving(&spec.options)
            .map_err(|e| LoadError::Files(e.to_string()))?;
        Ok((model, serving))
    }

    /// Fetches and measures, makes room within the budget, then loads.
    async fn load(&self, spec: &ModelSpec, key: &str, keep_alive: Option<KeepAlive>) -> Result<ModelLease, LoadError> {
        let started = Instant::now();
        let (fetching, hub) = (spec.clone(), self.hub.clone());
        let fetched = tokio::task::spawn_blocking(move || FetchedModel::fetch(&fetching, &hub, false))
            .await
            .map_err(panicked)??;
        let bytes = fetched.bytes();
        self.remember(key, &fetched.description, bytes);
        let reservation = self
            .residency
            .reserve(bytes)
            .await
            .map_err(|e| LoadError::OverBudget(e.to_string()))?;
        let (device, engine_config) = (self.device.clone(), self.engine_config);
        let loaded = tokio::task::spawn_blocking(move || fetched.load(&device, engine_config))
            .await
            .map_err(panicked)??;
        // Every entry of these weights is ready now, not only the one that asked.
        for entry in self.entries_of(key) {
            crate::metrics::model_loaded(&entry.id, started.elapsed());
        }
        crate::metrics::loaded_model_bytes(bytes as f64);
        Ok(reservation.install(key, loaded, keep_alive))
    }

    /// Keeps what the files say for every entry of these weights, for after an unload.
    fn remember(&self, key: &str, description: &ModelDescription, bytes: u64) {
        write(&self.sizes).insert(key.to_owned(), bytes);
        let mut described = write(&self.described);
        for entry in self.entries_of(key) {
            if let Ok(serving) = description.serving(&entry.options) {
                let info = EntryInfo {
                    description: description.clone(),
                    serving,
                };
                described.insert(entry.id.clone(), info);
            }
        }
    }

    /// Keeps (or clears) why the load of these weights failed, for every entry serving them.
    fn record_outcome(&self, key: &str, failure: Option<&LoadError>) {
        let mut failures = write(&self.failures);
        for entry in self.entries_of(key) {
            match failure {
                Some(error) => {
                    tracing::error!(model = %entry.id, %error, transient = error.is_transient(), "model not loaded");
                    failures.insert(entry.id.clone(), error.clone())
                }
                None => failures.remove(&entry.id),
            };
        }
    }

    fn entries_of<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a ModelSpec> + 'a {
        self.registry.specs().iter().filter(move |s| s.weights_key() == key)
    }
}

/// A load that panicked: a fault in what it read (the loaders check what they read, so this
/// is a bug to report with the files).
fn panicked(error: tokio::task::JoinError) -> LoadError {
    LoadError::Files(format!("loading panicked: {error}"))
}

/// Logs an unload and updates the metrics of every entry sharing the weights.
fn unload_observer(registry: &Registry) -> impl Fn(&str, u64, UnloadReason) + Send + Sync + 'static {
    let mut entries: HashMap<String, Vec<String>> = HashMap::new();
    for spec in registry.specs() {
        entries.entry(spec.weights_key()).or_default().push(spec.id.clone());
    }
    move |key, bytes, reason| {
        tracing::info!(model = %key, bytes, reason = reason.label(), "model unloaded");
        crate::metrics::loaded_model_bytes(-(bytes as f64));
        for id in entries.get(key).into_iter().flatten() {
            crate::metrics::model_unloaded(id, reason.label());
        }
    }
}

// The maps are only ever replaced entry by entry, so a panic elsewhere leaves them consistent.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}
