//! The batching engine between the HTTP handlers and a model.
//!
//! Requests are queued on a bounded channel (a full queue is refused at once, never grown) and
//! served by worker threads that own the forward passes, so the async reactor never runs model
//! code. Each worker works in *waves*: it takes up to a token budget of not-yet-started
//! sequences from the waiting requests (each its share, then oldest first), sorts them by
//! length so padding stays small, and runs them in batches. A request is answered as soon as
//! its last sequence is done, whichever workers computed it, so a large request is spread over
//! all workers, and small requests behind it are not held up for its whole length. A request
//! whose client has gone away stops costing work.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::runner::{Pooling, PoolingModes, RunnerError, SequenceInput, SequenceModel};
use job::{Job, JobState, Reply};

mod job;

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Most tokens (padding included) in one forward pass.
    pub max_batch_tokens: usize,
    /// Most sequences in one forward pass (TEI's `--max-batch-requests`).
    pub max_batch_sequences: usize,
    /// Most requests waiting for a worker; one more is refused with [`EngineError::QueueFull`].
    pub queue_capacity: usize,
    /// Forward passes running at once, each on its own thread.
    pub workers: usize,
    /// Threads each forward pass may use (matmul threads).
    pub threads_per_worker: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch_tokens: 256,
            max_batch_sequences: usize::MAX,
            queue_capacity: 256,
            workers: 1,
            threads_per_worker: 1,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("the server is at capacity; retry shortly")]
    QueueFull,
    #[error("the model worker has stopped")]
    Stopped,
    /// The forward pass of the batch this request was in failed; the cause is shared by every
    /// request of the batch.
    #[error("the model failed: {0}")]
    Model(Arc<BatchFailure>),
}

/// Why a batch's forward pass gave no vectors.
#[derive(Debug, thiserror::Error)]
pub enum BatchFailure {
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error("expected {expected} vectors, got {got}")]
    Count { expected: usize, got: usize },
    #[error("the forward pass panicked")]
    Panicked,
}

/// One sequence of a request: a text's tokens, or a pair's with where its second text starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub tokens: Vec<u32>,
    pub second_segment: Option<usize>,
}

impl Sequence {
    fn len(&self) -> usize {
        self.tokens.len()
    }
}

/// A request's vectors, in order, and where its time went.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub vectors: Vec<Vec<f32>>,
    /// From submission to the start of the first forward pass holding one of its sequences.
    pub queue: Duration,
    /// From then until its last vector was computed.
    pub inference: Duration,
}

#[derive(Clone)]
pub struct Engine {
    sender: mpsc::Sender<Job>,
    /// The model's name in metrics.
    name: Arc<str>,
}

impl Engine {
    /// Starts the worker threads; they run until every handle to the engine is dropped.
    /// `name` labels the engine's metrics.
    pub fn start(model: Arc<dyn SequenceModel>, config: EngineConfig, name: &str) -> std::io::Result<Self> {
        let name: Arc<str> = Arc::from(name);
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                receiver,
                pending: VecDeque::new(),
            }),
            model,
            config,
            name: Arc::clone(&name),
        });
        for index in 0..config.workers.max(1) {
            let shared = Arc::clone(&shared);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.threads_per_worker.max(1))
                .thread_name(move |thread| format!("embeddings-forward-{index}.{thread}"))
                .build()
                .map_err(std::io::Error::other)?;
            std::thread::Builder::new()
                .name(format!("embeddings-engine-{index}"))
                .spawn(move || worker(shared, pool))?;
        }
        Ok(Self { sender, name })
    }

    /// Embeds the sequences, each pooled by `pooling`, in order. Returns at once with
    /// `QueueFull` when the queue is full.
    pub async fn embed(&self, sequences: Vec<Vec<u32>>, pooling: Pooling) -> Reply {
        let sequences = sequences
            .into_iter()
            .map(|tokens| Sequence {
                tokens,
                second_segment: None,
            })
            .collect();
        self.submit(sequences, pooling).await
    }

    /// A scoring model's logits for each sequence (texts or pairs), in order.
    pub async fn score(&self, sequences: Vec<Sequence>) -> Reply {
        // Its head pools as it must; the job's pooling is not read.
        self.submit(sequences, Pooling::new(PoolingModes::default())).await
    }

    async fn submit(&self, sequences: Vec<Sequence>, pooling: Pooling) -> Reply {
        if sequences.is_empty() {
            return Ok(Completion {
                vectors: Vec::new(),
                queue: Duration::ZERO,
                inference: Duration::ZERO,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            sequences,
            pooling,
            submitted: Instant::now(),
            span: tracing::Span::current(),
            reply,
        };
        self.sender.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                crate::metrics::rejected(&self.name, "queue_full");
                EngineError::QueueFull
            }
            mpsc::error::TrySendError::Closed(_) => EngineError::Stopped,
        })?;
        crate::metrics::queued(&self.name, 1.0);
        answer.await.unwrap_or(Err(EngineError::Stopped))
    }
}

