//! Reading a request body, the same way for every dialect: within the size limit, at no less
//! than a minimum rate (so a client that trickles its body cannot hold a connection and a task
//! for as long as it likes), then as JSON. The content type must be JSON, or absent; Ollama's
//! routes take any, as Ollama does, since its documented curl lines send none.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde_json::Value;

use super::error::{excerpt, ApiError};
use crate::service::AppState;

/// A request's body as read, or why it could not be.
pub struct RawBody(Result<Bytes, ApiError>);

impl FromRequest<Arc<AppState>> for RawBody {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let limits = state.limits;
        Ok(Self(
            read_limited(
                request.into_body(),
                limits.max_body_bytes,
                limits.body_read_timeout,
                limits.body_min_bytes_per_second,
            )
            .await,
        ))
    }
}

/// Reads the whole body: at most `limit` bytes, each byte arriving no later than `grace` plus
/// the time the bytes before it take at `min_rate` bytes a second.
async fn read_limited(body: axum::body::Body, limit: usize, grace: Duration, min_rate: u64) -> Result<Bytes, ApiError> {
    let started = tokio::time::Instant::now();
    let mut body = body;
    let mut bytes = Vec::new();
    loop {
        let allowance = grace + Duration::from_secs_f64(bytes.len() as f64 / min_rate.max(1) as f64);
        let frame = match tokio::time::timeout_at(started + allowance, body.frame()).await {
            Err(_) => return Err(ApiError::slow_body(bytes.len(), started.elapsed())),
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                return Err(ApiError::invalid(
                    format!("Could not read the request body: {}", excerpt(&error.to_string())),
                    "body",
                ))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// The body as JSON. `headers` is `None` where any content type is accepted.
pub fn read_json(headers: Option<&HeaderMap>, body: RawBody) -> Result<Value, ApiError> {
    if let Some(content_type) = headers.and_then(|h| h.get(header::CONTENT_TYPE)) {
        let content_type = content_type.to_str().unwrap_or("<not text>");
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::unsupported_media_type(&excerpt(content_type)));
        }
    }
    let body = body.0?;
    serde_json::from_slice(&body).map_err(ApiError::bad_json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn a_trickling_body_is_cut_off_and_a_fast_one_is_read() {
        let (sender, body) = {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, Infallible>>(4);
            (
                tx,
                axum::body::Body::new(http_body_util::StreamBody::new(tokio_stream(rx))),
            )
        };
        let reader = tokio::spawn(read_limited(body, 1 << 20, Duration::from_millis(200), 1000));
        for _ in 0..10 {
            if sender
                .send(Ok(http_body::Frame::data(Bytes::from_static(b"x"))))
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let error = reader.await.expect("joined").unwrap_err();
        assert_eq!(error.status, StatusCode::REQUEST_TIMEOUT);
        drop(sender);

        let body = axum::body::Body::from(vec![b'a'; 5000]);
        let read = read_limited(body, 1 << 20, Duration::from_millis(200), 1000)
            .await
            .expect("read");
        assert_eq!(read.len(), 5000);
        let body = axum::body::Body::from(vec![b'a'; 5000]);
        assert_eq!(
            read_limited(body, 100, Duration::from_secs(1), 1000)
                .await
                .unwrap_err()
                .status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    /// A receiver as a stream of frames.
    fn tokio_stream<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
