//! The engine against stand-in models: batching, every request getting its own vectors,
//! abandoned requests, and panics confined to their batch.

use super::*;
use crate::runner::{PoolingMode, PoolingModes};

fn mean() -> Pooling {
    Pooling::new(PoolingModes::single(PoolingMode::Mean))
}

#[test]
fn batches_respect_the_padded_token_budget() {
    let lens = [2, 3, 3, 5, 8, 20];
    let batches = plan_batches(lens.len(), |i| lens[i], 10, usize::MAX);
    assert_eq!(batches, vec![0..3, 3..4, 4..5, 5..6]);
    for batch in &batches {
        let longest = lens[batch.end - 1];
        assert!(batch.len() == 1 || batch.len() * longest <= 10);
    }
    assert!(plan_batches(0, |_| 1, 10, usize::MAX).is_empty());
    // TEI's --max-batch-requests: at most that many sequences a pass, whatever the budget.
    assert_eq!(plan_batches(5, |_| 1, 100, 2), vec![0..2, 2..4, 4..5]);
}

#[test]
fn a_small_request_shares_the_next_wave_with_a_large_one() {
    let (sender, receiver) = mpsc::channel(8);
    let mut queue = Queue {
        receiver,
        pending: VecDeque::new(),
    };
    let mut answers = Vec::new();
    let mut submit = |count: usize, len: usize| {
        let (reply, answer) = oneshot::channel();
        answers.push(answer);
        let sequence = Sequence {
            tokens: vec![1; len],
            second_segment: None,
        };
        let job = Job {
            sequences: vec![sequence; count],
            pooling: mean(),
            submitted: Instant::now(),
            span: tracing::Span::none(),
            reply,
        };
        sender.try_send(job).map_err(|_| ()).expect("queued");
    };
    submit(100, 72);
    let first = queue.next_wave(128, "test").expect("a wave");
    assert!(first.iter().all(|(job, _)| job.sequences.len() == 100));
    // A one-document request arrives while the large one has most of its sequences to go.
    submit(1, 72);
    let second = queue.next_wave(128, "test").expect("a wave");
    assert!(
        second.iter().any(|(job, _)| job.sequences.len() == 1),
        "the small request rides in the next wave"
    );
}

/// A deterministic stand-in that encodes each sequence's content in its vector, so tests
/// can tell whether every request got its own answers back.
struct Echo;
impl SequenceModel for Echo {
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError> {
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
            max_batch_sequences: usize::MAX,
        },
        "echo",
    )
    .expect("engine starts");
    let handles: Vec<_> = (0..40u32)
        .map(|r| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let sequences: Vec<Vec<u32>> = (0..(r % 5 + 1))
                    .map(|s| vec![r; (s * 3 + r % 7 + 1) as usize])
                    .collect();
                let got = engine.embed(sequences.clone(), mean()).await.expect("embedded").vectors;
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
impl SequenceModel for Slow {
    fn run_batch(&self, sequences: &[SequenceInput]) -> Result<Vec<Vec<f32>>, RunnerError> {
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
        max_batch_sequences: usize::MAX,
    };
    let engine = Engine::start(Arc::clone(&model) as Arc<dyn SequenceModel>, config, "slow").expect("engine starts");
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
        engine.embed(vec![vec![1]], mean()).await.expect("served").vectors,
        vec![vec![1.0]]
    );
}

#[tokio::test]
async fn a_panicking_batch_fails_its_request_and_the_worker_survives() {
    let engine = Engine::start(Arc::new(Echo), EngineConfig::default(), "echo").expect("engine starts");
    let failed = engine.embed(vec![vec![u32::MAX]], mean()).await;
    assert!(matches!(failed, Err(EngineError::Model(_))));
    assert_eq!(
        engine
            .embed(vec![vec![1, 2]], mean())
            .await
            .expect("still serving")
            .vectors,
        vec![vec![1.0, 2.0]]
    );
}
