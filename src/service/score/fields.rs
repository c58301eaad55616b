//! The fields rerank bodies share across dialects (`query`, `documents`, `top_n`, ...), each
//! read by hand so a malformed one gets a message naming it, and the ranking every rerank
//! answer is sorted by.

use serde_json::{Map, Value};

use crate::service::error::{excerpt, ApiError, ErrorKind};
use crate::service::input::{boolean, take};

/// A required string field.
pub fn string(fields: &mut Map<String, Value>, key: &'static str) -> Result<String, ApiError> {
    match take(fields, key) {
        Some(Value::String(text)) => Ok(text),
        None => Err(ApiError::invalid(format!("`{key}` is required."), key)),
        Some(other) => Err(ApiError::invalid(
            format!("`{key}` must be a string, not {}.", excerpt(&other.to_string())),
            key,
        )),
    }
}

/// Whether a list item may be Cohere v1's `{"text": ...}` object as well as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Documents {
    Strings,
    StringsOrTextObjects,
}

/// A non-empty array of strings (`documents`, `texts`).
pub fn strings(
    fields: &mut Map<String, Value>,
    key: &'static str,
    allowed: Documents,
) -> Result<Vec<String>, ApiError> {
    let items = match take(fields, key) {
        Some(Value::Array(items)) => items,
        None => return Err(ApiError::invalid(format!("`{key}` is required."), key).with_kind(ErrorKind::Empty)),
        Some(other) => {
            return Err(ApiError::invalid(
                format!(
                    "`{key}` must be an array of strings, not {}.",
                    excerpt(&other.to_string())
                ),
                key,
            ))
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid(format!("`{key}` must not be empty."), key).with_kind(ErrorKind::Empty));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => Ok(text),
            Value::Object(mut object) if allowed == Documents::StringsOrTextObjects => match object.remove("text") {
                Some(Value::String(text)) => Ok(text),
                _ => Err(ApiError::invalid(
                    format!("`{key}[{i}]` must be a string or an object with a string `text`."),
                    key,
                )),
            },
            other => Err(ApiError::invalid(
                format!("`{key}[{i}]` must be a string, not {}.", excerpt(&other.to_string())),
                key,
            )),
        })
        .collect()
}

/// An optional integer of at least 1 (`top_n`, `max_tokens_per_doc`).
pub fn positive(fields: &mut Map<String, Value>, key: &'static str) -> Result<Option<usize>, ApiError> {
    match take(fields, key) {
        None => Ok(None),
        Some(value) => match value.as_u64().filter(|&n| n >= 1) {
            Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            None => Err(ApiError::invalid(
                format!(
                    "`{key}` must be an integer of at least 1, not {}.",
                    excerpt(&value.to_string())
                ),
                key,
            )),
        },
    }
}

/// An optional boolean with its default.
pub fn flag(fields: &mut Map<String, Value>, key: &'static str, default: bool) -> Result<bool, ApiError> {
    take(fields, key).map_or(Ok(default), |value| boolean(value, key))
}

/// Document indices by descending score (ties in document order), the first `top_n`.
pub fn ranking(scores: &[f32], top_n: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(top_n.unwrap_or(usize::MAX));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Map<String, Value> {
        match body {
            Value::Object(fields) => fields,
            _ => Map::new(),
        }
    }

    #[test]
    fn documents_are_strings_or_v1_text_objects() {
        let mut body = fields(json!({"documents": ["a", {"text": "b"}]}));
        let read = strings(&mut body, "documents", Documents::StringsOrTextObjects).expect("reads");
        assert_eq!(read, vec!["a", "b"]);
        let mut body = fields(json!({"documents": ["a", {"text": "b"}]}));
        let error = strings(&mut body, "documents", Documents::Strings).unwrap_err();
        assert!(error.message.contains("documents[1]"), "{}", error.message);
        let mut body = fields(json!({"documents": []}));
        assert_eq!(
            strings(&mut body, "documents", Documents::Strings).unwrap_err().kind,
            ErrorKind::Empty
        );
        let mut body = fields(json!({"documents": [3]}));
        assert!(strings(&mut body, "documents", Documents::Strings).is_err());
    }

    #[test]
    fn top_n_must_be_positive_and_ranking_is_stable() {
        for bad in [json!(0), json!(-1), json!("3"), json!(1.5)] {
            let mut body = fields(json!({ "top_n": bad }));
            assert!(positive(&mut body, "top_n").is_err());
        }
        let mut body = fields(json!({"top_n": 2}));
        assert_eq!(positive(&mut body, "top_n").expect("reads"), Some(2));
        assert_eq!(ranking(&[0.1, 0.5, 0.5, 0.9], None), vec![3, 1, 2, 0]);
        assert_eq!(ranking(&[0.1, 0.5, 0.5, 0.9], Some(2)), vec![3, 1]);
    }
}
