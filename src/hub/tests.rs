//! Hub settings from the environment, and a miss offline.

use super::*;
use std::collections::HashMap;

fn settings(vars: &[(&str, &str)]) -> HubSettings {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    HubSettings::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn cache_dir_follows_huggingface_hub_precedence() {
    assert_eq!(
        settings(&[("HOME", "/home/u")]).cache_dir,
        PathBuf::from("/home/u/.cache/huggingface/hub")
    );
    assert_eq!(
        settings(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).cache_dir,
        PathBuf::from("/x/huggingface/hub")
    );
    assert_eq!(settings(&[("HF_HOME", "/hf")]).cache_dir, PathBuf::from("/hf/hub"));
    assert_eq!(
        settings(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]).cache_dir,
        PathBuf::from("/c")
    );
}

#[test]
fn token_variables_are_consulted_in_order_and_never_printed() {
    let s = settings(&[
        ("HUGGINGFACE_API_KEY", "last"),
        ("HUGGING_FACE_HUB_TOKEN", "second"),
        ("HF_TOKEN", " "),
    ]);
    assert_eq!(s.token.as_deref(), Some("second"));
    assert!(!format!("{s:?}").contains("second"));
    assert!(settings(&[]).token.is_none());
}

#[test]
fn offline_and_endpoint_are_read() {
    assert!(settings(&[("HF_HUB_OFFLINE", "1")]).offline);
    assert!(settings(&[("HF_HUB_OFFLINE", "TRUE")]).offline);
    assert!(!settings(&[("HF_HUB_OFFLINE", "0")]).offline);
    assert_eq!(
        settings(&[("HF_ENDPOINT", "http://mirror:8080/")]).endpoint,
        "http://mirror:8080"
    );
}

#[test]
fn offline_miss_is_a_clear_permanent_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("embeddings-hub-test-{}", std::process::id()));
    let s = settings(&[
        ("HF_HUB_CACHE", dir.to_str().unwrap_or("/nonexistent")),
        ("HF_HUB_OFFLINE", "1"),
    ]);
    let spec = ModelSpec {
        id: "org/missing".into(),
        source: ModelSource::Hub {
            repo_id: "org/missing".into(),
            revision: "main".into(),
        },
        aliases: vec![],
        options: Default::default(),
    };
    let error = Snapshot::new(&spec, &s, Access::Download { progress: false })
        .required(CONFIG)
        .unwrap_err();
    // The caller names the model once; the message names the file and the fault.
    assert_eq!(error.model, "org/missing");
    assert!(!error.transient, "a file missing offline stays missing on a retry");
    let err = error.to_string();
    assert!(err.starts_with("config.json is not in the cache"), "{err}");
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    assert!(!err.contains('\n'));
}
