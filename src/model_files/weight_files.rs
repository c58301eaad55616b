//! Which files hold a model's weights and tokenizer: `model.safetensors`, or every shard that a
//! sharded checkpoint's `model.safetensors.index.json` names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::parse_file;
use crate::hub::{Snapshot, TOKENIZER, WEIGHTS, WEIGHTS_INDEX};

/// The files the weights and tokenizer come from. Blocking (it may download).
pub struct WeightFiles {
    /// `model.safetensors`, or every shard a sharded checkpoint's index names, in order.
    pub weights: Vec<PathBuf>,
    pub tokenizer: PathBuf,
}

impl WeightFiles {
    /// The backbone's files (in a Router's Transformer folder when it has one).
    pub fn fetch(snapshot: &Snapshot) -> anyhow::Result<Self> {
        Self::fetch_at(&snapshot.within(&super::transformer_folder(snapshot)?))
    }

    /// The files of the module at `snapshot`'s folder.
    pub fn fetch_at(snapshot: &Snapshot) -> anyhow::Result<Self> {
        let weights = match snapshot.optional(WEIGHTS)? {
            Some(single) => vec![single],
            None => match snapshot.optional(WEIGHTS_INDEX)? {
                Some(index) => shard_names(&index)?
                    .iter()
                    .map(|name| snapshot.required(name))
                    .collect::<Result<_, _>>()?,
                // The hub's own message for a missing weights file (pytorch_model.bin only, ...).
                None => vec![snapshot.required(WEIGHTS)?],
            },
        };
        Ok(Self {
            weights,
            tokenizer: snapshot.required(TOKENIZER)?,
        })
    }
}

/// The shard files of `model.safetensors.index.json`, each once, in the order first named.
fn shard_names(index: &Path) -> anyhow::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let index: Index = parse_file(index)?;
    let mut names: Vec<String> = Vec::new();
    for file in index.weight_map.values() {
        anyhow::ensure!(
            !file.contains("..") && !file.starts_with('/') && file.ends_with(".safetensors"),
            "{WEIGHTS_INDEX} names {file:?}, which is not a safetensors file beside it"
        );
        if !names.contains(file) {
            names.push(file.clone());
        }
    }
    names.sort();
    anyhow::ensure!(!names.is_empty(), "{WEIGHTS_INDEX} names no shard");
    Ok(names)
}
