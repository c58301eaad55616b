//! Reading a Cohere embed request: the texts (`texts`, or v2's `inputs` of one text part each),
//! `input_type`, `embedding_types`, `truncate`, `output_dimension` and `max_tokens`, each
//! malformed field a 400 naming it.

use serde_json::{Map, Value};

use crate::http::error::{excerpt, ApiError, ErrorKind};
use crate::service::input::{model_name, take, MAX_INPUTS};
use crate::tokenize::Truncation;

/// The compact forms a request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EmbeddingType {
    Float,
    Int8,
    Uint8,
    Binary,
    Ubinary,
    Base64,
}

const TYPE_NAMES: &str = "float, int8, uint8, binary, ubinary, base64";

impl EmbeddingType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "float" => Some(Self::Float),
            "int8" => Some(Self::Int8),
            "uint8" => Some(Self::Uint8),
            "binary" => Some(Self::Binary),
            "ubinary" => Some(Self::Ubinary),
            "base64" => Some(Self::Base64),
            _ => None,
        }
    }
}

/// The prompt names each `input_type` may go by in a model's `prompts`, in order of preference.
pub(super) fn prompt_candidates(input_type: &str) -> &'static [&'static str] {
    match input_type {
        "search_query" => &["query", "search_query", "web_search_query", "Retrieval-query"],
        "search_document" => &["document", "search_document", "passage", "Retrieval-document"],
        "classification" => &["classification", "Classification"],
        "clustering" => &["clustering", "Clustering"],
        _ => &[],
    }
}

#[derive(Debug, PartialEq)]
pub(super) struct CohereRequest {
    pub(super) model: Option<String>,
    pub(super) texts: Vec<String>,
    pub(super) input_type: Option<String>,
    pub(super) types: Vec<EmbeddingType>,
    /// Whether the request named its types (v1 answers a plain float array otherwise).
    pub(super) typed: bool,
    pub(super) truncation: Truncation,
    pub(super) output_dimension: Option<usize>,
    pub(super) max_tokens: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V1,
    V2,
}

fn strings(value: Value, field: &'static str) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::invalid(
            format!("`{field}` must be an array of strings."),
            field,
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text),
            _ => Err(ApiError::invalid(format!("`{field}[{i}]` is not a string."), field)),
        })
        .collect()
}

/// v2's `inputs`: each `{"content": [{"type": "text", "text": "..."}]}` with one text part.
fn input_texts(value: Value) -> Result<Vec<String>, ApiError> {
    let invalid = |message: String| ApiError::invalid(message, "inputs");
    let Value::Array(items) = value else {
        return Err(invalid(
            "`inputs` must be an array of objects with `content`.".to_owned(),
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let parts = item
                .get("content")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            match parts.as_slice() {
                [part] if part.get("type").and_then(Value::as_str) == Some("text") => part
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("`inputs[{i}].content[0].text` must be a string."))),
                [part] => Err(invalid(format!(
                    "`inputs[{i}]` is {}; this server embeds text only.",
                    excerpt(&part.get("type").map(Value::to_string).unwrap_or_default())
                ))),
                _ => Err(invalid(format!(
                    "`inputs[{i}].content` must hold exactly one text part."
                ))),
            }
        })
        .collect()
}

