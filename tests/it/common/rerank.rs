//! The scoring fixtures of `tests/fixtures/rerank/` and a server that serves them all, with an
//! embedding model beside them.

use serde_json::Value;

use super::{fixtures_dir, offline_hub, pipeline_dir, scratch_dir, Options, TestServer};

/// The rerankers, each with the alias the test server lists it under.
pub const RERANKERS: [(&str, &str); 4] = [
    ("tiny-bert-reranker", "bert-rr"),
    ("tiny-xlmr-reranker", "xlmr-rr"),
    ("tiny-modernbert-reranker", "modernbert-rr"),
    ("tiny-qwen3-reranker", "qwen3-rr"),
];

pub const CLASSIFIER: (&str, &str) = ("tiny-bert-classifier", "bert-cls");

/// The rows of `NAME.jsonl`.
pub fn rows(name: &str) -> Vec<Value> {
    let path = fixtures_dir().join("rerank").join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line"))
        .collect()
}

pub fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Every scoring fixture (rerankers first, in [`RERANKERS`]' order, then the classifier) and an
/// embedding model listed last as `embedder`.
pub fn models_file() -> String {
    let mut file = String::new();
    for (name, alias) in RERANKERS.iter().chain([&CLASSIFIER]) {
        file.push_str(&format!(
            "{} {alias}\n",
            fixtures_dir().join("rerank").join(name).display()
        ));
    }
    file.push_str(&format!("{} embedder\n", pipeline_dir("tiny-bert-cls").display()));
    file
}

pub async fn server(options: Options) -> TestServer {
    TestServer::start(&models_file(), offline_hub(&scratch_dir("empty-cache")), options).await
}

/// `(index, score)` of a TEI `/rerank` answer, in the answer's order.
pub fn tei_ranks(body: &Value) -> Vec<(usize, f32)> {
    body.as_array()
        .expect("array of ranks")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index") as usize,
                r["score"].as_f64().expect("score") as f32,
            )
        })
        .collect()
}

/// Scores in document order from a TEI `/rerank` answer.
pub fn scores_by_index(body: &Value) -> Vec<f32> {
    let mut ranks = tei_ranks(body);
    ranks.sort_by_key(|(index, _)| *index);
    ranks.into_iter().map(|(_, score)| score).collect()
}
