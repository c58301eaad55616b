//! What every RPC shares: the key check, one call's run (deadline, timings, metrics, the error
//! as a gRPC status) and the streaming methods' bounded loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use tonic::{Code, Status, Streaming};

use crate::model_files::ModelKind;
use tracing::Instrument;

use super::pb;
use crate::service::error::{ApiError, ErrorKind};
use crate::service::record::{recorded, AccessRecord};
use crate::service::AppState;

/// Messages of one stream in the operations at once. Answers keep the messages' order; a
/// client that stops reading stops the server reading its stream (HTTP/2 flow control does
/// the rest), so nothing piles up.
pub const STREAM_CONCURRENCY: usize = 16;

/// An answer stream of a streaming method.
pub type AnswerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The services' shared handle on the server.
#[derive(Clone)]
pub struct Api {
    pub state: Arc<AppState>,
}

/// Lets a call through when keys are off or its `authorization` metadata carries one.
pub fn key_check(state: Arc<AppState>) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, Status> + Clone {
    move |request: tonic::Request<()>| {
        let presented = request.metadata().get("authorization").map(|value| value.as_bytes());
        if state.keys.allows(presented) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(
                "Missing or incorrect API key. Send it as `authorization: Bearer YOUR_KEY` metadata.",
            ))
        }
    }
}

impl Api {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Runs one call's operation within the request deadline, counted in the request metrics
    /// under `method`; its answer comes back with TEI's `Metadata` of where the time went.
    pub async fn call<T>(
        &self,
        method: &'static str,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<(T, pb::Metadata), Status> {
        let started = Instant::now();
        let limit = self.state.limits.request_timeout;
        // The parent of the call's stage spans, as the HTTP routes' request span is.
        let span = tracing::debug_span!("request", method);
        let (outcome, record) = recorded(
            async {
                tokio::time::timeout(limit, work)
                    .await
                    .unwrap_or_else(|_| Err(ApiError::deadline(limit)))
            }
            .instrument(span),
        )
        .await;
        let elapsed = started.elapsed();
        let status = outcome.as_ref().map_or_else(|e| e.status.as_u16(), |_| 200);
        crate::metrics::request(method, record.model.as_deref().unwrap_or(""), status, elapsed);
        tracing::info!(
            target: "embeddings::access",
            method,
            model = record.model.as_deref().unwrap_or(""),
            status,
            inputs = record.inputs,
            tokens = record.tokens,
            latency_ms = elapsed.as_secs_f64() * 1e3,
            "grpc call"
        );
        match outcome {
            Ok(answer) => Ok((answer, metadata(&record, elapsed))),
            Err(error) => Err(status_of(error)),
        }
    }

    /// A streaming method's answers: `answer` for each message read, in order, at most
    /// [`STREAM_CONCURRENCY`] at once. A failed message ends the stream with its status.
    pub fn each<In, Out, F, Fut>(
        &self,
        inbound: impl Stream<Item = Result<In, Status>> + Send + 'static,
        answer: F,
    ) -> AnswerStream<Out>
    where
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn(Api, In) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Out, Status>> + Send + 'static,
    {
        let api = self.clone();
        let answers = within(inbound, self.state.limits.request_timeout)
            .map(move |message| {
                let call = message.map(|message| answer(api.clone(), message));
                async move { call?.await }
            })
            .buffered(STREAM_CONCURRENCY);
        let mut failed = false;
        Box::pin(answers.take_while(move |answer| {
            let go_on = !failed;
            failed |= answer.is_err();
            std::future::ready(go_on)
        }))
    }
}

/// `inbound`, failing DEADLINE_EXCEEDED when its next message takes longer than `limit` once
/// asked for: an open stream that sends nothing does not hold its connection for ever.
pub fn within<In: Send + 'static>(
    inbound: impl Stream<Item = Result<In, Status>> + Send + 'static,
    limit: std::time::Duration,
) -> impl Stream<Item = Result<In, Status>> + Send + 'static {
    futures_util::stream::unfold(Some(Box::pin(inbound)), move |inbound| async move {
        let mut inbound = inbound?;
        match tokio::time::timeout(limit, inbound.next()).await {
            Ok(Some(message)) => Some((message, Some(inbound))),
            Ok(None) => None,
            Err(_) => Some((
                Err(Status::deadline_exceeded(format!(
                    "The stream sent no message for {} s (the server's --request-timeout).",
                    limit.as_secs_f64()
                ))),
                None,
            )),
        }
    })
}

/// TEI's timings: the same figures as the HTTP routes' `x-*-time` headers, in nanoseconds.
fn metadata(record: &AccessRecord, total: std::time::Duration) -> pb::Metadata {
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let compute = record.compute.unwrap_or_default();
    pb::Metadata {
        compute_chars: u32::try_from(compute.characters).unwrap_or(u32::MAX),
        compute_tokens: u32::try_from(record.tokens).unwrap_or(u32::MAX),
        total_time_ns: nanos(total),
        tokenization_time_ns: nanos(compute.tokenization),
        queue_time_ns: nanos(compute.queue),
        inference_time_ns: nanos(compute.inference),
    }
}

