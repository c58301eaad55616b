//! The allow-list of models (`supported_models.txt`) and how request names map onto it.
//!
//! Each non-comment line is `REPO_ID[@REVISION] [ALIAS ...] [KEY=VALUE ...]`, or a local
//! directory path in place of the repo id. Only entries of this list are ever loaded. One
//! repository may be listed on several lines (each with its own aliases and options); they share
//! one copy of the weights per number format (`dtype=`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::runner::{PoolingMode, Precision};

/// Where a model's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A Hugging Face Hub repository at a revision (branch, tag or commit).
    Hub { repo_id: String, revision: String },
    /// A directory on disk holding config.json, model.safetensors and tokenizer.json.
    Local { path: PathBuf },
}

/// Per-entry settings: the `key=value` words of a line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryOptions {
    /// The default prompt for requests through this entry, by its name in the model's prompts.
    pub prompt_name: Option<String>,
    /// A literal prefix for every text, for models whose files define no prompts.
    pub prompt: Option<String>,
    /// Replaces the pooling of the model's own pipeline.
    pub pooling: Option<PoolingMode>,
    /// The matmuls' number format; unset follows `--dtype`.
    pub dtype: Option<Precision>,
    /// Whose vocabulary token arrays sent to this entry are in; unset: OpenAI's `cl100k_base`
    /// under OpenAI's model names, the model's own under every other name.
    pub token_ids: Option<TokenIds>,
}

/// The vocabulary of client-sent token arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIds {
    /// The model's own tokenizer's ids.
    Model,
    /// OpenAI's `cl100k_base` ids (what LangChain's `OpenAIEmbeddings` sends by default),
    /// decoded to text first.
    Cl100k,
}

/// OpenAI's embedding model names. Token arrays sent under one of these are OpenAI
/// `cl100k_base` ids unless the entry says otherwise (`token_ids=`), whichever model the name
/// is an alias of here.
pub const OPENAI_MODEL_NAMES: [&str; 3] = [
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
];

/// One entry of the models file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The canonical id clients see in `/v1/models`: the repo id (or the path as written) for
    /// the first line of a repository, the first alias for later lines of the same one.
    pub id: String,
    pub source: ModelSource,
    pub aliases: Vec<String>,
    pub options: EntryOptions,
}

impl ModelSpec {
    /// The name clients are shown for this entry: a local directory's first alias, else its
    /// directory name (never a path of the server's disk); a hub entry's id.
    pub fn public_name(&self) -> &str {
        match &self.source {
            ModelSource::Local { .. } => self.aliases.first().map_or_else(|| self.short_name(), String::as_str),
            ModelSource::Hub { .. } => &self.id,
        }
    }

    /// The part of the id after its last `/`, which clients may use as a short name.
    pub fn short_name(&self) -> &str {
        let trimmed = self.id.trim_end_matches('/');
        trimmed.rsplit('/').next().unwrap_or(trimmed)
    }

    /// Identifies the files: lines with the same source are ways to serve one model.
    pub fn source_key(&self) -> String {
        match &self.source {
            ModelSource::Hub { repo_id, revision } => format!("{repo_id}@{revision}"),
            ModelSource::Local { path } => path.display().to_string(),
        }
    }

    /// The number format this entry's matmuls run in.
    pub fn precision(&self) -> Precision {
        self.options.dtype.unwrap_or_default()
    }

    /// Identifies a loaded copy of the weights: entries with the same source and precision share
    /// one.
    pub fn weights_key(&self) -> String {
        match self.precision() {
            Precision::Float32 => self.source_key(),
            other => format!("{} as {other}", self.source_key()),
        }
    }

    /// The vocabulary of token arrays a client sends under `name` (one of this entry's names).
    pub fn token_ids_under(&self, name: &str) -> TokenIds {
        self.options
            .token_ids
            .unwrap_or(if OPENAI_MODEL_NAMES.contains(&name.trim()) {
                TokenIds::Cl100k
            } else {
                TokenIds::Model
            })
    }

