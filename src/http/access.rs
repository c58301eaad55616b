//! Request ids, timings and the access log: every request gets an `X-Request-Id` (the client's,
//! when it sent a sensible one, else a new UUID), echoed on the response, and one structured log
//! line at info level when it is answered, with what the handler noted along the way (model,
//! inputs, tokens, where the time went). The same figures feed the request metrics. A request
//! that computed embeddings answers, whichever dialect it spoke, with text-embeddings-inference's
//! timing headers (milliseconds): `x-compute-time`, `x-compute-tokens`, `x-compute-characters`,
//! `x-compute-type`, `x-tokenization-time`, `x-queue-time`, `x-inference-time`, `x-total-time`.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::service::record::{recorded, ComputeRecord};

pub const REQUEST_ID: &str = "x-request-id";

/// The timing headers an embedding answer carries, which browsers may read too (CORS).
pub const TIMING_HEADERS: [&str; 8] = [
    "x-compute-type",
    "x-compute-time",
    "x-compute-characters",
    "x-compute-tokens",
    "x-tokenization-time",
    "x-queue-time",
    "x-inference-time",
    "x-total-time",
];

/// The timing headers of an answer that computed embeddings.
fn add_headers(compute: &ComputeRecord, headers: &mut HeaderMap, tokens: usize, total: Duration) {
    let millis = |d: Duration| HeaderValue::from(d.as_millis() as u64);
    let values = [
        HeaderValue::from_static(compute.device),
        millis(compute.tokenization + compute.queue + compute.inference),
        HeaderValue::from(compute.characters as u64),
        HeaderValue::from(tokens as u64),
        millis(compute.tokenization),
        millis(compute.queue),
        millis(compute.inference),
        millis(total),
    ];
    for (name, value) in TIMING_HEADERS.into_iter().zip(values) {
        headers.insert(name, value);
    }
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
    // The parent of the request's stage spans, so a collector sees them as one request.
    let span = tracing::debug_span!("request", request_id = id.to_str().unwrap_or(""), %method, %route);
    let (mut response, record) = recorded(next.run(request).instrument(span)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let compute = record.compute.filter(|_| response.status().is_success());
    if let Some(compute) = &compute {
        add_headers(compute, response.headers_mut(), record.tokens, elapsed);
    }
    let model = record.model.as_deref().unwrap_or("");
    let logged_model = record.model.as_deref().or(record.requested.as_deref()).unwrap_or("");
    tracing::info!(
        target: "embeddings::access",
        request_id = id.to_str().unwrap_or(""),
        method = %method,
        route = %route,
        model = logged_model,
        status,
        inputs = record.inputs,
        tokens = record.tokens,
        tokenization_ms = compute.map(|c| c.tokenization.as_secs_f64() * 1e3),
        queue_wait_ms = compute.map(|c| c.queue.as_secs_f64() * 1e3),
        inference_ms = compute.map(|c| c.inference.as_secs_f64() * 1e3),
        latency_ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    crate::metrics::request(&route, model, status, elapsed);
    if record.model.is_some() && (compute.is_some() || record.error.is_some()) {
        crate::metrics::tei_request(&record, status, elapsed);
    }
    response
}
