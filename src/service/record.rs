//! What one request did, noted by the operations as they go (the model, inputs, tokens, where
//! the time went) and read back by the transport that ran it: the HTTP access log and timing
//! headers, and the gRPC calls' metadata and metrics.

use std::cell::RefCell;
use std::time::Duration;

use super::error::ErrorKind;

/// What an operation learned about a request, for its access-log line.
#[derive(Debug, Clone, Default)]
pub struct AccessRecord {
    /// The allow-listed entry the request resolved to (a metrics label, so only listed names).
    pub model: Option<String>,
    /// The name a client asked for that no entry answers to (logged, never a label).
    pub requested: Option<String>,
    pub inputs: usize,
    pub tokens: usize,
    pub compute: Option<ComputeRecord>,
    /// How the request failed, if it did (TEI's failure metrics tell causes apart).
    pub error: Option<(ErrorKind, Option<&'static str>)>,
}

/// Where an embedding request's time went. Its stages follow one another within the request,
/// so they add up to at most its total time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ComputeRecord {
    pub characters: usize,
    /// Turning texts into token sequences (cache lookups included).
    pub tokenization: Duration,
    /// Waiting for the first forward pass holding one of its sequences.
    pub queue: Duration,
    /// From then until its last vector.
    pub inference: Duration,
    /// `cpu` or `cuda`.
    pub device: &'static str,
    /// Scored (rerank, predict) rather than embedded.
    pub scoring: bool,
}

tokio::task_local! {
    static RECORD: RefCell<AccessRecord>;
}

/// Adds to the current request's record; a no-op outside a request.
pub fn note(update: impl FnOnce(&mut AccessRecord)) {
    let _ = RECORD.try_with(|record| update(&mut record.borrow_mut()));
}

/// Runs `work` with a record of its own (an HTTP request, or a gRPC call) and gives back what
/// it noted.
pub async fn recorded<T>(work: impl std::future::Future<Output = T>) -> (T, AccessRecord) {
    RECORD
        .scope(RefCell::new(AccessRecord::default()), async {
            let output = work.await;
            (output, RECORD.with(|record| record.borrow().clone()))
        })
        .await
}
