//! Load generator for any OpenAI-compatible embeddings endpoint.
//!
//! Runs the three loads of the performance issue with deterministic texts, so two servers see
//! exactly the same work, and reports requests/s, embeddings/s, tokens/s (from `usage`) and
//! p50/p99 latency:
//!   A: 1000 requests x 1 sentence (~10 words), 16 concurrent
//!   B: 100 requests x 32 sentences (10-30 words), 4 concurrent
//!   C: 20 requests x 256 texts (~60 words), 1 at a time
//! plus I: 200 single short sentences one at a time (idle latency), and R: load B's shape where
//! half of every request repeats texts sent before (a re-indexing job; what the exact-repeat
//! cache is for).
//!
//! `cargo bench --bench loadgen -- --url http://127.0.0.1:11445/v1 --model all-MiniLM-L6-v2 [--loads A,B,C,I] [--scale 0.1] [--config PATH]`
//!
//! With `--config` (the model's config.json) it also reports each load's GFLOP/s and its share of
//! the float32 matmul roof, measured in this process on every core just before the loads (with
//! the server idle; run it on the server's machine).
//! Only loopback or hosts you run yourself: every load is bounded in requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use embeddings::runner::architectures;
use serde_json::{json, Value};

#[path = "support/roof.rs"]
mod roof;

#[path = "support/words.rs"]
mod words;
use words::WORDS;

/// A sentence of `fewest..=most` words.
fn sentence(random: &mut Random, fewest: usize, most: usize) -> String {
    let words = random.range(fewest, most);
    let mut text: Vec<&str> = (0..words).map(|_| WORDS[random.range(0, WORDS.len() - 1)]).collect();
    let mut first = text[0].to_owned();
    first[..1].make_ascii_uppercase();
    text[0] = &first;
    format!("{}.", text.join(" "))
}

struct Load {
    name: &'static str,
    description: &'static str,
    requests: Vec<Vec<String>>,
    concurrency: usize,
}

fn loads(scale: f64) -> Vec<Load> {
    let count = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let mut random = Random(0xA11CE);
    let a = (0..count(1000)).map(|_| vec![sentence(&mut random, 8, 12)]).collect();
    let mut random = Random(0xB0B);
    let b = (0..count(100))
        .map(|_| (0..32).map(|_| sentence(&mut random, 10, 30)).collect())
        .collect();
    let mut random = Random(0xC0FFEE);
    let c = (0..count(20))
        .map(|_| (0..256).map(|_| sentence(&mut random, 55, 65)).collect())
        .collect();
    let mut random = Random(0x1D1E);
    let idle = (0..count(200)).map(|_| vec![sentence(&mut random, 8, 12)]).collect();
    let mut random = Random(0x5EE);
    let mut sent: Vec<String> = Vec::new();
    let repeats = (0..count(100))
        .map(|_| {
            let fresh: Vec<String> = (0..32).map(|_| sentence(&mut random, 10, 30)).collect();
            let request: Vec<String> = if sent.is_empty() {
                fresh
            } else {
                let again = (0..16).map(|_| sent[random.range(0, sent.len() - 1)].clone());
                fresh.into_iter().take(16).chain(again).collect()
            };
            sent.extend(request.iter().cloned());
            request
        })
        .collect();
    vec![
        Load {
            name: "A",
            description: "1000 requests x 1 sentence, 16 concurrent",
            requests: a,
            concurrency: 16,
        },
        Load {
            name: "B",
            description: "100 requests x 32 sentences, 4 concurrent",
            requests: b,
            concurrency: 4,
        },
        Load {
            name: "C",
            description: "20 requests x 256 texts, 1 at a time",
            requests: c,
            concurrency: 1,
        },
        Load {
            name: "I",
            description: "200 x 1 short sentence at idle, 1 at a time",
            requests: idle,
            concurrency: 1,
        },
        Load {
            name: "R",
            description: "100 requests x 32 sentences, half of them sent before, 4 concurrent",
            requests: repeats,
            concurrency: 4,
        },
    ]
}

