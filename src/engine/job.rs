//! One request inside the engine: its sequences, the vectors computed so far, where its time
//! goes (the `queue` and `forward` stages) and the one answer it gets.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{Completion, EngineError, Sequence};
use crate::runner::Pooling;

pub(super) type Reply = Result<Completion, EngineError>;

pub(super) struct Job {
    pub(super) sequences: Vec<Sequence>,
    pub(super) pooling: Pooling,
    pub(super) submitted: Instant,
    /// The submitter's span, which the request's `queue` and `forward` spans belong to.
    pub(super) span: tracing::Span,
    pub(super) reply: oneshot::Sender<Reply>,
}

/// A request in progress. Workers write results here without holding the queue's lock.
pub(super) struct JobState {
    pub(super) sequences: Vec<Sequence>,
    pub(super) pooling: Pooling,
    pub(super) submitted: Instant,
    span: tracing::Span,
    progress: Mutex<Progress>,
}

struct Progress {
    results: Vec<Vec<f32>>,
    done: usize,
    /// When the first forward pass holding one of the request's sequences started.
    started: Option<Instant>,
    /// The request's current stage, `queue` then `forward`: a span lives as long as its stage.
    stage: tracing::Span,
    /// Taken when the answer is sent (or the request failed), so it is sent once.
    reply: Option<oneshot::Sender<Reply>>,
}

impl JobState {
    pub(super) fn new(job: Job) -> Self {
        let progress = Mutex::new(Progress {
            results: vec![Vec::new(); job.sequences.len()],
            done: 0,
            started: None,
            stage: tracing::debug_span!(parent: &job.span, "queue", sequences = job.sequences.len()),
            reply: Some(job.reply),
        });
        Self {
            sequences: job.sequences,
            pooling: job.pooling,
            submitted: job.submitted,
            span: job.span,
            progress,
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        // A worker that panicked while holding this lock left consistent data behind (results
        // are only written whole), so the poison flag carries no meaning here.
        self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_abandoned(&self) -> bool {
        self.progress().reply.as_ref().is_none_or(|reply| reply.is_closed())
    }

    pub(super) fn complete(&self, sequence: usize, vector: Vec<f32>) {
        let mut progress = self.progress();
        if progress.reply.is_none() {
            return;
        }
        progress.results[sequence] = vector;
        progress.done += 1;
        if progress.done == self.sequences.len() {
            let vectors = std::mem::take(&mut progress.results);
            let started = progress.started.unwrap_or(self.submitted);
            progress.stage = tracing::Span::none();
            if let Some(reply) = progress.reply.take() {
                // The requester may have gone away meanwhile; nothing else to do then.
                let _ = reply.send(Ok(Completion {
                    vectors,
                    queue: started.duration_since(self.submitted),
                    inference: started.elapsed(),
                }));
            }
        }
    }

    /// A forward pass holding one of the request's sequences starts at `at`: the first ends its
    /// time in the queue.
    pub(super) fn forward_started(&self, at: Instant, name: &str) {
        let mut progress = self.progress();
        if progress.started.is_none() {
            progress.started = Some(at);
            let waited = at.duration_since(self.submitted);
            crate::metrics::queue_wait(name, waited);
            progress.stage = tracing::debug_span!(parent: &self.span, "forward");
        }
    }

    pub(super) fn fail(&self, error: EngineError) {
        if let Some(reply) = self.progress().reply.take() {
            let _ = reply.send(Err(error));
        }
    }
}
