//! Reading a JSON request body, the same way for every dialect: the content type must be JSON
//! (or absent; Ollama's routes take any, as Ollama does, since its documented curl lines send
//! none), the size within the limit, the bytes valid JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::error::ApiError;
use super::input::excerpt;

/// `headers` is `None` where any content type is accepted.
pub fn read_json(
    headers: Option<&HeaderMap>,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Value, ApiError> {
    if let Some(content_type) = headers.and_then(|h| h.get(header::CONTENT_TYPE)) {
        let content_type = content_type.to_str().unwrap_or("<not text>");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::unsupported_media_type(&excerpt(content_type)));
        }
    }
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(limit),
        _ => ApiError::invalid(
            format!("Could not read the request body: {}", rejection.body_text()),
            "body",
        ),
    })?;
    serde_json::from_slice(&body).map_err(ApiError::bad_json)
}
