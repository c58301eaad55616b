//! The error responses of each dialect, as sets the paths refer to.

// Read by utoipa's macros to build the document; never constructed or called at run time.
#![allow(dead_code)]

use crate::http::error::{OpenAiErrorBody, SimpleError};
use crate::http::tei::TeiErrorBody;

/// The errors of OpenAI's routes.
#[derive(utoipa::IntoResponses)]
pub enum OpenAiErrors {
    /// A malformed request
    #[response(status = 400)]
    BadRequest(OpenAiErrorBody),
    /// No key, or a wrong one
    #[response(status = 401)]
    Unauthorized(OpenAiErrorBody),
    /// An unknown model
    #[response(status = 404)]
    NotFound(OpenAiErrorBody),
    /// The body arrived too slowly
    #[response(status = 408)]
    Timeout(OpenAiErrorBody),
    /// The body is over the size limit
    #[response(status = 413)]
    TooLarge(OpenAiErrorBody),
    /// Not a JSON body
    #[response(status = 415)]
    UnsupportedMediaType(OpenAiErrorBody),
    /// The queue is full; retry after `Retry-After`
    #[response(status = 429)]
    Overloaded(OpenAiErrorBody),
    /// The model's files are missing, damaged or unsupported (no retry helps)
    #[response(status = 424)]
    ModelLoadFailed(OpenAiErrorBody),
    /// A fault that may pass (the hub unreachable, a download cut short), or the request passed its
    /// deadline; retry after `Retry-After`
    #[response(status = 503)]
    Unavailable(OpenAiErrorBody),
    /// The model's weights need more memory than the server's budget (no retry helps)
    #[response(status = 507)]
    ModelTooLarge(OpenAiErrorBody),
}

/// The errors of the Inference API's and Ollama's routes, `{"error": "..."}`.
#[derive(utoipa::IntoResponses)]
pub enum PlainErrors {
    /// A malformed request
    #[response(status = 400)]
    BadRequest(SimpleError),
    /// No key, or a wrong one
    #[response(status = 401)]
    Unauthorized(SimpleError),
    /// An unknown model
    #[response(status = 404)]
    NotFound(SimpleError),
    /// The body arrived too slowly
    #[response(status = 408)]
    Timeout(SimpleError),
    /// The body is over the size limit
    #[response(status = 413)]
    TooLarge(SimpleError),
    /// Not a JSON body (the Inference API's routes)
    #[response(status = 415)]
    UnsupportedMediaType(SimpleError),
    /// The queue is full; retry after `Retry-After`
    #[response(status = 429)]
    Overloaded(SimpleError),
    /// The model's files are missing, damaged or unsupported (no retry helps)
    #[response(status = 424)]
    ModelLoadFailed(SimpleError),
    /// A fault that may pass (the hub unreachable, a download cut short), or the request passed its
    /// deadline; retry after `Retry-After`
    #[response(status = 503)]
    Unavailable(SimpleError),
    /// The model's weights need more memory than the server's budget (no retry helps)
    #[response(status = 507)]
    ModelTooLarge(SimpleError),
}

/// The errors of text-embeddings-inference's routes, with TEI's statuses.
#[derive(utoipa::IntoResponses)]
pub enum TeiErrors {
    /// Not JSON, or no input (`error_type: empty`)
    #[response(status = 400)]
    BadRequest(TeiErrorBody),
    /// No key, or a wrong one
    #[response(status = 401)]
    Unauthorized(TeiErrorBody),
    /// An unknown `model`
    #[response(status = 404)]
    NotFound(TeiErrorBody),
    /// The body arrived too slowly
    #[response(status = 408)]
    Timeout(TeiErrorBody),
    /// Too many inputs or tokens, or an over-long input with truncation off
    #[response(status = 413)]
    TooLarge(TeiErrorBody),
    /// Not a JSON body
    #[response(status = 415)]
    UnsupportedMediaType(TeiErrorBody),
    /// A malformed field
    #[response(status = 422)]
    Invalid(TeiErrorBody),
    /// The queue is full
    #[response(status = 429)]
    Overloaded(TeiErrorBody),
    /// The model's files are missing, damaged or unsupported (no retry helps)
    #[response(status = 424)]
    ModelLoadFailed(TeiErrorBody),
    /// A fault that may pass (the hub unreachable, a download cut short), or the request passed its
    /// deadline; retry after `Retry-After`
    #[response(status = 503)]
    Unavailable(TeiErrorBody),
    /// The model's weights need more memory than the server's budget (no retry helps)
    #[response(status = 507)]
    ModelTooLarge(TeiErrorBody),
}

/// The errors of Cohere's routes, `{"message": "..."}`.
#[derive(utoipa::IntoResponses)]
pub enum CohereErrors {
    /// A malformed request, or an over-long text with `truncate: NONE`
    #[response(status = 400)]
    BadRequest(crate::http::cohere::CohereErrorBody),
    /// No key, or a wrong one
    #[response(status = 401)]
    Unauthorized(crate::http::cohere::CohereErrorBody),
    /// An unknown model
    #[response(status = 404)]
    NotFound(crate::http::cohere::CohereErrorBody),
    /// The body arrived too slowly
    #[response(status = 408)]
    Timeout(crate::http::cohere::CohereErrorBody),
    /// The body is over the size limit
    #[response(status = 413)]
    TooLarge(crate::http::cohere::CohereErrorBody),
    /// Not a JSON body
    #[response(status = 415)]
    UnsupportedMediaType(crate::http::cohere::CohereErrorBody),
    /// The queue is full; retry after `Retry-After`
    #[response(status = 429)]
    Overloaded(crate::http::cohere::CohereErrorBody),
    /// The model's files are missing, damaged or unsupported (no retry helps)
    #[response(status = 424)]
    ModelLoadFailed(crate::http::cohere::CohereErrorBody),
    /// A fault that may pass (the hub unreachable, a download cut short), or the request passed its
    /// deadline; retry after `Retry-After`
    #[response(status = 503)]
    Unavailable(crate::http::cohere::CohereErrorBody),
    /// The model's weights need more memory than the server's budget (no retry helps)
    #[response(status = 507)]
    ModelTooLarge(crate::http::cohere::CohereErrorBody),
}
