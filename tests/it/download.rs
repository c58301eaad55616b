//! Downloads from a local HTTP server standing in for the Hugging Face Hub (the real hub is not
//! reachable from CI): a connection dropped halfway through the weights is resumed and the
//! model then serves its reference vectors; a transfer that ends short is removed instead of
//! being taken for the whole file, and the next try fetches it whole.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use common::{max_abs_diff, pipeline_dir, pipeline_references, scratch_dir, vectors, Options, TestServer};
use embeddings::hub::{Access, HubSettings, Snapshot};
use embeddings::model_files::WeightFiles;
use embeddings::registry::Registry;
use serde_json::json;

pub const REPO: &str = "org/tiny";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
pub const MODEL: &str = "tiny-bert-mean-prompts";

/// How the stand-in serves `model.safetensors` on its first full transfer.
#[derive(Clone, Copy, PartialEq)]
pub enum Fault {
    /// Whole, every time.
    None,
    /// Half the bytes, then the connection is cut.
    DropHalfway,
    /// Half the bytes as if they were the whole body (a clean, short end).
    EndShort,
}

pub struct Hub {
    dir: PathBuf,
    fault: Fault,
    /// Full transfers of the weights so far.
    pub weight_transfers: AtomicUsize,
}

async fn resolve(
    State(hub): State<Arc<Hub>>,
    UrlPath((org, name, _revision, file)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let bytes = match (format!("{org}/{name}") == REPO).then(|| std::fs::read(hub.dir.join(&file))) {
        Some(Ok(bytes)) => bytes,
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Body::empty())
                .unwrap_or_default()
        }
    };
    let total = bytes.len();
    let range = headers.get("range").and_then(|v| v.to_str().ok()).unwrap_or("bytes=0-");
    let (start, end) = match range.trim_start_matches("bytes=").split_once('-') {
        Some((s, e)) => (
            s.parse().unwrap_or(0),
            e.parse().map_or(total - 1, |e: usize| e.min(total - 1)),
        ),
        None => (0, total - 1),
    };
    let body = bytes[start.min(total)..=end.max(start).min(total - 1)].to_vec();
    let builder = Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header("x-repo-commit", COMMIT)
        .header("etag", format!("\"{}-{total}\"", file.replace('/', "-")))
        .header("content-range", format!("bytes {start}-{end}/{total}"));
    let faulty = file == "model.safetensors"
        && end > start
        && hub.weight_transfers.fetch_add(1, Ordering::SeqCst) == 0
        && hub.fault != Fault::None;
    let response = if !faulty {
        builder.header("content-length", body.len()).body(Body::from(body))
    } else {
        let half = Bytes::from(body[..body.len() / 2].to_vec());
        match hub.fault {
            Fault::None | Fault::EndShort => builder.header("content-length", half.len()).body(Body::from(half)),
            Fault::DropHalfway => {
                let chunks: Vec<Result<Bytes, std::io::Error>> =
                    vec![Ok(half), Err(std::io::Error::other("connection dropped"))];
                builder
                    .header("content-length", body.len())
                    .body(Body::from_stream(futures_util::stream::iter(chunks)))
            }
        }
    };
    response.unwrap_or_default()
}

/// Serves the tiny model's files as the hub's `resolve` route does; returns its base URL.
pub async fn stand_in_hub(fault: Fault) -> (String, Arc<Hub>) {
    let hub = Arc::new(Hub {
        dir: pipeline_dir(MODEL),
        fault,
        weight_transfers: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/{org}/{name}/resolve/{revision}/{*file}", axum::routing::get(resolve))
        .with_state(Arc::clone(&hub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, hub)
}

pub fn online_hub(endpoint: &str, cache: &Path) -> HubSettings {
    let (endpoint, cache) = (endpoint.to_owned(), cache.to_string_lossy().into_owned());
    HubSettings::from_lookup(move |name| match name {
        "HF_ENDPOINT" => Some(endpoint.clone()),
        "HF_HUB_CACHE" => Some(cache.clone()),
        _ => None,
    })
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_resumed_and_the_model_serves_its_vectors() {
    let (endpoint, hub) = stand_in_hub(Fault::DropHalfway).await;
    let cache = scratch_dir("download-cache");
    let server = TestServer::start(
        &format!("{REPO} tiny\n"),
        online_hub(&endpoint, &cache),
        Options::default(),
    )
    .await;
    assert_eq!(hub.weight_transfers.load(Ordering::SeqCst), 2, "cut once, then resumed");
    let weights = files(&cache)
        .into_iter()
        .find(|p| p.ends_with("model.safetensors"))
        .expect("weights in the cache");
    assert_eq!(
        std::fs::read(&weights).expect("readable"),
        std::fs::read(pipeline_dir(MODEL).join("model.safetensors")).expect("fixture")
    );
    assert!(
        files(&cache).iter().all(|p| p.extension().is_none_or(|e| e != "part")),
        "no partial file left"
    );
    let reference = &pipeline_references(MODEL)[0];
    let (status, body) = server.embed(json!({"model": "tiny", "input": reference.text})).await;
    assert_eq!(status, 200, "{body}");
    assert!(max_abs_diff(&vectors(&body)[0], &reference.embedding) <= 2e-5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_transfer_is_removed_and_the_next_try_is_whole() {
    let (endpoint, hub) = stand_in_hub(Fault::EndShort).await;
    let cache = scratch_dir("download-cache");
    let settings = online_hub(&endpoint, &cache);
    let registry = Registry::parse(&format!("{REPO} tiny\n"), Path::new("/")).expect("parses");
    let spec = registry.specs()[0].clone();
    let fetch = {
        let (spec, settings) = (spec.clone(), settings.clone());
        move || WeightFiles::fetch(&Snapshot::new(&spec, &settings, Access::Download { progress: false }))
    };
    let first = tokio::task::spawn_blocking(fetch.clone()).await.expect("joined");
    let error = format!("{:#}", first.err().expect("the short transfer is an error"));
    assert!(error.contains("stopped at") && error.contains("try again"), "{error}");
    assert!(
        files(&cache).iter().all(|p| !p.ends_with("model.safetensors")),
        "nothing may pass for the whole weights"
    );
    let second = tokio::task::spawn_blocking(fetch)
        .await
        .expect("joined")
        .expect("the next try");
    assert_eq!(hub.weight_transfers.load(Ordering::SeqCst), 2);
    assert_eq!(
        std::fs::metadata(&second.weights[0]).map(|m| m.len()).ok(),
        std::fs::metadata(pipeline_dir(MODEL).join("model.safetensors"))
            .map(|m| m.len())
            .ok()
    );
    // The cache now holds it: a start that may not download finds it.
    let cached = WeightFiles::fetch(&Snapshot::new(&spec, &settings, Access::CacheOnly)).expect("cached");
    assert_eq!(cached.weights, second.weights);
}