impl CohereRequest {
    pub(super) fn read(mut fields: Map<String, Value>, version: Version) -> Result<Self, ApiError> {
        let model = model_name(take(&mut fields, "model"), "model")?;
        if take(&mut fields, "images").is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            return Err(ApiError::invalid(
                "This server embeds text only: send `texts`.",
                "images",
            ));
        }
        let texts = match (take(&mut fields, "texts"), take(&mut fields, "inputs")) {
            (Some(texts), None) => strings(texts, "texts")?,
            (None, Some(inputs)) if version == Version::V2 => input_texts(inputs)?,
            (Some(_), Some(_)) => return Err(ApiError::invalid("Send either `texts` or `inputs`, not both.", "texts")),
            _ => {
                return Err(ApiError::invalid("You must provide `texts` to embed.", "texts").with_kind(ErrorKind::Empty))
            }
        };
        if texts.is_empty() {
            return Err(ApiError::invalid("`texts` must not be empty.", "texts").with_kind(ErrorKind::Empty));
        }
        if texts.len() > MAX_INPUTS {
            return Err(ApiError::invalid(
                format!("`texts` has {} items; at most {MAX_INPUTS} are allowed.", texts.len()),
                "texts",
            )
            .with_kind(ErrorKind::TooLarge));
        }
        let input_type = match take(&mut fields, "input_type") {
            None => None,
            Some(Value::String(kind)) if !prompt_candidates(&kind).is_empty() => Some(kind),
            Some(other) => {
                return Err(ApiError::invalid(
                    format!(
                        "`input_type` must be search_query, search_document, classification or clustering, not {}.",
                        excerpt(&other.to_string())
                    ),
                    "input_type",
                ))
            }
        };
        let (types, typed) = match take(&mut fields, "embedding_types") {
            None => (vec![EmbeddingType::Float], false),
            Some(value) => {
                let names = strings(value, "embedding_types")?;
                let types = names
                    .iter()
                    .map(|name| {
                        EmbeddingType::parse(name).ok_or_else(|| {
                            ApiError::invalid(
                                format!("`embedding_types` has {}; the types are {TYPE_NAMES}.", excerpt(name)),
                                "embedding_types",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if types.is_empty() {
                    return Err(ApiError::invalid(
                        format!("`embedding_types` must name at least one of {TYPE_NAMES}."),
                        "embedding_types",
                    ));
                }
                (types, true)
            }
        };
        let truncation = match take(&mut fields, "truncate") {
            None => Truncation::Right,
            Some(Value::String(mode)) if mode.eq_ignore_ascii_case("END") => Truncation::Right,
            Some(Value::String(mode)) if mode.eq_ignore_ascii_case("START") => Truncation::Left,
            Some(Value::String(mode)) if mode.eq_ignore_ascii_case("NONE") => Truncation::Off,
            Some(other) => {
                return Err(ApiError::invalid(
                    format!(
                        "`truncate` must be NONE, START or END, not {}.",
                        excerpt(&other.to_string())
                    ),
                    "truncate",
                ))
            }
        };
        let positive = |fields: &mut Map<String, Value>, field: &'static str| match take(fields, field) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .filter(|&n| n >= 1)
                .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!(
                            "`{field}` must be a positive integer, not {}.",
                            excerpt(&value.to_string())
                        ),
                        field,
                    )
                }),
        };
        let output_dimension = positive(&mut fields, "output_dimension")?;
        let max_tokens = positive(&mut fields, "max_tokens")?;
        Ok(Self {
            model,
            texts,
            input_type,
            types,
            typed: typed || version == Version::V2,
            truncation,
            output_dimension,
            max_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value, version: Version) -> Result<CohereRequest, ApiError> {
        let Value::Object(fields) = body else { panic!("object") };
        CohereRequest::read(fields, version)
    }

    #[test]
    fn requests_are_read_as_the_sdk_sends_them() {
        let v2 = read(
            json!({"model": "m", "input_type": "search_query", "texts": null,
                   "inputs": [{"content": [{"type": "text", "text": "hi"}]}],
                   "embedding_types": ["int8", "float"], "truncate": "START", "output_dimension": 4,
                   "images": null, "max_tokens": null, "priority": 0}),
            Version::V2,
        )
        .expect("reads");
        assert_eq!(v2.texts, vec!["hi".to_owned()]);
        assert_eq!(v2.types, vec![EmbeddingType::Int8, EmbeddingType::Float]);
        assert_eq!(
            (v2.truncation, v2.output_dimension, v2.typed),
            (Truncation::Left, Some(4), true)
        );
        let v1 = read(json!({"texts": ["a"], "truncate": "NONE"}), Version::V1).expect("reads");
        assert_eq!((v1.typed, v1.truncation, v1.model), (false, Truncation::Off, None));
        for (bad, param) in [
            (json!({"texts": ["a"], "embedding_types": ["int4"]}), "embedding_types"),
            (json!({"texts": ["a"], "input_type": "image"}), "input_type"),
            (json!({"texts": ["a"], "truncate": "MIDDLE"}), "truncate"),
            (json!({"texts": [], "model": "m"}), "texts"),
            (json!({"texts": ["a"], "images": ["data:..."]}), "images"),
            (json!({"inputs": [{"content": [{"type": "image_url"}]}]}), "inputs"),
            (json!({"texts": ["a"], "output_dimension": 0}), "output_dimension"),
        ] {
            assert_eq!(read(bad, Version::V2).unwrap_err().param, Some(param));
        }
        assert!(read(
            json!({"inputs": [{"content": [{"type": "text", "text": "x"}]}]}),
            Version::V1
        )
        .is_err());
    }

    #[test]
    fn input_types_prefer_the_models_own_prompt_names() {
        assert_eq!(prompt_candidates("search_query")[0], "query");
        assert!(prompt_candidates("search_document").contains(&"passage"));
        assert!(prompt_candidates("image").is_empty());
    }
}
