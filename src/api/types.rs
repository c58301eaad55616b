//! OpenAI embeddings request and response bodies.
//!
//! The request is read from a `serde_json::Value` by hand rather than derived, so that every
//! malformed field gets a message naming that field and what it accepts.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;

/// OpenAI's own cap on inputs per request.
pub const MAX_INPUTS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Texts(Vec<String>),
    Tokens(Vec<Vec<u32>>),
}

impl Input {
    pub fn len(&self) -> usize {
        match self {
            Input::Texts(texts) => texts.len(),
            Input::Tokens(tokens) => tokens.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Input,
    pub encoding_format: EncodingFormat,
    pub dimensions: Option<usize>,
    /// An extension: one of the model's sentence-transformers prompts, by name.
    pub prompt_name: Option<String>,
}

const INPUT_SHAPES: &str =
    "`input` must be a string, an array of strings, an array of token ids, or an array of arrays of token ids";

impl EmbeddingRequest {
    pub fn from_json(body: Value) -> Result<Self, ApiError> {
        let Value::Object(mut fields) = body else {
            return Err(ApiError::invalid("The request body must be a JSON object.", "body"));
        };
        let model = match fields.remove("model") {
            Some(Value::String(model)) if !model.trim().is_empty() => model,
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ApiError::invalid(
                    "You must provide a model parameter (a model id from GET /v1/models).",
                    "model",
                ))
            }
            Some(_) => return Err(ApiError::invalid("`model` must be a string.", "model")),
        };
        let input = parse_input(fields.remove("input").unwrap_or(Value::Null))?;
        let encoding_format = match fields.remove("encoding_format") {
            None | Some(Value::Null) => EncodingFormat::Float,
            Some(Value::String(format)) if format == "float" => EncodingFormat::Float,
            Some(Value::String(format)) if format == "base64" => EncodingFormat::Base64,
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("`encoding_format` must be \"float\" or \"base64\", not {other}."),
                    "encoding_format",
                ))
            }
        };
        let dimensions = match fields.remove("dimensions") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|d| d >= 1) => n.as_u64().map(|d| d as usize),
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("`dimensions` must be a positive integer, not {other}."),
                    "dimensions",
                ))
            }
        };
        let prompt_name = match fields.remove("prompt_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err(ApiError::invalid("`prompt_name` must be a string.", "prompt_name")),
        };
        // `user` and any other field are accepted and ignored, as OpenAI-compatible clients
        // send extras (e.g. `user`, provider-specific options).
        Ok(Self {
            model,
            input,
            encoding_format,
            dimensions,
            prompt_name,
        })
    }
}

