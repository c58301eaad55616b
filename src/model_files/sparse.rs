//! What a sparse model's files say: sentence-transformers' `SparseEncoder` as it loads a SPLADE
//! checkpoint, a `*ForMaskedLM` encoder (`MLMTransformer`, or a `Transformer` whose
//! `transformer_task` is `fill-mask`) followed by `SpladePooling`.
//!
//! | file | use |
//! |---|---|
//! | `modules.json` | the pipeline: the Transformer then `SpladePooling`, nothing else |
//! | `sentence_bert_config.json` | `transformer_task` of a plain `Transformer` |
//! | `N_SpladePooling/config.json` | `pooling_strategy`, `activation_function`, `embedding_dimension` |
//! | `config_sentence_transformers.json` | `max_active_dims`, `similarity_fn_name` (and the prompts, read as for any model) |

use serde::Deserialize;
use serde_json::Value;

use super::router::RouterLayout;
use super::{parse_file, read_optional, ModuleEntry};
use crate::hub::{Snapshot, CONFIG};
use crate::runner::architectures;
use crate::runner::head::sparse::{SpladeActivation, SpladeSpec, SpladeStrategy};
use crate::runner::shape::ModelShape;

/// A SPLADE model's head and the output settings its files give.
#[derive(Debug, Clone)]
pub struct Sparse {
    pub head: SpladeSpec,
    /// An inference-free model's routes; `None` for plain SPLADE.
    pub router: Option<RouterLayout>,
    /// Only this many of each vector's largest values are kept, unless a request says otherwise.
    pub max_active_dims: Option<usize>,
    /// How vectors are compared (`dot` for every SPLADE model), as `/v1/models` tells clients.
    pub similarity: String,
}

/// The modules of sentence-transformers' sparse family, by class name.
const SPARSE_MODULES: &[&str] = &[
    "MLMTransformer",
    "SpladePooling",
    "SparseStaticEmbedding",
    "SparseAutoEncoder",
];

#[derive(Debug, Deserialize)]
struct SpladePoolingConfig {
    #[serde(default = "default_strategy")]
    pooling_strategy: String,
    #[serde(default = "default_activation")]
    activation_function: String,
    #[serde(default, alias = "word_embedding_dimension")]
    embedding_dimension: Option<usize>,
}

fn default_strategy() -> String {
    "max".to_owned()
}
fn default_activation() -> String {
    "relu".to_owned()
}

#[derive(Debug, Default, Deserialize)]
struct SparseEncoderConfig {
    max_active_dims: Option<usize>,
    similarity_fn_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TransformerConfig {
    transformer_task: Option<String>,
}

fn class(module: &ModuleEntry) -> &str {
    module.kind_name.rsplit('.').next().unwrap_or_default()
}

/// The sparse side of a snapshot (`root`: where its Transformer's files are, a Router's
/// Transformer folder or the snapshot itself); `None` for any other model.
pub fn read(
    snapshot: &Snapshot,
    root: &Snapshot,
    modules: Option<&[ModuleEntry]>,
    router: Option<&RouterLayout>,
    shape: &ModelShape,
) -> anyhow::Result<Option<Sparse>> {
    let routed;
    let modules = match router {
        Some(layout) => {
            routed = [
                ModuleEntry {
                    path: String::new(),
                    kind_name: layout.transformer_type.clone(),
                },
                ModuleEntry {
                    path: layout.pooling.clone(),
                    kind_name: "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling".to_owned(),
                },
            ];
            &routed[..]
        }
        None => modules.unwrap_or_default(),
    };
    if !modules.iter().any(|m| SPARSE_MODULES.contains(&class(m))) {
        return Ok(None);
    }
    let refuse = |what: &str| {
        anyhow::anyhow!(
            "{what} is not supported: the service runs sparse models made of a masked-LM Transformer and SpladePooling"
        )
    };
    if let Some(other) = modules
        .iter()
        .find(|m| !matches!(class(m), "MLMTransformer" | "Transformer" | "SpladePooling"))
    {
        return Err(refuse(&format!("module {}", other.kind_name)));
    }
    let [transformer, pooling] = modules else {
        return Err(refuse(&format!("a pipeline of {} modules", modules.len())));
    };
    anyhow::ensure!(
        class(transformer) != "SpladePooling" && class(pooling) == "SpladePooling" && transformer.path.is_empty(),
        "modules.json: a sparse model is its Transformer, at the snapshot's root, then SpladePooling"
    );
    // The legacy MLMTransformer means fill-mask unless its settings say otherwise.
    let settings: TransformerConfig = read_optional(root, "sentence_bert_config.json")?.unwrap_or_default();
    let default_task = if class(transformer) == "MLMTransformer" {
        "fill-mask"
    } else {
        ""
    };
    let task = settings.transformer_task.unwrap_or_else(|| default_task.to_owned());
    anyhow::ensure!(
        task == "fill-mask",
        "a Transformer before SpladePooling must have transformer_task \"fill-mask\" (sentence_bert_config.json says {task:?})"
    );
    let config: Value = parse_file(&root.required(CONFIG)?)?;
    let masked_lm = config
        .get("architectures")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .any(|c| c.ends_with("ForMaskedLM"))
        });
    anyhow::ensure!(
        masked_lm,
        "SpladePooling needs a *ForMaskedLM checkpoint; config.json's architectures name none"
    );
    let folder = pooling.path.trim_end_matches('/');
    let file = format!("{folder}/{CONFIG}");
    let settings: SpladePoolingConfig = parse_file(&snapshot.required(&file)?)?;
    let strategy = match settings.pooling_strategy.as_str() {
        "max" => SpladeStrategy::Max,
        "sum" => SpladeStrategy::Sum,
        other => anyhow::bail!("{file}: pooling_strategy {other:?} is not max or sum"),
    };
    let activation = match settings.activation_function.as_str() {
        "relu" => SpladeActivation::Relu,
        "log1p_relu" => SpladeActivation::Log1pRelu,
        other => anyhow::bail!("{file}: activation_function {other:?} is not relu or log1p_relu"),
    };
    let head = architectures::masked_lm_head(&config, shape)?;
    if let Some(dimension) = settings.embedding_dimension {
        anyhow::ensure!(
            dimension == head.vocab,
            "{file}: embedding_dimension is {dimension} but the vocabulary has {}",
            head.vocab
        );
    }
    let encoder: SparseEncoderConfig =
        read_optional(snapshot, "config_sentence_transformers.json")?.unwrap_or_default();
    anyhow::ensure!(
        encoder.max_active_dims != Some(0),
        "config_sentence_transformers.json: max_active_dims must be positive"
    );
    Ok(Some(Sparse {
        head: SpladeSpec {
            head,
            strategy,
            activation,
        },
        router: router.cloned(),
        max_active_dims: encoder.max_active_dims,
        similarity: encoder.similarity_fn_name.unwrap_or_else(|| "dot".to_owned()),
    }))
}