    /// The entry TEI's `--model-id` means: a local directory when one exists at that path (as
    /// TEI reads a model saved by `save_pretrained`), else a hub repository at `revision`.
    pub fn from_model_id(model_id: &str, revision: Option<&str>, options: EntryOptions) -> Result<Self, String> {
        let path = Path::new(model_id);
        if path.is_dir() {
            let path = path
                .canonicalize()
                .map_err(|e| format!("cannot read {model_id}: {e}"))?;
            return Ok(Self {
                id: model_id.to_owned(),
                source: ModelSource::Local { path },
                aliases: Vec::new(),
                options,
            });
        }
        let entry = match revision.map(str::trim).filter(|r| !r.is_empty()) {
            Some(revision) => format!("{model_id}@{revision}"),
            None => model_id.to_owned(),
        };
        parse_entry(&entry, Vec::new(), options, Path::new("."))
    }

    /// The organisation for OpenAI's `owned_by` field.
    pub fn owner(&self) -> &str {
        match &self.source {
            ModelSource::Hub { repo_id, .. } => repo_id.split_once('/').map_or("local", |(org, _)| org),
            ModelSource::Local { .. } => "local",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read models file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The parsed allow-list with its lookup table.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: Vec<ModelSpec>,
    /// Every accepted name (id, alias, unambiguous short name) to an index into `specs`.
    names: HashMap<String, usize>,
}

impl Registry {
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base_dir).map_err(|(line, message)| RegistryError::Parse {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parses the file's text; relative local paths are resolved against `base_dir`.
    /// Errors carry the 1-based line number.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, (usize, String)> {
        let mut specs: Vec<ModelSpec> = Vec::new();
        for (number, raw) in text.lines().enumerate() {
            let fail = |message: String| (number + 1, message);
            let words = split_words(raw).map_err(fail)?;
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let (options, aliases): (Vec<&String>, Vec<&String>) = rest.iter().partition(|w| w.contains('='));
            let aliases: Vec<String> = aliases.into_iter().cloned().collect();
            let options = parse_options(&options).map_err(fail)?;
            let mut spec = parse_entry(first, aliases, options, base_dir).map_err(fail)?;
            if let Some(earlier) = specs.iter().find(|s| s.source_key() == spec.source_key()) {
                // A repeated repository is a second way to serve the same weights; the alias
                // tells the lines apart.
                spec.id = spec.aliases.first().cloned().ok_or_else(|| {
                    fail(format!(
                        "{} is listed again (first as {}); give this line an alias to tell them apart",
                        first, earlier.id
                    ))
                })?;
            }
            specs.push(spec);
        }
        Self::from_specs(specs).map_err(|m| (0, m))
    }

    /// The registry of `specs`, which must name at least one model (the default).
    pub fn from_specs(specs: Vec<ModelSpec>) -> Result<Self, String> {
        if specs.is_empty() {
            return Err("the models file lists no models".to_owned());
        }
        let mut names = HashMap::new();
        // Ids and aliases are explicit, so a clash between them is a mistake in the file.
        for (index, spec) in specs.iter().enumerate() {
            for name in std::iter::once(&spec.id).chain(&spec.aliases) {
                if let Some(previous) = names.insert(name.clone(), index) {
                    if previous != index {
                        return Err(format!(
                            "name {name} is used by both {} and {}",
                            specs[previous].id, spec.id
                        ));
                    }
                }
            }
        }
        // Short names are a convenience: only those that point at exactly one model count.
        let mut short: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            let indexes = short.entry(spec.short_name()).or_default();
            // Later lines of the same files do not make the short name ambiguous: it names
            // the first.
            if !indexes.iter().any(|&i| specs[i].source_key() == spec.source_key()) {
                indexes.push(index);
            }
        }
        for (name, indexes) in short {
            if let [only] = indexes[..] {
                names.entry(name.to_owned()).or_insert(only);
            }
        }
        Ok(Self { specs, names })
    }

    /// Sets the precision of every entry that does not choose its own (`--dtype`).
    pub fn with_default_precision(mut self, precision: Precision) -> Self {
        for spec in &mut self.specs {
            spec.options.dtype.get_or_insert(precision);
        }
        self
    }

    pub fn specs(&self) -> &[ModelSpec] {
        &self.specs
    }

    /// The first listed entry: what a request that names no model gets, and what TEI's `/info`
    /// describes. A registry always has one.
    pub fn default_spec(&self) -> &ModelSpec {
        &self.specs[0]
    }

    /// Finds the entry a client means by `name`: its id, an alias, or its unambiguous short name.
    pub fn resolve(&self, name: &str) -> Option<&ModelSpec> {
        self.names.get(name.trim()).map(|&i| &self.specs[i])
    }

    pub fn ids(&self) -> Vec<&str> {
        self.specs.iter().map(|s| s.id.as_str()).collect()
    }

    /// Every entry by the name clients are shown ([`ModelSpec::public_name`]), for messages.
    pub fn public_names(&self) -> Vec<&str> {
        self.specs.iter().map(ModelSpec::public_name).collect()
    }
}

/// Splits a line into words at whitespace, up to a `#` comment; double quotes keep spaces (and
/// `#`) inside a word and are removed.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.get_or_insert_with(String::new);
            }
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => words.extend(current.take()),
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    if quoted {
        return Err("a double quote is not closed".to_owned());
    }
    words.extend(current);
    Ok(words)
}

