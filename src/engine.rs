//! The batching engine between the HTTP handlers and a model.
//!
//! Requests are queued on a bounded channel (a full queue is refused at once, never grown) and
//! served by one worker thread that owns the forward pass, so the async reactor never runs
//! model code. The worker works in *waves*: it takes up to a token budget of sequences from the
//! requests waiting (oldest first, several requests merged), sorts them by length so padding
//! stays small, runs them in batches, and answers each request as soon as its last sequence is
//! done. A large request is split across waves, so small requests behind it are not held up for
//! its whole length. A request whose client has gone away stops costing work.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::runner::Embedder;

#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Most tokens (padding included) in one forward pass.
    pub max_batch_tokens: usize,
    /// Most requests waiting for the worker; one more is refused with [`EngineError::QueueFull`].
    pub queue_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch_tokens: 8192,
            queue_capacity: 256,
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
    reply: oneshot::Sender<Reply>,
}

#[derive(Clone)]
pub struct Engine {
    sender: mpsc::Sender<Job>,
}

impl Engine {
    /// Starts the worker thread; it runs until every handle to the engine is dropped.
    pub fn start(model: Arc<dyn Embedder>, config: EngineConfig) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        std::thread::Builder::new()
            .name("embeddings-engine".to_owned())
            .spawn(move || Worker::new(model, config, receiver).run())?;
        Ok(Self { sender })
    }

    /// Embeds the sequences, in order. Returns at once with `QueueFull` when the queue is full.
    pub async fn embed(&self, sequences: Vec<Vec<u32>>) -> Reply {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Job { sequences, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => EngineError::Stopped,
        })?;
        answer.await.unwrap_or(Err(EngineError::Stopped))
    }
}

/// A request being worked on: its sequences in ascending length order, and what is done so far.
struct ActiveJob {
    job: Job,
    order: Vec<usize>,
    next: usize,
    results: Vec<Vec<f32>>,
    done: usize,
    failed: Option<EngineError>,
}

impl ActiveJob {
    fn new(job: Job) -> Self {
        let mut order: Vec<usize> = (0..job.sequences.len()).collect();
        order.sort_by_key(|&i| job.sequences[i].len());
        let results = vec![Vec::new(); job.sequences.len()];
        Self {
            job,
            order,
            next: 0,
            results,
            done: 0,
            failed: None,
        }
    }

    fn finished(&self) -> bool {
        self.failed.is_some() || self.done == self.job.sequences.len()
    }
}

struct Worker {
    model: Arc<dyn Embedder>,
    config: EngineConfig,
    receiver: mpsc::Receiver<Job>,
    active: VecDeque<ActiveJob>,
}

impl Worker {
    fn new(model: Arc<dyn Embedder>, config: EngineConfig, receiver: mpsc::Receiver<Job>) -> Self {
        Self {
            model,
            config,
            receiver,
            active: VecDeque::new(),
        }
    }

    fn run(mut self) {
        loop {
            if self.active.is_empty() {
                match self.receiver.blocking_recv() {
                    Some(job) => self.active.push_back(ActiveJob::new(job)),
                    None => return,
                }
            }
            // Admit only about one wave of work ahead: the rest waits in the bounded channel, so
            // a flood of requests meets the queue's limit instead of piling up in here.
            while self.pending_tokens() < self.config.max_batch_tokens {
                match self.receiver.try_recv() {
                    Ok(job) => self.active.push_back(ActiveJob::new(job)),
                    Err(_) => break,
                }
            }
            self.active.retain(|a| !a.job.reply.is_closed());
            let wave = self.take_wave();
            self.run_wave(&wave);
            self.answer_finished();
        }
    }

    /// Picks the next sequences to compute: oldest requests first, shortest sequences of each
    /// first, up to one batch worth of tokens (always at least one sequence).
    fn take_wave(&mut self) -> Vec<(usize, usize)> {
        let mut budget = self.config.max_batch_tokens;
        let mut wave = Vec::new();
        'jobs: for (job_index, active) in self.active.iter_mut().enumerate() {
            while active.next < active.order.len() {
                let sequence = active.order[active.next];
                let len = active.job.sequences[sequence].len();
                if !wave.is_empty() && len > budget {
                    break 'jobs;
                }
                budget = budget.saturating_sub(len);
                wave.push((job_index, sequence));
                active.next += 1;
            }
        }
        wave.sort_by_key(|&(job, sequence)| self.active[job].job.sequences[sequence].len());
        wave
    }

    fn run_wave(&mut self, wave: &[(usize, usize)]) {
        for batch in plan_batches(wave.len(), |i| self.len_of(wave[i]), self.config.max_batch_tokens) {
            let members: Vec<(usize, usize)> = wave[batch]
                .iter()
                .copied()
                .filter(|&(job, _)| self.active[job].failed.is_none() && !self.active[job].job.reply.is_closed())
                .collect();
            if members.is_empty() {
                continue;
            }
            let sequences: Vec<&[u32]> = members
                .iter()
                .map(|&(job, seq)| self.active[job].job.sequences[seq].as_slice())
                .collect();
            // A panic inside the model must cost only this batch, never the worker.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.model.embed_batch(&sequences)));
            let outcome = match outcome {
                Ok(Ok(vectors)) if vectors.len() == members.len() => Ok(vectors),
                Ok(Ok(vectors)) => Err(format!("expected {} vectors, got {}", members.len(), vectors.len())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the forward pass panicked".to_owned()),
            };
            match outcome {
                Ok(vectors) => {
                    for ((job, seq), vector) in members.into_iter().zip(vectors) {
                        let active = &mut self.active[job];
                        active.results[seq] = vector;
                        active.done += 1;
                    }
                }
                Err(message) => {
                    tracing::error!(error = %message, "batch failed");
                    for (job, _) in members {
                        self.active[job].failed = Some(EngineError::Model(message.clone()));
                    }
                }
            }
        }
    }

    fn pending_tokens(&self) -> usize {
        self.active
            .iter()
            .flat_map(|a| a.order[a.next..].iter().map(|&i| a.job.sequences[i].len()))
            .sum()
    }

    fn len_of(&self, (job, sequence): (usize, usize)) -> usize {
        self.active[job].job.sequences[sequence].len()
    }

    fn answer_finished(&mut self) {
        let mut still_active = VecDeque::with_capacity(self.active.len());
        for active in self.active.drain(..) {
            if !active.finished() {
                still_active.push_back(active);
                continue;
            }
            let reply = match active.failed {
                Some(error) => Err(error),
                None => Ok(active.results),
            };
            // The requester may have gone away meanwhile; nothing else to do then.
            let _ = active.job.reply.send(reply);
        }
        self.active = still_active;
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
        fn embed_batch(&self, sequences: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
            if sequences.iter().any(|s| s.contains(&u32::MAX)) {
                panic!("poisoned input");
            }
            Ok(sequences
                .iter()
                .map(|s| s.iter().map(|&t| t as f32).collect())
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
                    let got = engine.embed(sequences.clone()).await.expect("embedded");
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

    #[tokio::test]
    async fn a_panicking_batch_fails_its_request_and_the_worker_survives() {
        let engine = Engine::start(Arc::new(Echo), EngineConfig::default()).expect("engine starts");
        let failed = engine.embed(vec![vec![u32::MAX]]).await;
        assert!(matches!(failed, Err(EngineError::Model(_))));
        assert_eq!(
            engine.embed(vec![vec![1, 2]]).await.expect("still serving"),
            vec![vec![1.0, 2.0]]
        );
    }
}
