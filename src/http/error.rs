//! How the service's one error answers over HTTP: OpenAI's shape
//! `{"error": {"message", "type", "param", "code"}}`, and the [`ErrorShape`] every other dialect
//! implements in its module from the error's status and [`ErrorKind`]; their handlers return it
//! as [`Shaped`] in that shape.

use std::marker::PhantomData;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::service::error::{excerpt, ApiError, ErrorKind};

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

impl ApiError {
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
        crate::service::record::note(|record| record.error = Some((self.kind, self.code)));
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), message = %self.message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), message = %self.message, "request rejected");
        }
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
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