const OPTION_KEYS: &str = "prompt_name, prompt, pooling, dtype, token_ids";

fn parse_options(words: &[&String]) -> Result<EntryOptions, String> {
    let mut options = EntryOptions::default();
    for word in words {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "prompt_name" if !value.is_empty() => options.prompt_name = Some(value.to_owned()),
            "prompt" => options.prompt = Some(value.to_owned()),
            "pooling" => {
                options.pooling = Some(PoolingMode::parse(value).ok_or_else(|| {
                    format!(
                        "pooling={value} is not a pooling mode (one of {})",
                        PoolingMode::names()
                    )
                })?)
            }
            "dtype" => {
                options.dtype = Some(
                    Precision::parse(value)
                        .ok_or_else(|| format!("dtype={value} is not a number format (one of {})", Precision::NAMES))?,
                )
            }
            "token_ids" => {
                options.token_ids = Some(match value {
                    "model" => TokenIds::Model,
                    "cl100k" => TokenIds::Cl100k,
                    _ => return Err(format!("token_ids={value} is not a vocabulary (model or cl100k)")),
                })
            }
            "prompt_name" => return Err("prompt_name= needs a prompt's name".to_owned()),
            other => return Err(format!("unknown option {other:?} (options are {OPTION_KEYS})")),
        }
    }
    if options.prompt.is_some() && options.prompt_name.is_some() {
        return Err("prompt= and prompt_name= cannot both be set".to_owned());
    }
    Ok(options)
}

fn parse_entry(first: &str, aliases: Vec<String>, options: EntryOptions, base_dir: &Path) -> Result<ModelSpec, String> {
    let looks_local =
        first.starts_with('/') || first.starts_with("./") || first.starts_with("../") || first.starts_with('~');
    if looks_local {
        let expanded = match first.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(rest))
                .ok_or_else(|| format!("cannot expand {first}: HOME is not set"))?,
            None => PathBuf::from(first),
        };
        let path = if expanded.is_absolute() {
            expanded
        } else {
            base_dir.join(expanded)
        };
        return Ok(ModelSpec {
            id: first.to_owned(),
            source: ModelSource::Local { path },
            aliases,
            options,
        });
    }
    let (repo_id, revision) = match first.split_once('@') {
        Some((repo, rev)) if !rev.is_empty() => (repo, rev),
        Some(_) => return Err(format!("{first}: empty revision after '@'")),
        None => (first, "main"),
    };
    let valid_repo = repo_id.split('/').count() <= 2
        && repo_id
            .split('/')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    if !valid_repo {
        return Err(format!(
            "{first}: expected a Hugging Face repo id like org/name[@revision], or a local path starting with / or ./"
        ));
    }
    Ok(ModelSpec {
        id: repo_id.to_owned(),
        source: ModelSource::Hub {
            repo_id: repo_id.to_owned(),
            revision: revision.to_owned(),
        },
        aliases,
        options,
    })
}

#[cfg(test)]
mod tests;
