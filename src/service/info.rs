//! What the server serves by default and its limits, as TEI's `/info` and its gRPC `Info` say it
//! (with our extensions: dimensions, prompts, the pipeline, the kernels).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::pipeline::{pooling_of, PipelineSummary};
use super::AppState;
use crate::model_files::ModelKind;
use crate::model_store::EntryInfo;

/// TEI's `/info`, for the model TEI routes serve by default.
#[derive(Serialize, ToSchema)]
pub struct TeiInfo {
    /// The model as started (`--model-id`), or its name in the models file.
    pub model_id: String,
    /// The name clients use for it (`--served-model-name`, else the id).
    pub served_model_name: String,
    pub model_sha: Option<String>,
    pub model_dtype: String,
    pub model_type: TeiModelType,
    pub max_concurrent_requests: usize,
    pub max_input_length: Option<usize>,
    pub max_batch_tokens: usize,
    pub max_batch_requests: Option<usize>,
    pub max_client_batch_size: usize,
    /// Over-long inputs are truncated unless a request says `truncate: false`.
    pub auto_truncate: bool,
    pub tokenization_workers: usize,
    pub version: String,
    pub sha: Option<String>,
    pub docker_label: Option<String>,
    /// Extension: the vector size.
    pub dimensions: Option<usize>,
    /// Extension: the model's prompts by name.
    pub prompts: Option<BTreeMap<String, String>>,
    /// Extension: the backbone and every module after it.
    pub pipeline: Option<PipelineSummary>,
    /// Extension: the kernels its number format runs on this machine.
    pub kernels: String,
}

/// One of `embedding`, `reranker` or `classifier`, as TEI says which kind of model it serves.
#[derive(Serialize, ToSchema)]
pub struct TeiModelType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<TeiPooling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reranker: Option<TeiLabels>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<TeiLabels>,
}

#[derive(Serialize, ToSchema)]
pub struct TeiLabels {
    pub id2label: BTreeMap<String, String>,
    pub label2id: BTreeMap<String, usize>,
}

impl TeiModelType {
    fn of(info: Option<&EntryInfo>) -> Self {
        let labels = |labels: &[String]| TeiLabels {
            id2label: labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
            label2id: labels.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect(),
        };
        let scoring = info.and_then(|i| i.description.scoring.as_ref());
        match (scoring, scoring.map(|s| s.kind())) {
            (Some(s), Some(ModelKind::Classifier)) => Self {
                embedding: None,
                reranker: None,
                classifier: Some(labels(&s.labels)),
            },
            (Some(s), _) => Self {
                embedding: None,
                reranker: Some(labels(&s.labels)),
                classifier: None,
            },
            (None, _) => Self {
                embedding: Some(TeiPooling {
                    // TEI serves SPLADE as an embedding model pooled by "splade", and names
                    // last-token pooling `last_token`.
                    pooling: info.map(|i| match pooling_of(i).as_str() {
                        "lasttoken" => "last_token".to_owned(),
                        other => other.to_owned(),
                    }),
                }),
                reranker: None,
                classifier: None,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeiPooling {
    pub pooling: Option<String>,
}

/// TEI's description of the model its routes serve by default, and the server's limits.
pub fn info(state: &AppState) -> TeiInfo {
    let spec = state.store.registry().default_spec();
    let info = state.store.info(spec);
    let engine = state.store.engine_config();
    let drop_in = state.tei_drop_in.as_ref();
    TeiInfo {
        model_id: drop_in.map_or_else(|| spec.public_name().to_owned(), |d| d.model_id.clone()),
        served_model_name: drop_in.map_or_else(|| spec.public_name().to_owned(), |d| d.served_model_name.clone()),
        model_sha: None,
        model_dtype: spec.precision().name().to_owned(),
        model_type: TeiModelType::of(info.as_ref()),
        max_concurrent_requests: engine.queue_capacity,
        max_input_length: info.as_ref().map(|i| i.description.max_tokens),
        max_batch_tokens: engine.max_batch_tokens,
        max_batch_requests: Some(engine.max_batch_sequences).filter(|&n| n != usize::MAX),
        max_client_batch_size: state.limits.max_inputs,
        auto_truncate: state.limits.auto_truncate,
        tokenization_workers: drop_in
            .and_then(|d| d.tokenization_workers)
            .unwrap_or_else(crate::runner::kernels::compute_threads),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sha: None,
        docker_label: None,
        dimensions: info.as_ref().map(|i| i.description.dimension_with(i.serving.pooling)),
        prompts: info.as_ref().map(|i| i.description.prompts.clone()),
        pipeline: info.as_ref().map(PipelineSummary::of),
        kernels: state.store.kernels(spec.precision()),
    }
}
