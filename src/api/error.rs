//! The one error type of the HTTP layer, and its OpenAI shape:
//! `{"error": {"message", "type", "param", "code"}}`. Other dialects shape the same error their
//! own way (an [`ErrorShape`] in their modules), from its status and [`ErrorKind`]; their
//! handlers return it as [`Shaped`] in that shape.
//!
//! Anything a client caused is a 4xx; 5xx (which clients retry) is kept for the server's own
//! failures, and 429 for a full queue, with `Retry-After`.

use std::marker::PhantomData;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model_store::LoadError;

/// What went wrong, for dialects whose status codes draw finer lines than OpenAI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is not JSON at all.
    Syntax,
    /// A field is missing or malformed, or names something that does not exist.
    Invalid,
    /// No input to embed.
    Empty,
    /// More inputs or tokens than the limits allow, or an over-long input not to be truncated.
    TooLarge,
    /// Anything else: the status says it.
    Other,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status on OpenAI's routes; other dialects may map [`ErrorKind`] differently.
    pub status: StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    retry_after_seconds: Option<u32>,
}

/// OpenAI's error body.
#[derive(Serialize, ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `requests` (429) or `server_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    pub code: Option<String>,
}

/// The `{"error": "..."}` body of the Inference API's and Ollama's routes.
#[derive(Serialize, ToSchema)]
pub struct SimpleError {
    pub error: String,
}

/// How a dialect answers an [`ApiError`].
pub trait ErrorShape {
    fn respond(error: ApiError) -> Response;
}

/// An [`ApiError`] answered in the shape `S`: the error type of a dialect's handlers, into
/// which `?` converts any `ApiError`.
pub struct Shaped<S>(ApiError, PhantomData<fn() -> S>);

impl<S> From<ApiError> for Shaped<S> {
    fn from(error: ApiError) -> Self {
        Self(error, PhantomData)
    }
}

impl<S: ErrorShape> IntoResponse for Shaped<S> {
    fn into_response(self) -> Response {
        S::respond(self.0)
    }
}

/// OpenAI's shape, which operations routes and unknown paths answer in too.
pub enum OpenAiShape {}

impl ErrorShape for OpenAiShape {
    fn respond(error: ApiError) -> Response {
        error.respond(error.status, error.to_json())
    }
}

/// `{"error": "..."}` with the OpenAI routes' status: the Inference API's and Ollama's shape.
pub enum PlainShape {}

impl ErrorShape for PlainShape {
    fn respond(error: ApiError) -> Response {
        let body = serde_json::to_string(&SimpleError {
            error: error.message.clone(),
        })
        .unwrap_or_default();
        error.respond(error.status, body)
    }
}

pub type PlainError = Shaped<PlainShape>;

/// At most the first 64 characters of something a client sent, for error messages.
pub fn excerpt(text: &str) -> String {
    const LIMIT: usize = 64;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status == StatusCode::BAD_REQUEST {
            ErrorKind::Invalid
        } else {
            ErrorKind::Other
        };
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after_seconds: None,
        }
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// 400: the request is malformed or asks for something impossible.
    pub fn invalid(message: impl Into<String>, param: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).with_param(param)
    }

    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("We could not parse the JSON body of your request ({detail}). The body must be a JSON object."),
        )
        .with_kind(ErrorKind::Syntax)
    }

    pub fn model_not_found(requested: &str, available: &[&str]) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!(
                "The model `{}` does not exist or is not served here. Available models: {}.",
                excerpt(requested),
                available.join(", ")
            ),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported Content-Type `{content_type}`; send the body as JSON with `Content-Type: application/json`."),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than this server's limit of {limit} bytes; send fewer or shorter inputs per request."),
        )
        .with_code("request_too_large")
        .with_kind(ErrorKind::TooLarge)
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!(
                "Unknown request URL: {method} {}. This server serves POST /v1/embeddings, GET /v1/models, GET /health and the TEI, Hugging Face Inference, Ollama and Cohere routes listed in its README (all of them in GET /openapi.json).",
                excerpt(path)
            ),
        )
        .with_code("unknown_url")
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {method} is not allowed for {}.", excerpt(path)),
        )
        .with_code("method_not_allowed")
    }

    /// 401: no key, or not one of the server's. The key is never repeated.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Missing or incorrect API key. Send it as `Authorization: Bearer YOUR_KEY`.",
        )
        .with_code("invalid_api_key")
    }

    /// 408: the body arrived slower than the minimum rate.
    pub fn slow_body(received: usize, elapsed: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "The request body arrived too slowly ({received} bytes in {:.1} s); send it at full speed.",
                elapsed.as_secs_f64()
            ),
        )
        .with_code("request_timeout")
    }

    /// 503: the request did not finish within the server's deadline and was cancelled.
    pub fn deadline(limit: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "The request did not finish within the server's deadline of {} s and was cancelled; retry, or send less per request.",
                limit.as_secs_f64()
            ),
        )
        .with_code("timeout");
        error.retry_after_seconds = Some(1);
        error
    }

    pub fn overloaded() -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "The server is at capacity: too many requests are waiting. Retry after a short pause.",
        )
        .with_code("rate_limit_exceeded");
        error.retry_after_seconds = Some(1);
        error
    }

    /// A listed model that could not be made ready. Neither a fault in its files (424, as TEI
    /// answers a backend failure) nor weights larger than the budget (507) go away on a retry,
    /// so neither carries `Retry-After`; a fault that may pass is 503 with it.
    pub fn model_load(model: &str, error: &LoadError) -> Self {
        let message = format!("The model {model} could not be loaded: {error}");
        match error {
            LoadError::Files(_) => Self::new(StatusCode::FAILED_DEPENDENCY, message).with_code("model_load_failed"),
            LoadError::OverBudget(_) => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, message).with_code("model_too_large")
            }
            LoadError::Transient(_) => Self::unavailable(message).with_code("model_unavailable"),
        }
    }

    pub fn server(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, message);
        error.retry_after_seconds = Some(5);
        error
    }

    /// OpenAI's `type`, which follows from the status.
    pub fn openai_type(&self) -> &'static str {
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            "requests"
        } else if self.status.is_server_error() || self.status == StatusCode::FAILED_DEPENDENCY {
            "server_error"
        } else {
            "invalid_request_error"
        }
    }

    pub fn to_json(&self) -> String {
        let body = OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: self.message.clone(),
                kind: self.openai_type().to_owned(),
                param: self.param.map(str::to_owned),
                code: self.code.map(str::to_owned),
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| {
            String::from("{\"error\":{\"message\":\"error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}")
        })
    }

    /// A JSON response with `body`, logged at the level the status deserves, with
    /// `Retry-After` where the error has one. Every dialect answers its errors through this.
    pub fn respond(&self, status: StatusCode, body: String) -> Response {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), message = %self.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), message = %self.message, "request rejected");
        }
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        OpenAiShape::respond(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_openai_shape_with_nulls() {
        let json: serde_json::Value = serde_json::from_str(&ApiError::invalid("bad", "input").to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"message": "bad", "type": "invalid_request_error", "param": "input", "code": null}})
        );
        let json: serde_json::Value = serde_json::from_str(&ApiError::server("x").to_json()).unwrap();
        assert_eq!(json["error"]["param"], serde_json::Value::Null);
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1_000_000);
        assert!(excerpt(&long).len() < 100);
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn overload_is_429_with_retry_after() {
        let response = ApiError::overloaded().into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
