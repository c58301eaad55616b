//! The batching engine between the HTTP handlers and a model.
//!
//! Requests are queued on a bounded channel (a full queue is refused at once, never grown) and
//! served by worker threads that own the forward passes, so the async reactor never runs model
//! code. Each worker works in *waves*: it takes up to a token budget of not-yet-started
//! sequences from the waiting requests (oldest first, several requests merged), sorts them by
//! length so padding stays small, and runs them in batches. A request is answered as soon as
//! its last sequence is done, whichever workers computed it, so a large request is spread over
//! all workers, and small requests behind it are not held up for its whole length. A request
//! whose client has gone away stops costing work.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};

use crate::runner::{Embedder, Pooling, SequenceInput};

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Most tokens (padding included) in one forward pass.
    pub max_batch_tokens: usize,
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
            max_batch_tokens: 1024,
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
    #[error("the model failed: {0}")]
    Model(String),
}

type Reply = Result<Vec<Vec<f32>>, EngineError>;

struct Job {
    sequences: Vec<Vec<u32>>,
    pooling: Pooling,
    reply: oneshot::Sender<Reply>,
}

#[derive(Clone)]
pub struct Engine {
    sender: mpsc::Sender<Job>,
}

impl Engine {
    /// Starts the worker threads; they run until every handle to the engine is dropped.
    pub fn start(model: Arc<dyn Embedder>, config: EngineConfig) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                receiver,
                pending: VecDeque::new(),
            }),
            model,
            config,
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
        Ok(Self { sender })
    }

    /// Embeds the sequences, each pooled by `pooling`, in order. Returns at once with
    /// `QueueFull` when the queue is full.
    pub async fn embed(&self, sequences: Vec<Vec<u32>>, pooling: Pooling) -> Reply {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Job {
                sequences,
                pooling,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => EngineError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => EngineError::Stopped,
            })?;
        answer.await.unwrap_or(Err(EngineError::Stopped))
    }
}

struct Shared {
    queue: Mutex<Queue>,
    model: Arc<dyn Embedder>,
    config: EngineConfig,
}

/// Requests admitted from the channel whose sequences are not all handed to a worker yet.
struct Queue {
    receiver: mpsc::Receiver<Job>,
    pending: VecDeque<Pending>,
}

/// A request in progress. Workers write results here without holding the queue's lock.
struct JobState {
    sequences: Vec<Vec<u32>>,
    pooling: Pooling,
    progress: Mutex<Progress>,
}

struct Progress {
    results: Vec<Vec<f32>>,
    done: usize,
    /// Taken when the answer is sent (or the request failed), so it is sent once.
    reply: Option<oneshot::Sender<Reply>>,
}

impl JobState {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        // A worker that panicked while holding this lock left consistent data behind (results
        // are only written whole), so the poison flag carries no meaning here.
        self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_abandoned(&self) -> bool {
        self.progress().reply.as_ref().is_none_or(|reply| reply.is_closed())
    }

    fn complete(&self, sequence: usize, vector: Vec<f32>) {
        let mut progress = self.progress();
        if progress.reply.is_none() {
            return;
        }
        progress.results[sequence] = vector;
        progress.done += 1;
        if progress.done == self.sequences.len() {
            let results = std::mem::take(&mut progress.results);
            if let Some(reply) = progress.reply.take() {
                // The requester may have gone away meanwhile; nothing else to do then.
                let _ = reply.send(Ok(results));
            }
        }
    }

