//! `--otlp-endpoint`: each request's spans reach an OpenTelemetry collector as OTLP over gRPC,
//! under `--otlp-service-name`. The collector here is a stand-in that records what it is sent,
//! on loopback.

use crate::common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{binary, ServerProcess};
use common::{scratch_dir, test_hf_cache, MINILM};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

/// What the collector was sent: each span's name, and the service names of the resources.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<String>>>,
    services: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource_spans in request.into_inner().resource_spans {
            for attribute in resource_spans.resource.iter().flat_map(|r| &r.attributes) {
                if let (Some(AnyValue::StringValue(name)), "service.name") = (
                    attribute.value.as_ref().and_then(|v| v.value.as_ref()),
                    attribute.key.as_str(),
                ) {
                    self.services.lock().expect("lock").push(name.clone());
                }
            }
            for scope in resource_spans.scope_spans {
                self.spans
                    .lock()
                    .expect("lock")
                    .extend(scope.spans.into_iter().map(|s| s.name));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_the_collector() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let routes = tonic::service::Routes::new(TraceServiceServer::new(collector.clone())).into_axum_router();
    tokio::spawn(embeddings::server::connections::serve(
        listener,
        routes,
        embeddings::server::connections::ConnectionSettings::default(),
        std::future::pending(),
    ));

    let mut command = binary();
    command
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--prometheus-port", "0"])
        .args(["--otlp-endpoint", &endpoint])
        .args(["--otlp-service-name", "embeddings-under-test"])
        .env("MODEL_ID", MINILM)
        .env("HF_HUB_CACHE", test_hf_cache())
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(scratch_dir("otlp"));
    let mut server = tokio::task::spawn_blocking(move || {
        let mut server = ServerProcess::start(command);
        let address = server.address();
        assert!(
            server.wait_for("\"ready\"", Duration::from_secs(60)).is_some(),
            "{:?}",
            server.seen
        );
        (server, address)
    })
    .await
    .expect("started");
    let client = reqwest::Client::new();
    for text in ["traced", "and traced again"] {
        let response = client
            .post(format!("http://{}/embed", server.1))
            .json(&serde_json::json!({"inputs": text}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
    }
    // SIGTERM: a graceful stop sends what the exporter still holds.
    let pid = server.0.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.0.child.wait().expect("exits");
        (server, status)
    });
    server = tokio::time::timeout(Duration::from_secs(30), exited)
        .await
        .expect("stops within 30 s")
        .expect("joined")
        .0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = collector.spans.lock().expect("lock").clone();
        let requests = spans.iter().filter(|s| *s == "request").count();
        if requests >= 2
            && ["tokenize", "forward"]
                .iter()
                .all(|stage| spans.iter().any(|s| s == stage))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spans received: {spans:?}; log: {:?}",
            server.0.seen
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let services = collector.services.lock().expect("lock").clone();
    assert!(
        services.iter().all(|s| s == "embeddings-under-test") && !services.is_empty(),
        "{services:?}"
    );
}