struct Shared {
    queue: Mutex<Queue>,
    model: Arc<dyn SequenceModel>,
    config: EngineConfig,
    name: Arc<str>,
}

/// Requests admitted from the channel whose sequences are not all handed to a worker yet.
struct Queue {
    receiver: mpsc::Receiver<Job>,
    pending: VecDeque<Pending>,
}

/// A request's sequences in ascending length order, and how many have gone to workers.
struct Pending {
    job: Arc<JobState>,
    order: Vec<usize>,
    next: usize,
}

impl Pending {
    fn new(job: Job) -> Self {
        let mut order: Vec<usize> = (0..job.sequences.len()).collect();
        order.sort_by_key(|&i| job.sequences[i].len());
        Self {
            job: Arc::new(JobState::new(job)),
            order,
            next: 0,
        }
    }

    /// Moves this request's next sequences into `wave` while they fit in `allowance` tokens (of
    /// the wave's `left`); with `one_at_least` its first sequence goes in whatever its length (a
    /// wave past its budget is only run as more batches), as does the wave's first sequence.
    fn take(&mut self, allowance: usize, one_at_least: bool, left: &mut usize, wave: &mut Wave, name: &str) {
        let mut allowance = allowance;
        let mut taken = 0;
        while self.next < self.order.len() {
            let sequence = self.order[self.next];
            let len = self.job.sequences[sequence].len();
            let first_of_its_share = one_at_least && taken == 0;
            if !wave.is_empty() && len > allowance && !first_of_its_share {
                return;
            }
            taken += 1;
            allowance = allowance.saturating_sub(len);
            *left = left.saturating_sub(len);
            if self.next == 0 {
                crate::metrics::queued(name, -1.0);
            }
            wave.push((Arc::clone(&self.job), sequence));
            self.next += 1;
        }
    }

    fn remaining_tokens(&self) -> usize {
        self.order[self.next..]
            .iter()
            .map(|&i| self.job.sequences[i].len())
            .sum()
    }
}

type Wave = Vec<(Arc<JobState>, usize)>;

/// Requests taken in from the channel even past a wave's worth of tokens, to share waves.
const SHARED_WAVE_REQUESTS: usize = 8;

impl Queue {
    /// Waits for work when there is none, admits about one wave of work ahead (and always a few
    /// requests), and takes the next wave: every waiting request's share first (at least one
    /// sequence each), then the oldest requests' rest, shortest sequences of each first, up to
    /// `budget` tokens. `None` once the engine is dropped.
    fn next_wave(&mut self, budget: usize, name: &str) -> Option<Wave> {
        if self.pending.is_empty() {
            let job = self.receiver.blocking_recv()?;
            self.pending.push_back(Pending::new(job));
        }
        // A few requests are always taken in, so one that arrives behind a large request shares
        // the next wave with it; the rest waits in the bounded channel, so a flood of requests
        // meets the queue's limit instead of piling up in here.
        let mut pending_tokens: usize = self.pending.iter().map(Pending::remaining_tokens).sum();
        while pending_tokens < budget || self.pending.len() < SHARED_WAVE_REQUESTS {
            match self.receiver.try_recv() {
                Ok(job) => {
                    let admitted = Pending::new(job);
                    pending_tokens += admitted.remaining_tokens();
                    self.pending.push_back(admitted);
                }
                Err(_) => break,
            }
        }
        self.pending.retain(|p| {
            let keep = !p.job.is_abandoned();
            if !keep && p.next == 0 {
                crate::metrics::queued(name, -1.0);
            }
            keep
        });
        // Every waiting request gets its share of the wave first, then the oldest take what is
        // left: a thousand-document request is spread over many waves, and a small request that
        // arrives meanwhile rides in the next one instead of waiting for all of it.
        let mut left = budget;
        let mut wave = Vec::new();
        let share = (budget / self.pending.len().max(1)).max(1);
        for pending in self.pending.iter_mut() {
            pending.take(share.min(left), true, &mut left, &mut wave, name);
        }
        for pending in self.pending.iter_mut() {
            pending.take(left, false, &mut left, &mut wave, name);
        }
        self.pending.retain(|p| p.next < p.order.len());
        Some(wave)
    }
}

