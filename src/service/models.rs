//! The model a request names: found in the allow-list, loaded (or leased while loaded), and
//! checked to be of the kind its operation needs. Every operation starts here.

use super::error::{excerpt, ApiError, ErrorKind};
use super::record::note;
use super::AppState;
use crate::model_files::{EntryServing, ModelKind};
use crate::model_store::{KeepAlive, ModelLease};
use crate::registry::ModelSpec;

/// The allow-listed entry a request names, and its model loaded (and kept loaded while this
/// lives).
pub struct Resolved<'a> {
    pub spec: &'a ModelSpec,
    pub model: ModelLease,
    pub serving: EntryServing,
}

/// Finds and (if needed) loads the model a client names; `keep_alive` applies once the request
/// is answered (`None`: the server's default).
pub async fn resolve<'a>(
    state: &'a AppState,
    name: &str,
    keep_alive: Option<KeepAlive>,
) -> Result<Resolved<'a>, ApiError> {
    let registry = state.store.registry();
    let Some(spec) = registry.resolve(name) else {
        note(|record| record.requested = Some(excerpt(name)));
        return Err(ApiError::model_not_found(name, &registry.public_names()));
    };
    // Noted before the load, so that a request whose model fails to load is logged with it.
    note(|record| record.model = Some(spec.id.clone()));
    let (model, serving) = state
        .store
        .get(spec, keep_alive)
        .await
        .map_err(|error| ApiError::model_load(spec.public_name(), &error))?;
    Ok(Resolved { spec, model, serving })
}

impl Resolved<'_> {
    /// The prompt a request gets: the one it names, else the entry's default.
    pub fn prompt(&self, prompt_name: Option<&str>) -> Result<Option<String>, ApiError> {
        match prompt_name {
            Some(name) => self
                .model
                .description
                .prompt(name)
                .map(|p| Some(p.to_owned()))
                .map_err(|e| ApiError::invalid(format!("{}: {e}.", self.spec.public_name()), "prompt_name")),
            None => Ok(self.serving.default_prompt.clone()),
        }
    }
}

/// A 400 naming the model's kind when a route needs another.
pub fn require_kind(resolved: &Resolved<'_>, kinds: &[ModelKind], operation: &str) -> Result<(), ApiError> {
    let kind = resolved.model.description.kind();
    if kinds.contains(&kind) {
        return Ok(());
    }
    let wanted: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    Err(ApiError::invalid(
        format!(
            "{} is {} {} model; {operation} needs {}.",
            resolved.spec.public_name(),
            article(kind.name()),
            kind.name(),
            wanted
                .iter()
                .map(|k| format!("{} {k}", article(k)))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        "model",
    )
    .with_code("wrong_model_kind")
    .with_kind(ErrorKind::WrongModelKind))
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