fn parse_input(value: Value) -> Result<Input, ApiError> {
    let invalid = |message: String| ApiError::invalid(message, "input");
    let items = match value {
        Value::String(text) => return Ok(Input::Texts(vec![text])),
        Value::Array(items) => items,
        Value::Null => return Err(invalid("You must provide an `input` to embed.".to_owned())),
        _ => return Err(invalid(format!("{INPUT_SHAPES}."))),
    };
    if items.is_empty() {
        return Err(invalid("`input` must not be an empty array.".to_owned()));
    }
    if items.len() > MAX_INPUTS {
        return Err(invalid(format!(
            "`input` has {} items; at most {MAX_INPUTS} are allowed per request.",
            items.len()
        )));
    }
    match &items[0] {
        Value::String(_) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => Ok(text),
                _ => Err(invalid(format!(
                    "{INPUT_SHAPES}; item {i} is not a string like the first."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Input::Texts),
        Value::Number(_) => Ok(Input::Tokens(vec![token_ids(&items, None)?])),
        Value::Array(_) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Array(ids) if ids.is_empty() => Err(invalid(format!("`input[{i}]` is an empty token array."))),
                Value::Array(ids) => token_ids(ids, Some(i)),
                _ => Err(invalid(format!(
                    "{INPUT_SHAPES}; item {i} is not a token array like the first."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Input::Tokens),
        _ => Err(invalid(format!("{INPUT_SHAPES}."))),
    }
}

fn token_ids(values: &[Value], outer: Option<usize>) -> Result<Vec<u32>, ApiError> {
    values
        .iter()
        .enumerate()
        .map(|(j, value)| {
            value.as_u64().and_then(|id| u32::try_from(id).ok()).ok_or_else(|| {
                let place = match outer {
                    Some(i) => format!("input[{i}][{j}]"),
                    None => format!("input[{j}]"),
                };
                ApiError::invalid(
                    format!("`{place}` is {value}, which is not a valid token id (a non-negative integer)."),
                    "input",
                )
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct EmbeddingResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: Usage,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingData {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingValue,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EmbeddingValue {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub total_tokens: usize,
}

/// The vector as the API answers it: the first `dimensions` components when asked for (the
/// Matryoshka-style shortening OpenAI's `dimensions` parameter performs), always at unit length
/// so that cosine similarity is a dot product, as with OpenAI's models.
pub fn unit_vector(mut vector: Vec<f32>, dimensions: Option<usize>) -> Vec<f32> {
    if let Some(dimensions) = dimensions {
        vector.truncate(dimensions);
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

/// Standard base64 of the little-endian float32 bytes, as OpenAI's SDKs decode it.
pub fn encode_base64(vector: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl EmbeddingResponse {
    pub fn new(
        model: String,
        vectors: Vec<Vec<f32>>,
        prompt_tokens: usize,
        format: EncodingFormat,
        dimensions: Option<usize>,
    ) -> Self {
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(index, vector)| {
                let vector = unit_vector(vector, dimensions);
                let embedding = match format {
                    EncodingFormat::Float => EmbeddingValue::Float(vector),
                    EncodingFormat::Base64 => EmbeddingValue::Base64(encode_base64(&vector)),
                };
                EmbeddingData {
                    object: "embedding",
                    index,
                    embedding,
                }
            })
            .collect();
        Self {
            object: "list",
            data,
            model,
            usage: Usage {
                prompt_tokens,
                total_tokens: prompt_tokens,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<EmbeddingRequest, ApiError> {
        EmbeddingRequest::from_json(body)
    }

    #[test]
    fn accepts_every_input_form() {
        assert_eq!(
            parse(json!({"model": "m", "input": "hi"})).unwrap().input,
            Input::Texts(vec!["hi".into()])
        );
        assert_eq!(
            parse(json!({"model": "m", "input": ""})).unwrap().input,
            Input::Texts(vec!["".into()])
        );
        assert_eq!(
            parse(json!({"model": "m", "input": ["a", "b"]})).unwrap().input,
            Input::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse(json!({"model": "m", "input": [1, 2]})).unwrap().input,
            Input::Tokens(vec![vec![1, 2]])
        );
        assert_eq!(
            parse(json!({"model": "m", "input": [[1], [2, 3]]})).unwrap().input,
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
        assert_eq!((ok.encoding_format, ok.dimensions), (EncodingFormat::Float, None));
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
                .dimensions,
            Some(8)
        );
    }

    #[test]
    fn vectors_are_shortened_and_always_unit_length() {
        let v = vec![0.6, 0.8, 0.0];
        assert_eq!(unit_vector(v.clone(), Some(3)), v);
        assert_eq!(unit_vector(vec![3.0, 4.0], None), vec![0.6, 0.8]);
        let short = unit_vector(vec![0.5, 0.5, 0.5, 0.5], Some(2));
        let norm: f32 = short.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        assert!((short[0] - short[1]).abs() < 1e-7);
    }

    #[test]
    fn base64_is_little_endian_float32() {
        assert_eq!(encode_base64(&[1.0]), "AACAPw==");
        assert_eq!(encode_base64(&[]), "");
    }
}
