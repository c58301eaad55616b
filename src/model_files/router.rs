//! sentence-transformers' `Router` as the service runs it: an inference-free sparse model, whose
//! `router_config.json` sends one task (`query`, as opensearch-neural-sparse-encoding-doc-v3
//! does) to a `SparseStaticEmbedding` (a weight per vocabulary entry, looked up) and the other
//! to a masked-LM Transformer and `SpladePooling`, each module in its own folder.
//!
//! | file | use |
//! |---|---|
//! | `modules.json` | one module: the Router |
//! | `router_config.json` | `types` and `structure` (each route's modules by folder), `parameters.default_route` |
//! | `QUERY_FOLDER/` | `model.safetensors` (`weight`), `tokenizer.json`, `tokenizer_config.json` (`model_max_length`) |

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{read_optional, read_required, ModuleEntry};
use crate::hub::{Snapshot, ROUTER_CONFIG};

/// Where a Router's modules are, and which task takes which route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterLayout {
    /// The folders of the model route's Transformer and SpladePooling.
    pub transformer: String,
    pub pooling: String,
    /// The Transformer's class path (`...Transformer` or `...MLMTransformer`).
    pub transformer_type: String,
    /// The route name the Transformer serves.
    pub model_route: String,
    pub static_route: Option<StaticRoute>,
    /// The route a request that names none takes.
    pub default_route: String,
}

/// A `SparseStaticEmbedding` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    pub route: String,
    pub folder: String,
    /// Its tokenizer's `model_max_length`: texts are cut there (no special tokens added).
    pub max_tokens: Option<usize>,
}

impl RouterLayout {
    /// Every route name, the model's first.
    pub fn routes(&self) -> Vec<&str> {
        std::iter::once(self.model_route.as_str())
            .chain(self.static_route.as_ref().map(|s| s.route.as_str()))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct RouterConfig {
    types: BTreeMap<String, String>,
    structure: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    parameters: RouterParameters,
}

#[derive(Debug, Default, Deserialize)]
struct RouterParameters {
    default_route: Option<String>,
    #[serde(default)]
    route_mappings: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct StaticTokenizerConfig {
    model_max_length: Option<f64>,
}

fn class(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or_default()
}

/// The Router's layout when `modules.json` is one Router; `None` otherwise.
pub fn read(snapshot: &Snapshot, modules: Option<&[ModuleEntry]>) -> anyhow::Result<Option<RouterLayout>> {
    let Some([module]) = modules else {
        return Ok(None);
    };
    if class(&module.kind_name) != "Router" {
        return Ok(None);
    }
    let config: RouterConfig = read_required(snapshot, ROUTER_CONFIG)?;
    let refuse = |what: String| {
        anyhow::anyhow!(
            "{ROUTER_CONFIG}: {what} is not supported: the service runs a Router with one route of a masked-LM Transformer and SpladePooling and at most one SparseStaticEmbedding route"
        )
    };
    if !config.parameters.route_mappings.is_empty() {
        return Err(refuse("route_mappings".to_owned()));
    }
    let mut model = None;
    let mut lookup = None;
    for (route, folders) in &config.structure {
        let classes: Vec<&str> = folders
            .iter()
            .map(|f| config.types.get(f).map_or("", |t| class(t)))
            .collect();
        match classes.as_slice() {
            ["Transformer" | "MLMTransformer", "SpladePooling"] if model.is_none() => {
                model = Some((
                    route.clone(),
                    folders[0].clone(),
                    folders[1].clone(),
                    config.types[&folders[0]].clone(),
                ));
            }
            ["SparseStaticEmbedding"] if lookup.is_none() => lookup = Some((route.clone(), folders[0].clone())),
            _ => return Err(refuse(format!("route {route:?} of {}", classes.join(", ")))),
        }
    }
    let (model_route, transformer, pooling, transformer_type) =
        model.ok_or_else(|| refuse("a Router without a SpladePooling route".to_owned()))?;
    let static_route = match lookup {
        Some((route, folder)) => {
            let tokenizer: StaticTokenizerConfig =
                read_optional(&snapshot.within(&folder), "tokenizer_config.json")?.unwrap_or_default();
            Some(StaticRoute {
                route,
                folder,
                max_tokens: tokenizer
                    .model_max_length
                    .filter(|n| (1.0..1e9).contains(n))
                    .map(|n| n as usize),
            })
        }
        None => None,
    };
    let layout = RouterLayout {
        default_route: config.parameters.default_route.unwrap_or_else(|| model_route.clone()),
        transformer,
        pooling,
        transformer_type,
        model_route,
        static_route,
    };
    anyhow::ensure!(
        layout.routes().contains(&layout.default_route.as_str()),
        "{ROUTER_CONFIG}: default_route {:?} is not one of its routes",
        layout.default_route
    );
    Ok(Some(layout))
}

/// The folder the backbone's files are in: a Router's Transformer's, else the root.
pub fn transformer_folder(snapshot: &Snapshot) -> anyhow::Result<String> {
    let modules = read_optional::<Vec<ModuleEntry>>(snapshot, "modules.json")?;
    Ok(read(snapshot, modules.as_deref())?
        .map(|layout| layout.transformer)
        .unwrap_or_default())
}
