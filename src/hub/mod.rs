//! Finding a model's files: a local directory, the Hugging Face cache, or a hub download.
//!
//! The environment follows the `huggingface_hub` Python client so that caches and tokens are
//! shared with it: `HF_HUB_CACHE` / `HF_HOME`, `HF_ENDPOINT`, `HF_HUB_OFFLINE` and the token
//! variables below. Files already in the cache are used without any network call.

mod progress;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Repo, RepoType};

use crate::registry::{ModelSource, ModelSpec};
use progress::DownloadProgress;

/// Token variables in the order they are consulted (the first non-empty one wins).
pub const TOKEN_VARS: [&str; 5] = [
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    "HUGGINGFACE_API_KEY",
];

/// How to reach the hub. The token is kept out of `Debug` so it can never reach a log line.
#[derive(Clone)]
pub struct HubSettings {
    pub cache_dir: PathBuf,
    pub endpoint: String,
    pub offline: bool,
    token: Option<String>,
}

impl fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSettings")
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl HubSettings {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the settings from any variable source (the process environment in production).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let hf_home = non_empty("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache_root = non_empty("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            cache_root.join("huggingface")
        });
        let cache_dir = non_empty("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token = TOKEN_VARS.iter().find_map(|name| non_empty(name)).or_else(|| {
            std::fs::read_to_string(hf_home.join("token"))
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        });
        let offline = non_empty("HF_HUB_OFFLINE")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        let endpoint = non_empty("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "https://huggingface.co".to_owned());
        Self {
            cache_dir,
            endpoint,
            offline,
            token,
        }
    }

    /// These settings with `--hf-token`'s token (over the environment's).
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        if let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) {
            self.token = Some(token.to_owned());
        }
        self
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }
}

/// How a [`Snapshot`] may reach the files it does not have on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only what is already in the cache (or the local directory); never the network.
    CacheOnly,
    /// Download what is missing, unless `HF_HUB_OFFLINE` is set.
    Download { progress: bool },
}

/// A file of a model that could not be had. The message names the file and the fault, not the
/// model (the caller names it once).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HubError {
    pub model: String,
    pub message: String,
    /// Whether trying again may succeed (the hub was unreachable or failed, a download was cut
    /// short), as opposed to a file that is absent, refused or not allowed to be fetched.
    pub transient: bool,
}

/// One model's files, by their path inside the repository or directory (`config.json`,
/// `1_Pooling/config.json`, ...), fetched on demand.
pub struct Snapshot<'a> {
    spec: &'a ModelSpec,
    settings: &'a HubSettings,
    access: Access,
    /// Files are looked up under this folder of the repository ("": its root).
    folder: String,
}

impl<'a> Snapshot<'a> {
    pub fn new(spec: &'a ModelSpec, settings: &'a HubSettings, access: Access) -> Self {
        Self {
            spec,
            settings,
            access,
            folder: String::new(),
        }
    }

    /// The same repository seen from `folder` (a module's folder, as a `Router` keeps its
    /// Transformer in one): its files are that folder's.
    pub fn within(&self, folder: &str) -> Snapshot<'a> {
        Snapshot {
            folder: self.path(folder.trim_end_matches('/')),
            ..Snapshot::new(self.spec, self.settings, self.access)
        }
    }

    fn path(&self, file: &str) -> String {
        match (self.folder.is_empty(), file.is_empty()) {
            (true, _) => file.to_owned(),
            (false, true) => self.folder.clone(),
            (false, false) => format!("{}/{file}", self.folder),
        }
    }

    pub fn model(&self) -> &str {
        &self.spec.id
    }

    fn fail(&self, fault: Fault) -> HubError {
        HubError {
            model: self.spec.id.clone(),
            message: fault.message,
            transient: fault.transient,
        }
    }

    /// A file the model cannot do without. Blocking (it may download).
    pub fn required(&self, file: &str) -> Result<PathBuf, HubError> {
        let file = &self.path(file);
        match &self.spec.source {
            ModelSource::Local { path } => local_required(path, file).map_err(|m| self.fail(m)),
            ModelSource::Hub { repo_id, revision } => {
                self.fetcher(repo_id, revision).required(file).map_err(|m| self.fail(m))
            }
        }
    }

    /// A file the model may or may not have; `None` when it has none (or, cache-only, when the
    /// cache has none). Blocking (it may download).
    pub fn optional(&self, file: &str) -> Result<Option<PathBuf>, HubError> {
        let file = &self.path(file);
        match &self.spec.source {
            ModelSource::Local { path } => Ok(Some(path.join(file)).filter(|p| p.is_file())),
            ModelSource::Hub { repo_id, revision } => {
                self.fetcher(repo_id, revision).optional(file).map_err(|m| self.fail(m))
            }
        }
    }

    /// Whether the files every model needs are on disk already.
    pub fn is_local(&self) -> bool {
        let cache_only = Snapshot::new(self.spec, self.settings, Access::CacheOnly);
        let has = |file: &str| cache_only.required(file).is_ok();
        // A Router keeps its modules' files in their folders; reading its pipeline finds them.
        has(ROUTER_CONFIG) || has(CONFIG) && has(TOKENIZER) && (has(WEIGHTS) || has(WEIGHTS_INDEX))
    }

    fn fetcher<'b>(&'b self, repo_id: &'b str, revision: &'b str) -> HubFetcher<'b> {
        HubFetcher {
            settings: self.settings,
            repo_id,
            revision,
            access: self.access,
        }
    }
}

