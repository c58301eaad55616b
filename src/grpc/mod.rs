//! text-embeddings-inference's gRPC API (package `tei.v1`, `proto/tei.proto`): `Info`, `Embed`,
//! `Predict`, `Rerank` and `Tokenize`, each unary method with its streaming twin, plus the
//! standard health and reflection services. A thin adapter like the HTTP dialects: every call
//! runs the same operations (`crate::service::embed`, `score`, `tokens`) under the same keys
//! (`authorization: Bearer` metadata), limits, deadline and request metrics, and answers TEI's
//! `Metadata` of timings.
//!
//! It is served on the HTTP port, told apart by content type (`application/grpc`), so a
//! deployment that ran TEI's gRPC image keeps its port; `--grpc-port` adds a port of its own.

mod call;
mod embed;
mod score;
mod tokenize;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::Router;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::service::AppState;
use call::Api;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    tonic::include_proto!("tei.v1");
}

/// The encoded descriptors of `proto/tei.proto`, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tei_descriptor.bin"));

/// The fully qualified names of the API's services, as health and reflection report them.
pub const SERVICES: [&str; 5] = [
    "tei.v1.Info",
    "tei.v1.Embed",
    "tei.v1.Predict",
    "tei.v1.Rerank",
    "tei.v1.Tokenize",
];

/// Whether a request is a gRPC call (by its content type), for the port HTTP and gRPC share.
pub fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Every gRPC service as one router: the API behind the key check, health and reflection open
/// (as the HTTP health probes are; reflection only describes `proto/tei.proto`).
pub fn router(state: Arc<AppState>) -> anyhow::Result<Router> {
    let api = Api::new(Arc::clone(&state));
    let limit = state.limits.max_body_bytes;
    let keys = || call::key_check(Arc::clone(&state));
    let (health, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(report_health(state.watch_accepting(), health));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = Routes::new(InterceptedService::new(
        pb::info_server::InfoServer::new(api.clone()).max_decoding_message_size(limit),
        keys(),
    ))
    .add_service(InterceptedService::new(
        pb::embed_server::EmbedServer::new(api.clone()).max_decoding_message_size(limit),
        keys(),
    ))
    .add_service(InterceptedService::new(
        pb::predict_server::PredictServer::new(api.clone()).max_decoding_message_size(limit),
        keys(),
    ))
    .add_service(InterceptedService::new(
        pb::rerank_server::RerankServer::new(api.clone()).max_decoding_message_size(limit),
        keys(),
    ))
    .add_service(InterceptedService::new(
        pb::tokenize_server::TokenizeServer::new(api).max_decoding_message_size(limit),
        keys(),
    ))
    .add_service(health_service)
    .add_service(reflection().build_v1()?)
    .add_service(reflection().build_v1alpha()?);
    Ok(routes.into_axum_router())
}

/// Keeps the health service in step with the HTTP readiness probe: SERVING once the start-up
/// models are loaded, NOT_SERVING before and while draining. Ends with the server's state.
async fn report_health(
    mut accepting: tokio::sync::watch::Receiver<bool>,
    health: tonic_health::server::HealthReporter,
) {
    loop {
        let status = if *accepting.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in std::iter::once("").chain(SERVICES) {
            health.set_service_status(service, status).await;
        }
        if accepting.changed().await.is_err() {
            return;
        }
    }
}

/// One router for the port HTTP and gRPC share: gRPC calls (by content type) to `grpc`,
/// everything else to `http`, each with its own layers (keys, deadlines, error shapes).
pub fn beside(http: Router, grpc: Router) -> Router {
    use tower::ServiceExt;
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let target = if is_grpc(&request) { grpc.clone() } else { http.clone() };
        target.oneshot(request)
    }))
}