/// The status TEI's gRPC server gives for the same failure: validation errors are
/// INVALID_ARGUMENT, a full queue RESOURCE_EXHAUSTED, a model of the wrong kind
/// FAILED_PRECONDITION.
pub fn status_of(error: ApiError) -> Status {
    let code = match (error.kind, error.status.as_u16(), error.code) {
        (_, _, Some("model_not_found")) => Code::NotFound,
        (ErrorKind::WrongModelKind, _, _) => Code::FailedPrecondition,
        (ErrorKind::Syntax | ErrorKind::Invalid | ErrorKind::Empty, _, _) => Code::InvalidArgument,
        (ErrorKind::TooLarge, 413, _) => Code::ResourceExhausted,
        (ErrorKind::TooLarge, _, _) => Code::InvalidArgument,
        (_, 401, _) => Code::Unauthenticated,
        (_, 404, _) => Code::NotFound,
        // A model whose files failed to load: the server's fault, not the call's.
        (_, 424, _) => Code::Internal,
        (_, 429, _) => Code::ResourceExhausted,
        (_, 503, Some("timeout")) => Code::DeadlineExceeded,
        (_, 503, _) => Code::Unavailable,
        (_, 400..=499, _) => Code::InvalidArgument,
        _ => Code::Internal,
    };
    Status::new(code, error.message)
}

/// TEI's truncation enum as the operations take it; `truncate: false` never truncates.
pub fn truncation(truncate: bool, direction: i32) -> crate::tokenize::Truncation {
    use crate::tokenize::Truncation;
    match (truncate, pb::TruncationDirection::try_from(direction)) {
        (false, _) => Truncation::Off,
        (true, Ok(pb::TruncationDirection::Left)) => Truncation::Left,
        (true, _) => Truncation::Right,
    }
}

/// The metadata key that names a model (an extension: TEI serves one model). Without it a call
/// goes to the first listed model of the kind its method needs, as the TEI routes do.
pub const MODEL_METADATA: &str = "x-model";

impl Api {
    /// The model a call names in its `x-model` metadata, else the first listed of `kind` (of
    /// any kind for `None`).
    pub fn model_of<T>(&self, request: &tonic::Request<T>, kind: Option<ModelKind>) -> Result<String, Status> {
        match request.metadata().get(MODEL_METADATA) {
            Some(value) => value
                .to_str()
                .map(str::to_owned)
                .map_err(|_| Status::invalid_argument("`x-model` metadata must be a model's name in ASCII.")),
            None => Ok(match kind {
                Some(kind) => crate::service::score::default_model(&self.state, kind),
                None => self.state.store.registry().default_spec().id.clone(),
            }),
        }
    }

    /// A streaming method: the call's model settled once, then `answer` for each message.
    pub fn stream<In, Out, F, Fut>(
        &self,
        request: tonic::Request<Streaming<In>>,
        kind: Option<ModelKind>,
        answer: F,
    ) -> Result<tonic::Response<AnswerStream<Out>>, Status>
    where
        In: Send + 'static,
        Out: Send + 'static,
        F: Fn(Api, String, In) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Out, Status>> + Send + 'static,
    {
        let model = self.model_of(&request, kind)?;
        let answers = self.each(request.into_inner(), move |api, message| {
            answer(api, model.clone(), message)
        });
        Ok(tonic::Response::new(answers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn api() -> Api {
        let registry = crate::registry::Registry::parse("/nowhere/model\n", std::path::Path::new("/")).expect("parses");
        let hub = crate::hub::HubSettings::from_lookup(|_| None);
        let store = crate::model_store::ModelStore::new(
            registry,
            hub,
            candle_core::Device::Cpu,
            crate::engine::EngineConfig::default(),
            crate::model_store::MemorySettings::default(),
        )
        .expect("store");
        Api::new(Arc::new(AppState::new(store, crate::service::Limits::default())))
    }

    /// A client that sends without reading: the server reads only as far as the answers it
    /// may hold, never the whole stream.
    #[tokio::test]
    async fn a_stream_is_read_only_as_fast_as_its_answers_are_taken() {
        let read = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&read);
        let inbound = futures_util::stream::iter(0..100_000).map(move |i| {
            counted.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Status>(i)
        });
        let mut answers = api().each(inbound, |_, i: usize| async move { Ok(i * 2) });
        for expected in 0..3 {
            assert_eq!(answers.next().await.expect("an answer").expect("ok"), expected * 2);
        }
        let read = read.load(Ordering::Relaxed);
        assert!(read <= 3 + STREAM_CONCURRENCY, "read {read} messages for 3 answers");
    }

    #[tokio::test]
    async fn a_stream_that_sends_nothing_ends_at_the_deadline() {
        let silent = futures_util::stream::pending::<Result<u8, Status>>();
        let mut messages = Box::pin(within(silent, std::time::Duration::from_millis(50)));
        let status = messages.next().await.expect("an item").expect_err("a timeout");
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(messages.next().await.is_none(), "then the stream ends");
    }

    #[tokio::test]
    async fn a_failed_message_ends_the_stream_with_its_status() {
        let inbound = futures_util::stream::iter([Ok(1), Err(Status::internal("broken message")), Ok(3)]);
        let answers: Vec<_> = api().each(inbound, |_, i: i32| async move { Ok(i) }).collect().await;
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].as_ref().unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn statuses_follow_tei() {
        assert_eq!(
            status_of(ApiError::invalid("bad", "inputs")).code(),
            Code::InvalidArgument
        );
        assert_eq!(status_of(ApiError::overloaded()).code(), Code::ResourceExhausted);
        assert_eq!(status_of(ApiError::model_not_found("x", &[])).code(), Code::NotFound);
        assert_eq!(
            status_of(ApiError::deadline(std::time::Duration::from_secs(1))).code(),
            Code::DeadlineExceeded
        );
        assert_eq!(status_of(ApiError::server("boom")).code(), Code::Internal);
    }
}
