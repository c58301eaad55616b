//! The sparse embeddings operation (SPLADE), shared by TEI's `/embed_sparse` and the OpenAI
//! route: the embedding path up to the engine, then each vector's nonzero entries, the largest
//! `max_active_dims` kept. Never densified: a vector is its indices and values.

use super::{pipeline_vectors, resolve, EmbedRequest, Resolved};
use crate::api::error::ApiError;
use crate::api::score::require_kind;
use crate::api::AppState;
use crate::model_files::ModelKind;
use crate::runner::sparse::SparseVector;

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

pub async fn embed_sparse_resolved(
    state: &AppState,
    resolved: &Resolved<'_>,
    request: EmbedRequest,
) -> Result<SparseEmbedded, ApiError> {
    tracing::debug_span!("validate").in_scope(|| {
        require_kind(resolved, &[ModelKind::Sparse], "sparse embedding")?;
        if request.options.dimensions.is_some() {
            return Err(ApiError::invalid(
                "`dimensions` does not apply to sparse vectors; `max_active_dims` keeps the largest values.",
                "dimensions",
            ));
        }
        Ok(())
    })?;
    let description = &resolved.model.description;
    let keep = request
        .options
        .max_active_dims
        .or(description.sparse.as_ref().and_then(|s| s.max_active_dims));
    let (flat, prompt_tokens) = pipeline_vectors(state, resolved, request).await?;
    let vectors = tracing::debug_span!("encode").in_scope(|| {
        flat.iter()
            .map(|flat| {
                let vector = SparseVector::from_flat(flat);
                match keep {
                    Some(k) => vector.keep_largest(k),
                    None => vector,
                }
            })
            .collect()
    });
    Ok(SparseEmbedded {
        vectors,
        prompt_tokens,
        dimension: description.dimension(),
    })
}
