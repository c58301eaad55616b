//! Prometheus metrics, through the `metrics` facade and its Prometheus exporter. One recorder
//! per process; `GET /metrics` renders it in the text exposition format.
//!
//! | series | type | labels |
//! |---|---|---|
//! | `embeddings_http_requests_total` | counter | `route`, `model`, `status` |
//! | `embeddings_http_request_duration_seconds` | histogram | `route` |
//! | `embeddings_queue_depth` | gauge | `model` |
//! | `embeddings_tokenize_seconds` | histogram | `model` |
//! | `embeddings_queue_seconds` | histogram | `model` |
//! | `embeddings_queue_wait_seconds` | histogram | `model` |
//! | `embeddings_batch_sequences` | histogram | `model` |
//! | `embeddings_batch_tokens` | histogram | `model` |
//! | `embeddings_forward_seconds` | histogram | `model` |
//! | `embeddings_tokens_total` | counter | `model` |
//! | `embeddings_rerank_pairs_total` | counter | `model`, `task` (`rerank`, `predict`) |
//! | `embeddings_rejected_total` | counter | `model`, `reason` (`queue_full`) |
//! | `embeddings_model_load_seconds` | gauge | `model` |
//! | `embeddings_model_ready` | gauge (0 or 1) | `model` |
//! | `embeddings_model_loads_total` | counter | `model` |
//! | `embeddings_model_unloads_total` | counter | `model`, `reason` (`expired`, `budget`) |
//! | `embeddings_loaded_model_bytes` | gauge | |
//! | `process_resident_memory_bytes` | gauge | |
//!
//! Beside them, text-embeddings-inference's own series under its names, so that a TEI
//! dashboard works unchanged: `te_request_count` / `te_request_success` (`method`: `single` or
//! `batch`), `te_request_failure` (`err`: `validation`, `batch_size`, `model_type`,
//! `overloaded`, `inference`), the histograms `te_request_duration`,
//! `te_request_tokenization_duration`, `te_request_queue_duration`,
//! `te_request_inference_duration` (seconds) and `te_request_input_length` (tokens; each input
//! of a request counted at the request's mean), the same per task as `te_embed_*` and
//! `te_predict_*` (`_count`, `_success`, `_duration`, `_tokenization_duration`,
//! `_queue_duration`, `_inference_duration`), `te_queue_size`, `te_batch_next_size` and
//! `te_batch_next_tokens`. They count the requests of every dialect that ran a model.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const COUNT_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];
const TOKEN_BUCKETS: [f64; 10] = [16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

/// Installs the process-wide recorder (once; later calls reuse it). `None` if another recorder
/// was installed first, in which case `/metrics` says so.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("embeddings_batch_sequences".to_owned()), &COUNT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("embeddings_batch_tokens".to_owned()), &TOKEN_BUCKETS)
                })
                .and_then(|b| {
                    let powers_of_two = |n: i32| (0..n).map(|x| 2.0_f64.powi(x)).collect::<Vec<_>>();
                    // TEI's buckets for its series: durations 1.5e-5 s growing by half each.
                    let durations: Vec<f64> = (1..=35).map(|n| 0.00001 * 1.5_f64.powi(n)).collect();
                    b.set_buckets_for_metric(Matcher::Suffix("duration".to_owned()), &durations)?
                        .set_buckets_for_metric(
                            Matcher::Full("te_request_input_length".to_owned()),
                            &powers_of_two(20),
                        )?
                        .set_buckets_for_metric(Matcher::Full("te_batch_next_size".to_owned()), &powers_of_two(13))?
                        .set_buckets_for_metric(Matcher::Full("te_batch_next_tokens".to_owned()), &powers_of_two(21))
                });
            match builder.map(|b| b.install_recorder()) {
                Ok(Ok(handle)) => Some(handle),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics buckets rejected");
                    None
                }
            }
        })
        .as_ref()
}

