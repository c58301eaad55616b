//! The allow-list of models (`supported_models.txt`) and how request names map onto it.
//!
//! Each non-comment line is `REPO_ID[@REVISION] [ALIAS ...]`, or a local directory path in place
//! of the repo id. Only entries of this list are ever loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a model's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A Hugging Face Hub repository at a revision (branch, tag or commit).
    Hub { repo_id: String, revision: String },
    /// A directory on disk holding config.json, model.safetensors and tokenizer.json.
    Local { path: PathBuf },
}

/// One entry of the models file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The canonical id clients see in `/v1/models`: the repo id, or the path as written.
    pub id: String,
    pub source: ModelSource,
    pub aliases: Vec<String>,
}

impl ModelSpec {
    /// The part of the id after its last `/`, which clients may use as a short name.
    pub fn short_name(&self) -> &str {
        let trimmed = self.id.trim_end_matches('/');
        trimmed.rsplit('/').next().unwrap_or(trimmed)
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
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(first) = words.next() else { continue };
            let aliases: Vec<String> = words.map(str::to_owned).collect();
            let spec = parse_entry(first, aliases, base_dir).map_err(|m| (number + 1, m))?;
            if specs.iter().any(|s| s.id == spec.id) {
                return Err((number + 1, format!("model {} is listed twice", spec.id)));
            }
            specs.push(spec);
        }
        Self::from_specs(specs).map_err(|m| (0, m))
    }

    pub fn from_specs(specs: Vec<ModelSpec>) -> Result<Self, String> {
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
            short.entry(spec.short_name()).or_default().push(index);
        }
        for (name, indexes) in short {
            if let [only] = indexes[..] {
                names.entry(name.to_owned()).or_insert(only);
            }
        }
        Ok(Self { specs, names })
    }

    pub fn specs(&self) -> &[ModelSpec] {
        &self.specs
    }

    /// Finds the entry a client means by `name`: its id, an alias, or its unambiguous short name.
    pub fn resolve(&self, name: &str) -> Option<&ModelSpec> {
        self.names.get(name.trim()).map(|&i| &self.specs[i])
    }

    pub fn ids(&self) -> Vec<&str> {
        self.specs.iter().map(|s| s.id.as_str()).collect()
    }
}

fn parse_entry(first: &str, aliases: Vec<String>, base_dir: &Path) -> Result<ModelSpec, String> {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(text: &str) -> Registry {
        Registry::parse(text, Path::new("/models")).expect("valid registry")
    }

    #[test]
    fn parses_ids_revisions_aliases_comments_and_paths() {
        let r = registry(
            "# comment\n\nsentence-transformers/all-MiniLM-L6-v2 minilm default  # trailing\n\
             BAAI/bge-small-en-v1.5@v1.0\n./local/tiny tiny\n",
        );
        assert_eq!(r.specs().len(), 3);
        let minilm = &r.specs()[0];
        assert_eq!(minilm.aliases, vec!["minilm", "default"]);
        assert_eq!(
            minilm.source,
            ModelSource::Hub {
                repo_id: "sentence-transformers/all-MiniLM-L6-v2".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            r.specs()[1].source,
            ModelSource::Hub {
                repo_id: "BAAI/bge-small-en-v1.5".into(),
                revision: "v1.0".into()
            }
        );
        assert_eq!(
            r.specs()[2].source,
            ModelSource::Local {
                path: PathBuf::from("/models/./local/tiny")
            }
        );
        assert_eq!(r.specs()[2].owner(), "local");
        assert_eq!(minilm.owner(), "sentence-transformers");
    }

    #[test]
    fn resolves_by_id_alias_and_unambiguous_short_name() {
        let r = registry("a/shared\nb/shared\nsentence-transformers/all-MiniLM-L6-v2 mini\n");
        let id = "sentence-transformers/all-MiniLM-L6-v2";
        assert_eq!(r.resolve(id).map(|s| s.id.as_str()), Some(id));
        assert_eq!(r.resolve("mini").map(|s| s.id.as_str()), Some(id));
        assert_eq!(r.resolve("all-MiniLM-L6-v2").map(|s| s.id.as_str()), Some(id));
        assert!(r.resolve("shared").is_none(), "ambiguous short names are not resolved");
        assert_eq!(r.resolve("a/shared").map(|s| s.id.as_str()), Some("a/shared"));
        assert!(r.resolve("text-embedding-3-small").is_none());
        assert!(
            r.resolve("all-minilm-l6-v2").is_none(),
            "names are case-sensitive like hub ids"
        );
    }

    #[test]
    fn rejects_bad_lines_with_their_line_number() {
        let err = Registry::parse("ok/model\nnot/a/valid/id\n", Path::new(".")).unwrap_err();
        assert_eq!(err.0, 2);
        let err = Registry::parse("x/y@\n", Path::new(".")).unwrap_err();
        assert!(err.1.contains("empty revision"));
        let err = Registry::parse("x/y\nx/y\n", Path::new(".")).unwrap_err();
        assert!(err.1.contains("twice"));
        let err = Registry::parse("x/y same\nz/w same\n", Path::new(".")).unwrap_err();
        assert!(err.1.contains("used by both"));
    }
}
