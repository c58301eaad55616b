//! OpenAI embeddings request and response bodies.
//!
//! The request is read from a `serde_json::Value` by hand rather than derived, so that every
//! malformed field gets a message naming that field and what it accepts.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::error::{excerpt, ApiError};
use crate::service::embed::sparse::SparseEmbedded;
use crate::service::embed::{EmbedRequest, Embedded};
use crate::service::input::{model_name, object, parse_input, take, EmbedOptions};
#[cfg(test)]
use crate::service::input::{Input, MAX_INPUTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

/// An OpenAI embeddings request: the shared request plus OpenAI's output encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    pub embed: EmbedRequest,
    pub encoding_format: EncodingFormat,
}

impl EmbeddingRequest {
    pub fn from_json(body: Value) -> Result<Self, ApiError> {
        let mut fields = object(body)?;
        let model = model_name(fields.remove("model"), "model")?.ok_or_else(|| {
            ApiError::invalid(
                "You must provide a model parameter (a model id from GET /v1/models).",
                "model",
            )
        })?;
        Self::with_model(fields, model)
    }

    /// The request as TEI's OpenAI route reads it: one model is served, so `model` may be any
    /// string or absent (LangChain's and LlamaIndex's OpenAI classes send their own defaults).
    pub fn for_the_one_model(body: Value, served: &str) -> Result<Self, ApiError> {
        let mut fields = object(body)?;
        if let Some(asked) = model_name(fields.remove("model"), "model")?.filter(|asked| asked != served) {
            tracing::debug!(asked = %excerpt(&asked), served, "`model` names another model; the one model answers");
        }
        Self::with_model(fields, served.to_owned())
    }

