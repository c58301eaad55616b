//! The one error type of the operations. Each transport shapes it its own way: the HTTP
//! dialects from its status and [`ErrorKind`] (`crate::http::error`), gRPC as a status code
//! (`crate::grpc::call`).
//!
//! Anything a client caused is a 4xx; 5xx (which clients retry) is kept for the server's own
//! failures, and 429 for a full queue, with `Retry-After`. One server fault is a 4xx on purpose:
//! a model whose files cannot load is 424, as TEI answers a backend failure, since no retry
//! mends it.

use http::StatusCode;

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
    /// The model named cannot do what the route does (an embedding model asked to rerank):
    /// invalid in most dialects, TEI's backend error (424).
    WrongModelKind,
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

    /// Seconds the client should wait before retrying, where waiting helps.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        self.retry_after_seconds
    }
}