pub const CONFIG: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
/// A sharded checkpoint's map from tensor names to shard files.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
pub const TOKENIZER: &str = "tokenizer.json";
/// sentence-transformers' `Router` module: its routes and the folders of their modules.
pub const ROUTER_CONFIG: &str = "router_config.json";

/// Why a file could not be had, and whether a retry may help.
struct Fault {
    message: String,
    transient: bool,
}

impl Fault {
    fn permanent(message: String) -> Self {
        Self {
            message,
            transient: false,
        }
    }

    fn transient(message: String) -> Self {
        Self {
            message,
            transient: true,
        }
    }
}

fn local_required(dir: &Path, name: &str) -> Result<PathBuf, Fault> {
    if !dir.is_dir() {
        return Err(Fault::permanent(format!(
            "local model directory {} does not exist",
            dir.display()
        )));
    }
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let bin = Path::new(name).with_file_name("pytorch_model.bin");
    if name.ends_with(WEIGHTS) && dir.join(&bin).is_file() {
        return Err(Fault::permanent(format!(
            "{} has only {}; convert it to {name}",
            dir.display(),
            bin.display()
        )));
    }
    Err(Fault::permanent(format!("{} is missing {name}", dir.display())))
}

struct HubFetcher<'a> {
    settings: &'a HubSettings,
    repo_id: &'a str,
    revision: &'a str,
    access: Access,
}

enum Miss {
    NotFound,
    Failed(Fault),
}