fn worker(shared: Arc<Shared>, pool: rayon::ThreadPool) {
    let threads = shared.config.threads_per_worker.max(1);
    loop {
        let wave = {
            let mut queue = shared.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match queue.next_wave(shared.config.max_batch_tokens, &shared.name) {
                Some(wave) => wave,
                None => break,
            }
        };
        // MKL's thread cap is per OS thread, and the pool may run this on any of its threads.
        pool.install(|| {
            crate::runner::kernels::limit_matmul_threads(threads);
            run_wave(&*shared.model, wave, &shared.config, &shared.name)
        });
    }
    // The engine was dropped (its model unloaded): the last worker out frees the weights, and
    // the allocator is asked to give the freed pages back so an unload lowers the RSS.
    drop(shared);
    drop(pool);
    crate::model_store::memory_guard::return_freed_memory();
}

fn run_wave(model: &dyn SequenceModel, mut wave: Wave, config: &EngineConfig, name: &str) {
    wave.sort_by_key(|(job, sequence)| job.sequences[*sequence].len());
    let length = |i: usize| wave[i].0.sequences[wave[i].1].len();
    let batches = plan_batches(wave.len(), length, config.max_batch_tokens, config.max_batch_sequences);
    for batch in batches {
        let members: Vec<&(Arc<JobState>, usize)> = wave[batch].iter().filter(|(job, _)| !job.is_abandoned()).collect();
        if members.is_empty() {
            continue;
        }
        let sequences: Vec<SequenceInput> = members
            .iter()
            .map(|(job, seq)| SequenceInput {
                tokens: job.sequences[*seq].tokens.as_slice(),
                pooling: job.pooling,
                second_segment: job.sequences[*seq].second_segment,
            })
            .collect();
        let started = Instant::now();
        for (job, _) in &members {
            job.forward_started(started, name);
        }
        let tokens = sequences.iter().map(|s| s.tokens.len()).sum::<usize>();
        let batch = tracing::debug_span!("batch", sequences = sequences.len(), tokens);
        // A panic inside the model must cost only this batch, never the worker.
        let outcome = batch.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| model.run_batch(&sequences))));
        crate::metrics::forward(name, sequences.len(), tokens, started.elapsed());
        let outcome = match outcome {
            Ok(Ok(vectors)) if vectors.len() == members.len() => Ok(vectors),
            Ok(Ok(vectors)) => Err(BatchFailure::Count {
                expected: members.len(),
                got: vectors.len(),
            }),
            Ok(Err(e)) => Err(BatchFailure::Runner(e)),
            Err(_) => Err(BatchFailure::Panicked),
        };
        match outcome {
            Ok(vectors) => {
                for ((job, sequence), vector) in members.into_iter().zip(vectors) {
                    job.complete(*sequence, vector);
                }
            }
            Err(error) => {
                tracing::error!(%error, "batch failed");
                let error = Arc::new(error);
                for (job, _) in members {
                    job.fail(EngineError::Model(Arc::clone(&error)));
                }
            }
        }
    }
}

/// Splits `count` length-sorted sequences into consecutive batches whose padded size
/// (sequences x longest) stays within `max_tokens`, of at most `max_sequences` each; a sequence
/// longer than that goes alone.
pub fn plan_batches(
    count: usize,
    len_of: impl Fn(usize) -> usize,
    max_tokens: usize,
    max_sequences: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < count {
        let mut end = start + 1;
        while end < count && end - start < max_sequences && (end + 1 - start) * len_of(end) <= max_tokens {
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

#[cfg(test)]
mod tests;
