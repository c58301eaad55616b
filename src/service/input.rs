//! The parts of a request body every dialect shares: the input (a string, strings, token ids or
//! arrays of token ids) and the embedding options (`prompt_name`, `dimensions`, `normalize`,
//! `truncate`, `truncation_direction`), each read by hand from JSON so that every malformed
//! field gets a message naming it and what it accepts.

use serde_json::{Map, Value};

use super::error::{excerpt, ApiError, ErrorKind};
use crate::model_store::KeepAlive;
use crate::tokenize::Truncation;

/// OpenAI's own cap on inputs per request, applied to every dialect.
pub const MAX_INPUTS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Texts(Vec<String>),
    Tokens(Vec<Vec<u32>>),
    /// Texts and token arrays in one batch, as TEI's untagged input takes them
    /// (`["hello", [101, 2088, 102]]`).
    Mixed(Vec<InputItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    Text(String),
    Tokens(Vec<u32>),
}

impl Input {
    /// The characters of its texts (none for token ids).
    pub fn characters(&self) -> usize {
        let count = |text: &String| text.chars().count();
        match self {
            Input::Texts(texts) => texts.iter().map(count).sum(),
            Input::Tokens(_) => 0,
            Input::Mixed(items) => items
                .iter()
                .map(|item| match item {
                    InputItem::Text(text) => count(text),
                    InputItem::Tokens(_) => 0,
                })
                .sum(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Input::Texts(texts) => texts.len(),
            Input::Tokens(tokens) => tokens.len(),
            Input::Mixed(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const INPUT_SHAPES: &str =
    "a string, an array of strings, an array of token ids, or an array of strings and arrays of token ids";

/// Reads the input field `field` (`input`, `inputs`, `prompt`).
pub fn parse_input(value: Value, field: &'static str) -> Result<Input, ApiError> {
    let invalid = |message: String| ApiError::invalid(message, field);
    let items = match value {
        Value::String(text) => return Ok(Input::Texts(vec![text])),
        Value::Array(items) => items,
        // A missing field is a validation error (TEI: 422); an empty batch is `Empty` (TEI: 400).
        Value::Null => return Err(invalid(format!("You must provide an `{field}` to embed."))),
        _ => return Err(invalid(format!("`{field}` must be {INPUT_SHAPES}."))),
    };
    if items.is_empty() {
        return Err(invalid(format!("`{field}` must not be an empty array.")).with_kind(ErrorKind::Empty));
    }
    if items.len() > MAX_INPUTS {
        return Err(invalid(format!(
            "`{field}` has {} items; at most {MAX_INPUTS} are allowed per request.",
            items.len()
        ))
        .with_kind(ErrorKind::TooLarge));
    }
    let texts = items.iter().filter(|item| item.is_string()).count();
    if texts > 0 && texts < items.len() && items.iter().all(|item| item.is_string() || item.is_array()) {
        return items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => Ok(InputItem::Text(text)),
                Value::Array(ids) if ids.is_empty() => Err(invalid(format!("`{field}[{i}]` is an empty token array."))),
                Value::Array(ids) => token_ids(&ids, field, Some(i)).map(InputItem::Tokens),
                _ => Err(invalid(format!("`{field}` must be {INPUT_SHAPES}."))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Input::Mixed);
    }
    match &items[0] {
        Value::String(_) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => Ok(text),
                _ => Err(invalid(format!(
                    "`{field}` must be {INPUT_SHAPES}; item {i} is not a string like the first."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Input::Texts),
        Value::Number(_) => Ok(Input::Tokens(vec![token_ids(&items, field, None)?])),
        Value::Array(_) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Array(ids) if ids.is_empty() => Err(invalid(format!("`{field}[{i}]` is an empty token array."))),
                Value::Array(ids) => token_ids(ids, field, Some(i)),
                _ => Err(invalid(format!(
                    "`{field}` must be {INPUT_SHAPES}; item {i} is not a token array like the first."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Input::Tokens),
        _ => Err(invalid(format!("`{field}` must be {INPUT_SHAPES}."))),
    }
}

fn token_ids(values: &[Value], field: &'static str, outer: Option<usize>) -> Result<Vec<u32>, ApiError> {
    values
        .iter()
        .enumerate()
        .map(|(j, value)| {
            value.as_u64().and_then(|id| u32::try_from(id).ok()).ok_or_else(|| {
                let place = match outer {
                    Some(i) => format!("{field}[{i}][{j}]"),
                    None => format!("{field}[{j}]"),
                };
                ApiError::invalid(
                    format!(
                        "`{place}` is {}, which is not a valid token id (a non-negative integer).",
                        excerpt(&value.to_string())
                    ),
                    field,
                )
            })
        })
        .collect()
}

/// The embedding options a request may carry, in any dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOptions {
    /// One of the model's sentence-transformers prompts, by name.
    pub prompt_name: Option<String>,
    /// Keep the first N components (Matryoshka-style shortening).
    pub dimensions: Option<usize>,
    /// `false`: the pipeline's own vector, without the final L2 normalisation.
    pub normalize: bool,
    pub truncation: Truncation,
    /// Whether the request said how to truncate; when it did not, `--auto-truncate false`
    /// makes an over-long input an error.
    pub truncation_chosen: bool,
    /// How long the model stays loaded after this request (Ollama's `keep_alive`); `None`: the
    /// server's `--keep-alive`.
    pub keep_alive: Option<KeepAlive>,
    /// A sparse model's vectors keep only this many of their largest values; `None`: the
    /// model's own `max_active_dims`, if any.
    pub max_active_dims: Option<usize>,
    /// What the texts are (`query` or `document`, also Cohere's `search_query` /
    /// `search_document`): picks an inference-free sparse model's route, and the prompt of
    /// that name when the request names none, as `encode_query` / `encode_document` do.
    pub input_type: Option<String>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            prompt_name: None,
            dimensions: None,
            normalize: true,
            truncation: Truncation::Right,
            truncation_chosen: false,
            keep_alive: None,
            max_active_dims: None,
            input_type: None,
        }
    }
}

impl EmbedOptions {
    /// Takes the option fields out of `fields`, over the values already in `self` (so a dialect
    /// can read a nested `parameters` object after the top level).
    pub fn read(mut self, fields: &mut Map<String, Value>) -> Result<Self, ApiError> {
        if let Some(value) = take(fields, "prompt_name") {
            self.prompt_name = match value {
                Value::String(name) => Some(name),
                _ => return Err(ApiError::invalid("`prompt_name` must be a string.", "prompt_name")),
            };
        }
        if let Some(value) = take(fields, "dimensions") {
            self.dimensions = Some(positive(value, "dimensions")?);
        }
        if let Some(value) = take(fields, "input_type") {
            self.input_type = match value {
                Value::String(kind) => Some(match kind.as_str() {
                    "search_query" => "query".to_owned(),
                    "search_document" => "document".to_owned(),
                    _ => kind,
                }),
                _ => return Err(ApiError::invalid("`input_type` must be a string.", "input_type")),
            };
        }
        if let Some(value) = take(fields, "max_active_dims") {
            self.max_active_dims = Some(positive(value, "max_active_dims")?);
        }
        if let Some(value) = take(fields, "normalize") {
            self.normalize = boolean(value, "normalize")?;
        }
        self.truncation_chosen |= ["truncate", "truncation_direction"]
            .iter()
            .any(|key| fields.get(*key).is_some_and(|v| !v.is_null()));
        self.truncation = truncation(fields, self.truncation)?;
        Ok(self)
    }
}

fn positive(value: Value, field: &'static str) -> Result<usize, ApiError> {
    match value.as_u64().filter(|&d| d >= 1) {
        Some(d) => Ok(usize::try_from(d).unwrap_or(usize::MAX)),
        None => Err(ApiError::invalid(
            format!(
                "`{field}` must be a positive integer, not {}.",
                excerpt(&value.to_string())
            ),
            field,
        )),
    }
}

/// Takes TEI's `truncate` (`false`: never truncate) and `truncation_direction` (`right` or
/// `left`, any case) out of `fields`, over `current`.
pub fn truncation(fields: &mut Map<String, Value>, current: Truncation) -> Result<Truncation, ApiError> {
    let truncate = take(fields, "truncate").map(|v| boolean(v, "truncate")).transpose()?;
    let direction = match take(fields, "truncation_direction") {
        None => None,
        Some(Value::String(d)) if d.eq_ignore_ascii_case("right") => Some(Truncation::Right),
        Some(Value::String(d)) if d.eq_ignore_ascii_case("left") => Some(Truncation::Left),
        Some(other) => {
            return Err(ApiError::invalid(
                format!(
                    "`truncation_direction` must be \"right\" or \"left\", not {}.",
                    excerpt(&other.to_string())
                ),
                "truncation_direction",
            ))
        }
    };
    Ok(match (truncate, direction) {
        (Some(false), _) => Truncation::Off,
        (_, Some(direction)) => direction,
        (Some(true), None) if current == Truncation::Off => Truncation::Right,
        _ => current,
    })
}

/// Removes `key`, treating an explicit `null` as absent.
pub fn take(fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
    fields.remove(key).filter(|v| !v.is_null())
}

pub fn boolean(value: Value, field: &'static str) -> Result<bool, ApiError> {
    value
        .as_bool()
        .ok_or_else(|| ApiError::invalid(format!("`{field}` must be true or false."), field))
}

/// Reads a string field that names a model.
pub fn model_name(value: Option<Value>, field: &'static str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(Some(name)),
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(ApiError::invalid(format!("`{field}` must be a string."), field)),
    }
}

/// The body as an object, or a 400.
pub fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::invalid("The request body must be a JSON object.", "body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(body: Value) -> Result<EmbedOptions, ApiError> {
        let Value::Object(mut fields) = body else {
            panic!("object")
        };
        EmbedOptions::default().read(&mut fields)
    }

    #[test]
    fn options_have_tei_defaults_and_are_validated() {
        assert_eq!(options(json!({})).unwrap(), EmbedOptions::default());
        let read =
            options(json!({"normalize": false, "truncate": false, "dimensions": 8, "prompt_name": "q"})).unwrap();
        assert_eq!(read.truncation, Truncation::Off);
        assert!(!read.normalize);
        assert_eq!((read.dimensions, read.prompt_name.as_deref()), (Some(8), Some("q")));
        assert_eq!(
            options(json!({"truncation_direction": "Left"})).unwrap().truncation,
            Truncation::Left
        );
        assert_eq!(
            options(json!({"truncate": null, "normalize": null})).unwrap(),
            EmbedOptions::default()
        );
        for (bad, param) in [
            (json!({"normalize": "yes"}), "normalize"),
            (json!({"truncate": 1}), "truncate"),
            (json!({"truncation_direction": "middle"}), "truncation_direction"),
            (json!({"dimensions": 0}), "dimensions"),
            (json!({"max_active_dims": -3}), "max_active_dims"),
            (json!({"prompt_name": 3}), "prompt_name"),
        ] {
            assert_eq!(options(bad).unwrap_err().param, Some(param));
        }
    }

    #[test]
    fn inputs_are_parsed_under_the_dialects_field_name() {
        assert_eq!(
            parse_input(json!(["a", "b"]), "inputs").unwrap(),
            Input::Texts(vec!["a".into(), "b".into()])
        );
        let error = parse_input(json!([]), "inputs").unwrap_err();
        assert_eq!((error.param, error.kind), (Some("inputs"), ErrorKind::Empty));
        let error = parse_input(Value::Null, "inputs").unwrap_err();
        assert_eq!((error.param, error.kind), (Some("inputs"), ErrorKind::Invalid));
        // TEI's untagged input: texts and token arrays in one batch.
        assert_eq!(
            parse_input(json!(["hello", [101, 2088, 102]]), "inputs").unwrap(),
            Input::Mixed(vec![
                InputItem::Text("hello".into()),
                InputItem::Tokens(vec![101, 2088, 102])
            ])
        );
        assert!(parse_input(json!(["hello", 5]), "inputs").is_err());
        assert!(parse_input(json!(["hello", []]), "inputs").is_err());
        let error = parse_input(json!(vec!["x"; MAX_INPUTS + 1]), "input").unwrap_err();
        assert_eq!(error.kind, ErrorKind::TooLarge);
    }
}
