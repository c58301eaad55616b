//! Where the unit tests find their fixtures: the repository's `tests/fixtures/` (the tiny
//! sentence-transformers pipelines and the reference vectors), or the folder that
//! `EMBEDDINGS_FIXTURES` names. The integration tests' `tests/common` reads the same variable.

use std::path::PathBuf;

/// The fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("EMBEDDINGS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

/// The directory of the tiny pipeline `name` (`tiny-bert-cls`, ...).
pub fn pipeline_dir(name: &str) -> PathBuf {
    fixtures_dir().join("st-pipelines").join(name)
}
