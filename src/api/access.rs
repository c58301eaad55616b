//! Request ids and the access log: every request gets an `X-Request-Id` (the client's, when it
//! sent a sensible one, else a new UUID), echoed on the response, and one structured log line
//! at info level when it is answered, with what the handler noted along the way (model, inputs,
//! tokens, queue wait). The same figures feed the request metrics.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const REQUEST_ID: &str = "x-request-id";

/// What a handler learned about a request, for its access-log line.
#[derive(Debug, Clone, Default)]
pub struct AccessRecord {
    pub model: Option<String>,
    pub inputs: usize,
    pub tokens: usize,
    pub queue_wait: Option<Duration>,
}

tokio::task_local! {
    static RECORD: RefCell<AccessRecord>;
}

/// Adds to the current request's record; a no-op outside a request.
pub fn note(update: impl FnOnce(&mut AccessRecord)) {
    let _ = RECORD.try_with(|record| update(&mut record.borrow_mut()));
}

/// The client's id if it is short printable ASCII without spaces, else a new one.
fn request_id(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(REQUEST_ID)
        .filter(|value| {
            let bytes = value.as_bytes();
            !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("unknown"))
        })
}

pub async fn log_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let (mut response, record) = RECORD
        .scope(RefCell::new(AccessRecord::default()), async {
            let response = next.run(request).await;
            (response, RECORD.with(|record| record.borrow().clone()))
        })
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let model = record.model.as_deref().unwrap_or("");
    tracing::info!(
        target: "embeddings::access",
        request_id = id.to_str().unwrap_or(""),
        method = %method,
        route = %route,
        model,
        status,
        inputs = record.inputs,
        tokens = record.tokens,
        queue_wait_ms = record.queue_wait.map(|d| d.as_secs_f64() * 1e3),
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    crate::metrics::request(&route, model, status, elapsed);
    response
}