impl HubFetcher<'_> {
    fn required(&self, file: &str) -> Result<PathBuf, Fault> {
        match self.get(file) {
            Ok(path) => Ok(path),
            Err(Miss::NotFound) if file.ends_with(WEIGHTS) => Err(Fault::permanent(format!(
                "revision {} has no {file}; only safetensors weights are supported",
                self.revision
            ))),
            Err(Miss::NotFound) => Err(Fault::permanent(format!("revision {} has no {file}", self.revision))),
            Err(Miss::Failed(fault)) => Err(fault),
        }
    }

    fn optional(&self, file: &str) -> Result<Option<PathBuf>, Fault> {
        match self.get(file) {
            Ok(path) => Ok(Some(path)),
            Err(Miss::NotFound) => Ok(None),
            Err(Miss::Failed(fault)) => Err(fault),
        }
    }

    fn get(&self, file: &str) -> Result<PathBuf, Miss> {
        if let Some(path) = self.cached(file) {
            return Ok(path);
        }
        if self.access == Access::CacheOnly {
            return Err(Miss::NotFound);
        }
        if self.settings.offline {
            // A file the cache records as absent upstream is a plain miss even offline.
            if self.cached_absent(file) {
                return Err(Miss::NotFound);
            }
            return Err(Miss::Failed(Fault::permanent(format!(
                "{file} is not in the cache {} and HF_HUB_OFFLINE is set; run `embeddings download {}` on a connected machine first",
                self.settings.cache_dir.display(),
                self.repo_id
            ))));
        }
        self.download(file)
    }

    fn repo_dir(&self) -> PathBuf {
        self.settings
            .cache_dir
            .join(format!("models--{}", self.repo_id.replace('/', "--")))
    }

    /// The snapshot folder for the revision: a branch or tag resolves through refs/, and a full
    /// commit id names its folder directly.
    fn snapshot_dir(&self) -> Option<PathBuf> {
        let repo_dir = self.repo_dir();
        let commit = std::fs::read_to_string(repo_dir.join("refs").join(self.revision))
            .ok()
            .map(|c| c.trim().to_owned())
            .or_else(|| is_commit_hash(self.revision).then(|| self.revision.to_owned()))?;
        Some(repo_dir.join("snapshots").join(commit))
    }

    fn cached(&self, file: &str) -> Option<PathBuf> {
        let path = self.snapshot_dir()?.join(file);
        path.is_file().then_some(path)
    }

    fn cached_absent(&self, file: &str) -> bool {
        let Some(snapshot) = self.snapshot_dir() else {
            return false;
        };
        let Some(commit) = snapshot.file_name() else {
            return false;
        };
        self.repo_dir().join(".no_exist").join(commit).join(file).exists()
    }

    /// Downloads `file` with progress (a terminal line or a log line every few seconds); hf-hub
    /// writes to a `.part` file, resumes it on a dropped connection and renames it when done.
    /// A transfer that ended short of the announced size is removed, never left to pass for
    /// the whole file.
    fn download(&self, file: &str) -> Result<PathBuf, Miss> {
        let terminal = matches!(self.access, Access::Download { progress: true });
        let api = ApiBuilder::new()
            .with_cache_dir(self.settings.cache_dir.clone())
            .with_endpoint(self.settings.endpoint.clone())
            .with_token(self.settings.token.clone())
            .with_progress(false)
            .with_retries(3)
            .build()
            .map_err(|e| Miss::Failed(Fault::permanent(format!("cannot set up the hub client: {e}"))))?;
        let repo = Repo::with_revision(self.repo_id.to_owned(), RepoType::Model, self.revision.to_owned());
        let expected = Arc::new(AtomicUsize::new(0));
        let progress = DownloadProgress::new(self.repo_id, file, terminal, Arc::clone(&expected));
        let path = api
            .repo(repo)
            .download_with_progress(file, progress)
            .map_err(|e| self.explain(file, e))?;
        let expected = expected.load(Ordering::Relaxed) as u64;
        let got = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if expected > 0 && got != expected {
            // The pointer is a link to the blob: remove both, so the next try starts afresh.
            if let Ok(blob) = std::fs::canonicalize(&path) {
                let _ = std::fs::remove_file(blob);
            }
            let _ = std::fs::remove_file(&path);
            return Err(Miss::Failed(Fault::transient(format!(
                "downloading {file} (revision {}) stopped at {got} of {expected} bytes; the partial file was removed, try again",
                self.revision
            ))));
        }
        Ok(path)
    }

    fn explain(&self, file: &str, error: ApiError) -> Miss {
        let status = match &error {
            ApiError::RequestError(inner) => match inner.as_ref() {
                ureq::Error::Status(code, _) => Some(*code),
                ureq::Error::Transport(_) => None,
            },
            _ => None,
        };
        // The caller names the repository; these name the file, the revision and the fault.
        let revision = self.revision;
        Miss::Failed(match status {
            Some(404) => return Miss::NotFound,
            Some(401 | 403) if !self.settings.has_token() => Fault::permanent(String::from(
                "the repository is gated or private and no token is set; accept its terms on the hub and set HF_TOKEN",
            )),
            Some(401 | 403) => Fault::permanent(format!(
                "the hub refused the token (HTTP {}); check it has access to the repository",
                status.unwrap_or(0)
            )),
            // The hub's own failures and its rate limit pass; any other refusal stays.
            Some(code @ (408 | 429 | 500..=599)) => Fault::transient(format!(
                "downloading {file} (revision {revision}) failed with HTTP {code}"
            )),
            Some(code) => Fault::permanent(format!(
                "downloading {file} (revision {revision}) failed with HTTP {code}"
            )),
            None => Fault::transient(format!(
                "downloading {file} (revision {revision}) via {} failed: {error}",
                self.settings.endpoint
            )),
        })
    }
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