    fn with_model(mut fields: serde_json::Map<String, Value>, model: String) -> Result<Self, ApiError> {
        let input = parse_input(fields.remove("input").unwrap_or(Value::Null), "input")?;
        let encoding_format = match take(&mut fields, "encoding_format") {
            None => EncodingFormat::Float,
            Some(Value::String(format)) if format == "float" => EncodingFormat::Float,
            Some(Value::String(format)) if format == "base64" => EncodingFormat::Base64,
            Some(_) => {
                return Err(ApiError::invalid(
                    "`encoding_format` must be \"float\" or \"base64\".",
                    "encoding_format",
                ))
            }
        };
        // `prompt_name` is this server's extension (OpenAI SDKs send it through `extra_body`);
        // `user` and any other field are accepted and ignored, as OpenAI-compatible clients send
        // extras.
        let options = EmbedOptions::default().read(&mut fields)?;
        Ok(Self {
            embed: EmbedRequest { model, input, options },
            encoding_format,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: Usage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingData {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingValue,
}

/// Floats, or base64 of little-endian float32 (`encoding_format: "base64"`); a sparse model's
/// vector is its nonzero entries.
#[derive(Debug, Serialize, PartialEq, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingValue {
    Float(Vec<f32>),
    Base64(String),
    Sparse(SparseEmbedding),
}

/// A sparse (SPLADE) model's vector: its nonzero entries, indices ascending, every index below
/// `dimensions` (the vocabulary size). Qdrant's, Milvus' and Pinecone's sparse vectors take
/// `indices` and `values` as they are.
#[derive(Debug, Serialize, PartialEq, ToSchema)]
pub struct SparseEmbedding {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
    pub dimensions: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}

impl EmbeddingResponse {
    /// A sparse model's answer; float encoding only (checked by the caller).
    pub fn sparse(model: String, embedded: SparseEmbedded) -> Self {
        let data = embedded
            .vectors
            .into_iter()
            .enumerate()
            .map(|(index, vector)| EmbeddingData {
                object: "embedding",
                index,
                embedding: EmbeddingValue::Sparse(SparseEmbedding {
                    indices: vector.indices,
                    values: vector.values,
                    dimensions: embedded.dimension,
                }),
            })
            .collect();
        Self::list(model, data, embedded.prompt_tokens)
    }

    fn list(model: String, data: Vec<EmbeddingData>, tokens: usize) -> Self {
        Self {
            object: "list",
            data,
            model,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        }
    }

    pub fn new(model: String, embedded: Embedded, format: EncodingFormat) -> Self {
        let data = embedded
            .vectors
            .into_iter()
            .enumerate()
            .map(|(index, vector)| EmbeddingData {
                object: "embedding",
                index,
                embedding: match format {
                    EncodingFormat::Float => EmbeddingValue::Float(vector),
                    EncodingFormat::Base64 => EmbeddingValue::Base64(crate::service::quantize::base64_f32(&vector)),
                },
            })
            .collect();
        Self::list(model, data, embedded.prompt_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<EmbeddingRequest, ApiError> {
        EmbeddingRequest::from_json(body)
    }

    fn input(body: Value) -> Input {
        parse(body).unwrap().embed.input
    }

    #[test]
    fn accepts_every_input_form() {
        assert_eq!(
            input(json!({"model": "m", "input": "hi"})),
            Input::Texts(vec!["hi".into()])
        );
        assert_eq!(input(json!({"model": "m", "input": ""})), Input::Texts(vec!["".into()]));
        assert_eq!(
            input(json!({"model": "m", "input": ["a", "b"]})),
            Input::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            input(json!({"model": "m", "input": [1, 2]})),
            Input::Tokens(vec![vec![1, 2]])
        );
        assert_eq!(
            input(json!({"model": "m", "input": [[1], [2, 3]]})),
            Input::Tokens(vec![vec![1], vec![2, 3]])
        );
    }

    #[test]
    fn rejects_bad_inputs_with_the_param_named() {
        for body in [
            json!({"model": "m"}),
            json!({"model": "m", "input": []}),
            json!({"model": "m", "input": 5}),
            json!({"model": "m", "input": {"a": 1}}),
            json!({"model": "m", "input": ["a", 1]}),
            json!({"model": "m", "input": [1, "a"]}),
            json!({"model": "m", "input": [[1], []]}),
            json!({"model": "m", "input": [-1]}),
            json!({"model": "m", "input": [1.5]}),
            json!({"model": "m", "input": [4294967296u64]}),
            json!({"model": "m", "input": [null]}),
            json!({"model": "m", "input": vec!["x"; MAX_INPUTS + 1]}),
        ] {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.status, 400, "{body}");
            assert_eq!(error.param, Some("input"), "{body}");
        }
        assert!(parse(json!({"model": "m", "input": vec!["x"; MAX_INPUTS]})).is_ok());
    }

    #[test]
    fn validates_model_format_and_dimensions() {
        assert_eq!(parse(json!({"input": "x"})).unwrap_err().param, Some("model"));
        assert_eq!(
            parse(json!({"model": 3, "input": "x"})).unwrap_err().param,
            Some("model")
        );
        assert_eq!(parse(json!(["x"])).unwrap_err().status, 400);
        let ok = parse(
            json!({"model": "m", "input": "x", "encoding_format": null, "dimensions": null, "user": "u", "extra": 1}),
        )
        .unwrap();
        assert_eq!(
            (ok.encoding_format, ok.embed.options.dimensions),
            (EncodingFormat::Float, None)
        );
        assert_eq!(
            parse(json!({"model": "m", "input": "x", "encoding_format": "base64"}))
                .unwrap()
                .encoding_format,
            EncodingFormat::Base64
        );
        assert_eq!(
            parse(json!({"model": "m", "input": "x", "encoding_format": "int8"}))
                .unwrap_err()
                .param,
            Some("encoding_format")
        );
        for bad in [json!(0), json!(-3), json!(1.5), json!("8")] {
            assert_eq!(
                parse(json!({"model": "m", "input": "x", "dimensions": bad}))
                    .unwrap_err()
                    .param,
                Some("dimensions")
            );
        }
        assert_eq!(
            parse(json!({"model": "m", "input": "x", "dimensions": 8}))
                .unwrap()
                .embed
                .options
                .dimensions,
            Some(8)
        );
    }

    #[test]
    fn prompt_name_is_an_extension_field() {
        let request = parse(json!({"model": "m", "input": "x", "prompt_name": "query"})).unwrap();
        assert_eq!(request.embed.options.prompt_name.as_deref(), Some("query"));
        assert!(request.embed.options.normalize, "OpenAI vectors are unit length");
    }
}