/// The text exposition, with the process's memory measured now.
pub fn render() -> Option<String> {
    let handle = install()?;
    if let Some(rss) = resident_memory_bytes() {
        gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    Some(handle.render())
}

/// Resident set size from /proc (Linux); `None` elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

pub fn request(route: &str, model: &str, status: u16, elapsed: Duration) {
    counter!("embeddings_http_requests_total", "route" => route.to_owned(), "model" => model.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!("embeddings_http_request_duration_seconds", "route" => route.to_owned()).record(elapsed.as_secs_f64());
}

pub fn queued(model: &str, change: f64) {
    gauge!("embeddings_queue_depth", "model" => model.to_owned()).increment(change);
    gauge!("te_queue_size").increment(change);
}

/// A request's time from submission to its first forward pass; `embeddings_queue_wait_seconds`
/// is the same figure under its earlier name, kept for existing dashboards.
pub fn queue_wait(model: &str, waited: Duration) {
    histogram!("embeddings_queue_seconds", "model" => model.to_owned()).record(waited.as_secs_f64());
    histogram!("embeddings_queue_wait_seconds", "model" => model.to_owned()).record(waited.as_secs_f64());
}

/// A request's time turning its texts into token sequences.
pub fn tokenize(model: &str, elapsed: Duration) {
    histogram!("embeddings_tokenize_seconds", "model" => model.to_owned()).record(elapsed.as_secs_f64());
}

pub fn forward(model: &str, sequences: usize, tokens: usize, elapsed: Duration) {
    histogram!("embeddings_batch_sequences", "model" => model.to_owned()).record(sequences as f64);
    histogram!("embeddings_batch_tokens", "model" => model.to_owned()).record(tokens as f64);
    histogram!("embeddings_forward_seconds", "model" => model.to_owned()).record(elapsed.as_secs_f64());
    counter!("embeddings_tokens_total", "model" => model.to_owned()).increment(tokens as u64);
    histogram!("te_batch_next_size").record(sequences as f64);
    histogram!("te_batch_next_tokens").record(tokens as f64);
}

/// TEI's request series for a request that ran (or tried to run) a model.
pub fn tei_request(record: &crate::service::record::AccessRecord, status: u16, elapsed: Duration) {
    use crate::service::error::ErrorKind;
    let method = if record.inputs > 1 { "batch" } else { "single" };
    counter!("te_request_count", "method" => method).increment(1);
    let task = match record.compute {
        Some(compute) if compute.scoring => "predict",
        _ => "embed",
    };
    counter!(format!("te_{task}_count")).increment(1);
    let compute = match (status, record.compute) {
        (200..=299, Some(compute)) => compute,
        _ => {
            let err = match record.error {
                _ if status == 429 => "overloaded",
                Some((ErrorKind::WrongModelKind, _)) => "model_type",
                Some((_, Some("too_many_inputs"))) => "batch_size",
                _ if status >= 500 || status == 424 => "inference",
                _ => "validation",
            };
            counter!("te_request_failure", "err" => err).increment(1);
            return;
        }
    };
    counter!("te_request_success", "method" => method).increment(1);
    counter!(format!("te_{task}_success")).increment(1);
    let stages = [
        ("duration", elapsed),
        ("tokenization_duration", compute.tokenization),
        ("queue_duration", compute.queue),
        ("inference_duration", compute.inference),
    ];
    for (stage, took) in stages {
        histogram!(format!("te_request_{stage}")).record(took.as_secs_f64());
        histogram!(format!("te_{task}_{stage}")).record(took.as_secs_f64());
    }
    if record.inputs > 0 {
        let mean = record.tokens as f64 / record.inputs as f64;
        for _ in 0..record.inputs.min(crate::service::input::MAX_INPUTS) {
            histogram!("te_request_input_length").record(mean);
        }
    }
}

pub fn rejected(model: &str, reason: &'static str) {
    counter!("embeddings_rejected_total", "model" => model.to_owned(), "reason" => reason).increment(1);
}

pub fn model_loaded(model: &str, elapsed: Duration) {
    gauge!("embeddings_model_load_seconds", "model" => model.to_owned()).set(elapsed.as_secs_f64());
    gauge!("embeddings_model_ready", "model" => model.to_owned()).set(1.0);
    counter!("embeddings_model_loads_total", "model" => model.to_owned()).increment(1);
}

pub fn model_unloaded(model: &str, reason: &'static str) {
    gauge!("embeddings_model_ready", "model" => model.to_owned()).set(0.0);
    counter!("embeddings_model_unloads_total", "model" => model.to_owned(), "reason" => reason).increment(1);
}

/// The weights loaded, in bytes, changed by `change`.
pub fn loaded_model_bytes(change: f64) {
    gauge!("embeddings_loaded_model_bytes").increment(change);
}

pub fn model_listed(model: &str) {
    gauge!("embeddings_model_ready", "model" => model.to_owned()).set(0.0);
}

pub fn cache_lookups(model: &str, hits: u64, misses: u64) {
    counter!("embeddings_cache_hits_total", "model" => model.to_owned()).increment(hits);
    counter!("embeddings_cache_misses_total", "model" => model.to_owned()).increment(misses);
}

pub fn cache_size(bytes: usize, entries: usize) {
    gauge!("embeddings_cache_bytes").set(bytes as f64);
    gauge!("embeddings_cache_entries").set(entries as f64);
}

/// Inputs a scoring model scored: `task` is `rerank` (query-document pairs, every rerank and
/// score route) or `predict` (texts or pairs classified).
pub fn scored(model: &str, task: &'static str, inputs: usize) {
    counter!("embeddings_rerank_pairs_total", "model" => model.to_owned(), "task" => task).increment(inputs as u64);
}
