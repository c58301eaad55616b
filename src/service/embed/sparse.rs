//! The sparse embeddings operation (SPLADE), shared by TEI's `/embed_sparse` and the OpenAI
//! route: the embedding path up to the engine, then each vector's nonzero entries, the largest
//! `max_active_dims` kept. Never densified: a vector is its indices and values. An
//! inference-free model's looked-up route (`input_type` picks it) skips the engine.

use super::{check_request_tokens, pipeline_vectors, EmbedRequest};
use crate::model_files::ModelKind;
use crate::runner::head::sparse::SparseVector;
use crate::runner::Pooling;
use crate::service::error::{excerpt, ApiError};
use crate::service::input::Input;
use crate::service::models::require_kind;
use crate::service::models::{resolve, Resolved};
use crate::service::record::note;
use crate::service::AppState;

/// The sparse vectors, in input order, and the tokens the model saw.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseEmbedded {
    pub vectors: Vec<SparseVector>,
    pub prompt_tokens: usize,
    /// The vocabulary size every index is below.
    pub dimension: usize,
}

pub async fn embed_sparse(state: &AppState, request: EmbedRequest) -> Result<SparseEmbedded, ApiError> {
    let resolved = resolve(state, &request.model, request.options.keep_alive).await?;
    embed_sparse_resolved(state, &resolved, request).await
}

/// Which route a request takes through the model.
enum Route {
    Model,
    Lookup,
}

pub async fn embed_sparse_resolved(
    state: &AppState,
    resolved: &Resolved<'_>,
    mut request: EmbedRequest,
) -> Result<SparseEmbedded, ApiError> {
    let route = tracing::debug_span!("validate").in_scope(|| {
        require_kind(resolved, &[ModelKind::Sparse], "sparse embedding")?;
        if request.options.dimensions.is_some() {
            return Err(ApiError::invalid(
                "`dimensions` does not apply to sparse vectors; `max_active_dims` keeps the largest values.",
                "dimensions",
            ));
        }
        pick_route(resolved, &mut request)
    })?;
    let description = &resolved.model.description;
    let keep = request
        .options
        .max_active_dims
        .or(description.sparse.as_ref().and_then(|s| s.max_active_dims));
    let (vectors, prompt_tokens) = match route {
        Route::Model => {
            // A sparse model pools as its head says; the engine's pooling only names the cache entry.
            let pooling = Pooling::new(resolved.serving.pooling);
            let (flat, prompt_tokens) = pipeline_vectors(state, resolved, request, pooling).await?;
            let vectors = flat.iter().map(|flat| SparseVector::from_flat(flat)).collect();
            (vectors, prompt_tokens)
        }
        Route::Lookup => looked_up(state, resolved, request).await?,
    };
    let vectors = tracing::debug_span!("encode").in_scope(|| {
        vectors
            .into_iter()
            .map(|vector: SparseVector| match keep {
                Some(k) => vector.keep_largest(k),
                None => vector,
            })
            .collect()
    });
    Ok(SparseEmbedded {
        vectors,
        prompt_tokens,
        dimension: description.dimension(),
    })
}

/// `input_type` (else a `prompt_name` that names a route, else the Router's default) picks an
/// inference-free model's route; like `encode_query`, it also picks the prompt of its name
/// when the request names none.
fn pick_route(resolved: &Resolved<'_>, request: &mut EmbedRequest) -> Result<Route, ApiError> {
    let description = &resolved.model.description;
    let options = &mut request.options;
    let task = options.input_type.clone();
    if let Some(task) = &task {
        if options.prompt_name.is_none() && description.prompts.contains_key(task) {
            options.prompt_name = Some(task.clone());
        }
    }
    let Some(layout) = description.sparse.as_ref().and_then(|s| s.router.as_ref()) else {
        return match task.as_deref() {
            None | Some("query" | "document") => Ok(Route::Model),
            Some(other) => Err(ApiError::invalid(
                format!(
                    "`input_type` must be \"query\" or \"document\", not {}.",
                    excerpt(other)
                ),
                "input_type",
            )),
        };
    };
    let routes = layout.routes();
    let chosen = task
        .or_else(|| {
            options
                .prompt_name
                .clone()
                .filter(|name| routes.contains(&name.as_str()))
        })
        .unwrap_or_else(|| layout.default_route.clone());
    if !routes.contains(&chosen.as_str()) {
        return Err(ApiError::invalid(
            format!(
                "{} routes {}; `input_type` {} is neither.",
                resolved.spec.public_name(),
                routes
                    .iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                excerpt(&chosen)
            ),
            "input_type",
        ));
    }
    Ok(match &layout.static_route {
        Some(lookup) if lookup.route == chosen => Route::Lookup,
        _ => Route::Model,
    })
}

/// The looked-up route: each text's tokens (no special tokens) weighed by the table, no
/// forward pass.
async fn looked_up(
    state: &AppState,
    resolved: &Resolved<'_>,
    request: EmbedRequest,
) -> Result<(Vec<SparseVector>, usize), ApiError> {
    let texts = match request.input {
        Input::Texts(texts) => texts,
        Input::Tokens(_) | Input::Mixed(_) => {
            return Err(ApiError::invalid(
                "This route looks texts up in its own vocabulary; send text, not token ids.",
                "input",
            ))
        }
    };
    let prompt = resolved.prompt(request.options.prompt_name.as_deref())?;
    check_request_tokens(state, texts.len())?;
    let model = resolved.model.shared();
    let encoded = tokio::task::spawn_blocking(move || model.encode_static(&texts, prompt.as_deref()))
        .await
        .map_err(|_| ApiError::server("tokenization was interrupted"))?
        .ok_or_else(|| ApiError::server("the model has no looked-up route"))?
        .map_err(|e| ApiError::invalid(e.to_string(), "input"))?;
    let tokens: usize = encoded.iter().map(|(_, count)| count).sum();
    check_request_tokens(state, tokens)?;
    note(|record| {
        record.inputs = encoded.len();
        record.tokens = tokens;
    });
    Ok((encoded.into_iter().map(|(vector, _)| vector).collect(), tokens))
}