struct Outcome {
    requests: usize,
    embeddings: usize,
    tokens: u64,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

async fn run_load(client: &reqwest::Client, url: &str, model: &str, load: &Load) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(load.requests.clone());
    let started = Instant::now();
    let workers: Vec<_> = (0..load.concurrency)
        .map(|_| {
            let (client, url, model) = (client.clone(), url.to_owned(), model.to_owned());
            let (next, requests) = (Arc::clone(&next), Arc::clone(&requests));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut embeddings, mut tokens, mut errors) = (0usize, 0u64, 0usize);
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = requests.get(index) else { break };
                    let sent = Instant::now();
                    let body = json!({"model": model, "input": input, "encoding_format": "float"});
                    let answer = client.post(&url).json(&body).send().await;
                    let parsed = match answer {
                        Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
                        _ => None,
                    };
                    latencies.push(sent.elapsed());
                    match parsed {
                        Some(value) => {
                            embeddings += value["data"].as_array().map_or(0, Vec::len);
                            tokens += value["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
                        }
                        None => errors += 1,
                    }
                }
                (latencies, embeddings, tokens, errors)
            })
        })
        .collect();
    let mut outcome = Outcome {
        requests: load.requests.len(),
        embeddings: 0,
        tokens: 0,
        errors: 0,
        wall: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        if let Ok((latencies, embeddings, tokens, errors)) = worker.await {
            outcome.latencies.extend(latencies);
            outcome.embeddings += embeddings;
            outcome.tokens += tokens;
            outcome.errors += errors;
        }
    }
    outcome.wall = started.elapsed();
    outcome.latencies.sort();
    outcome
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && arg(&args, "--url").is_none() {
        // `cargo bench` with no target URL: nothing to measure against.
        eprintln!("loadgen: pass --url http://127.0.0.1:PORT/v1 (see scripts/bench.sh)");
        return;
    }
    let base = arg(&args, "--url").unwrap_or_else(|| "http://127.0.0.1:11445/v1".to_owned());
    let url = format!("{}/embeddings", base.trim_end_matches('/'));
    let model = arg(&args, "--model").unwrap_or_else(|| "sentence-transformers/all-MiniLM-L6-v2".to_owned());
    let selected = arg(&args, "--loads").unwrap_or_else(|| "A,B,C,I".to_owned());
    let scale: f64 = arg(&args, "--scale").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(300))
        .build()
        .expect("HTTP client");

    // One warm-up request so connection set-up and first-touch costs are not measured.
    let _ = client
        .post(&url)
        .json(&json!({"model": model, "input": "warm up"}))
        .send()
        .await;

    let model_config = match arg(&args, "--config") {
        Some(path) => match architectures::from_file(std::path::Path::new(&path)) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("loadgen: --config {path}: {e:#}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let roof = match &model_config {
        Some(_) => {
            let cores = embeddings::runner::kernels::compute_threads();
            let measured = tokio::task::spawn_blocking(move || roof::float32_roof(cores, Duration::from_secs(2))).await;
            match measured {
                Ok(Ok(gflops)) => Some(gflops),
                _ => {
                    eprintln!("loadgen: the roof could not be measured");
                    std::process::exit(2);
                }
            }
        }
        None => None,
    };

    println!("# load generator: {url}, model {model}");
    if let Some(roof) = roof {
        let (m, k, n) = roof::ROOF_SHAPE;
        println!("# float32 roof (matmul {m}x{k}x{n} on every core, measured now): {roof:.0} GFLOP/s");
    }
    println!("| load | requests/s | embeddings/s | tokens/s | p50 ms | p99 ms | errors | GFLOP/s | % of roof |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for load in loads(scale)
        .iter()
        .filter(|l| selected.split(',').any(|s| s.trim() == l.name))
    {
        let outcome = run_load(&client, &url, &model, load).await;
        let seconds = outcome.wall.as_secs_f64();
        let share = match (&model_config, roof) {
            (Some(config), Some(roof)) if outcome.embeddings > 0 => {
                let mean_length = outcome.tokens as f64 / outcome.embeddings as f64;
                let gflops = outcome.tokens as f64 * config.shape().flops_per_token(mean_length.round() as usize)
                    / seconds
                    / 1e9;
                format!("{gflops:.0} | {:.0}%", 100.0 * gflops / roof)
            }
            _ => "- | -".to_owned(),
        };
        println!(
            "| {} ({}) | {:.1} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {share} |",
            load.name,
            load.description,
            outcome.requests as f64 / seconds,
            outcome.embeddings as f64 / seconds,
            outcome.tokens as f64 / seconds,
            percentile(&outcome.latencies, 50.0),
            percentile(&outcome.latencies, 99.0),
            outcome.errors
        );
    }
}

/// SplitMix64: a few lines of deterministic randomness, so the benchmark texts come out the
/// same on every machine and in every version.
struct Random(u64);

impl Random {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next_u64() % (high - low + 1) as u64) as usize
    }
}