    fn fail(&self, error: EngineError) {
        if let Some(reply) = self.progress().reply.take() {
            let _ = reply.send(Err(error));
        }
    }
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
        let results = vec![Vec::new(); job.sequences.len()];
        let progress = Mutex::new(Progress {
            results,
            done: 0,
            reply: Some(job.reply),
        });
        Self {
            job: Arc::new(JobState {
                sequences: job.sequences,
                pooling: job.pooling,
                progress,
            }),
            order,
            next: 0,
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

impl Queue {
    /// Waits for work when there is none, admits about one wave of work ahead, and takes the
    /// next wave: oldest requests first, shortest sequences of each first, up to `budget`
    /// tokens (always at least one sequence). `None` once the engine is dropped.
    fn next_wave(&mut self, budget: usize) -> Option<Wave> {
        if self.pending.is_empty() {
            let job = self.receiver.blocking_recv()?;
            self.pending.push_back(Pending::new(job));
        }
        // The rest waits in the bounded channel, so a flood of requests meets the queue's
        // limit instead of piling up in here.
        let mut pending_tokens: usize = self.pending.iter().map(Pending::remaining_tokens).sum();
        while pending_tokens < budget {
            match self.receiver.try_recv() {
                Ok(job) => {
                    let admitted = Pending::new(job);
                    pending_tokens += admitted.remaining_tokens();
                    self.pending.push_back(admitted);
                }
                Err(_) => break,
            }
        }
        self.pending.retain(|p| !p.job.is_abandoned());
        let mut left = budget;
        let mut wave = Vec::new();
        'requests: for pending in self.pending.iter_mut() {
            while pending.next < pending.order.len() {
                let sequence = pending.order[pending.next];
                let len = pending.job.sequences[sequence].len();
                if !wave.is_empty() && len > left {
                    break 'requests;
                }
                left = left.saturating_sub(len);
                wave.push((Arc::clone(&pending.job), sequence));
                pending.next += 1;
            }
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
            match queue.next_wave(shared.config.max_batch_tokens) {
                Some(wave) => wave,
                None => return,
            }
        };
        // MKL's thread cap is per OS thread, and the pool may run this on any of its threads.
        pool.install(|| {
            crate::runner::limit_matmul_threads(threads);
            run_wave(&*shared.model, wave, shared.config.max_batch_tokens)
        });
    }
}

fn run_wave(model: &dyn Embedder, mut wave: Wave, max_batch_tokens: usize) {
    wave.sort_by_key(|(job, sequence)| job.sequences[*sequence].len());
    for batch in plan_batches(wave.len(), |i| wave[i].0.sequences[wave[i].1].len(), max_batch_tokens) {
        let members: Vec<&(Arc<JobState>, usize)> = wave[batch].iter().filter(|(job, _)| !job.is_abandoned()).collect();
        if members.is_empty() {
            continue;
        }
        let sequences: Vec<SequenceInput> = members
            .iter()
            .map(|(job, seq)| SequenceInput {
                tokens: job.sequences[*seq].as_slice(),
                pooling: job.pooling,
            })
            .collect();
        // A panic inside the model must cost only this batch, never the worker.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| model.embed_batch(&sequences)));
        let outcome = match outcome {
            Ok(Ok(vectors)) if vectors.len() == members.len() => Ok(vectors),
            Ok(Ok(vectors)) => Err(format!("expected {} vectors, got {}", members.len(), vectors.len())),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the forward pass panicked".to_owned()),
        };
        match outcome {
            Ok(vectors) => {
                for ((job, sequence), vector) in members.into_iter().zip(vectors) {
                    job.complete(*sequence, vector);
                }
            }
            Err(message) => {
                tracing::error!(error = %message, "batch failed");
                for (job, _) in members {
                    job.fail(EngineError::Model(message.clone()));
                }
            }
        }
    }
}

/// Splits `count` length-sorted sequences into consecutive batches whose padded size
/// (sequences x longest) stays within `max_tokens`; a sequence longer than that goes alone.
pub fn plan_batches(count: usize, len_of: impl Fn(usize) -> usize, max_tokens: usize) -> Vec<std::ops::Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < count {
        let mut end = start + 1;
        while end < count && (end + 1 - start) * len_of(end) <= max_tokens {
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{PoolingMode, PoolingModes};

    fn mean() -> Pooling {
        Pooling::new(PoolingModes::single(PoolingMode::Mean))
    }

    #[test]
    fn batches_respect_the_padded_token_budget() {
        let lens = [2, 3, 3, 5, 8, 20];
        let batches = plan_batches(lens.len(), |i| lens[i], 10);
        assert_eq!(batches, vec![0..3, 3..4, 4..5, 5..6]);
        for batch in &batches {
            let longest = lens[batch.end - 1];
            assert!(batch.len() == 1 || batch.len() * longest <= 10);
        }
        assert!(plan_batches(0, |_| 1, 10).is_empty());
    }

    /// A deterministic stand-in that encodes each sequence's content in its vector, so tests
    /// can tell whether every request got its own answers back.
    struct Echo;
    impl Embedder for Echo {
        fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>> {
            if sequences.iter().any(|s| s.tokens.contains(&u32::MAX)) {
                panic!("poisoned input");
            }
            Ok(sequences
                .iter()
                .map(|s| s.tokens.iter().map(|&t| t as f32).collect())
                .collect())
        }
    }

    #[tokio::test]
    async fn every_request_gets_its_own_vectors_back() {
        let engine = Engine::start(
            Arc::new(Echo),
            EngineConfig {
                max_batch_tokens: 16,
                queue_capacity: 64,
                workers: 3,
                threads_per_worker: 1,
            },
        )
        .expect("engine starts");
        let handles: Vec<_> = (0..40u32)
            .map(|r| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let sequences: Vec<Vec<u32>> = (0..(r % 5 + 1))
                        .map(|s| vec![r; (s * 3 + r % 7 + 1) as usize])
                        .collect();
                    let got = engine.embed(sequences.clone(), mean()).await.expect("embedded");
                    let want: Vec<Vec<f32>> = sequences
                        .iter()
                        .map(|s| s.iter().map(|&t| t as f32).collect())
                        .collect();
                    assert_eq!(got, want);
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task finished");
        }
    }

    /// Counts the sequences it embeds, taking a while for each batch.
    struct Slow(std::sync::atomic::AtomicUsize);
    impl Embedder for Slow {
        fn embed_batch(&self, sequences: &[SequenceInput]) -> anyhow::Result<Vec<Vec<f32>>> {
            std::thread::sleep(std::time::Duration::from_millis(10));
            self.0.fetch_add(sequences.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(sequences.iter().map(|_| vec![1.0]).collect())
        }
    }

    #[tokio::test]
    async fn a_request_whose_client_left_stops_costing_work() {
        let model = Arc::new(Slow(std::sync::atomic::AtomicUsize::new(0)));
        let config = EngineConfig {
            max_batch_tokens: 2,
            queue_capacity: 4,
            workers: 1,
            threads_per_worker: 1,
        };
        let engine = Engine::start(Arc::clone(&model) as Arc<dyn Embedder>, config).expect("engine starts");
        // 200 sequences at one per 10 ms batch would take two seconds; the client gives up early.
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            engine.embed(vec![vec![7, 7]; 200], mean()),
        )
        .await;
        assert!(abandoned.is_err(), "the request cannot have finished yet");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let done = model.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            done < 60,
            "{done} of 200 sequences were still computed after the client left"
        );
        // The engine still serves the next request.
        assert_eq!(
            engine.embed(vec![vec![1]], mean()).await.expect("served"),
            vec![vec![1.0]]
        );
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_request_and_the_worker_survives() {
        let engine = Engine::start(Arc::new(Echo), EngineConfig::default()).expect("engine starts");
        let failed = engine.embed(vec![vec![u32::MAX]], mean()).await;
        assert!(matches!(failed, Err(EngineError::Model(_))));
        assert_eq!(
            engine.embed(vec![vec![1, 2]], mean()).await.expect("still serving"),
            vec![vec![1.0, 2.0]]
        );
    }
}
