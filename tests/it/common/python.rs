//! Python client scripts in `tests/` against a running server: the interpreter comes from an
//! environment variable (`EMBEDDINGS_TEST_PYTHON`, prepared by scripts/test.sh), and
//! `EMBEDDINGS_SKIP_CLIENT_LIBRARIES=1` skips them on a machine without it.

use std::path::Path;
use std::process::Command;

/// Whether client-library tests are skipped here (said on stderr).
pub fn skipped() -> bool {
    let skip = std::env::var_os("EMBEDDINGS_SKIP_CLIENT_LIBRARIES").is_some();
    if skip {
        eprintln!("skipped: EMBEDDINGS_SKIP_CLIENT_LIBRARIES is set");
    }
    skip
}

/// Runs `tests/SCRIPT BASE_URL ARGS...` with the Python `python_var` names; the script must
/// print "all checks passed".
pub async fn run_script(python_var: &str, script: &str, base_url: &str, args: &[String]) {
    let python = std::env::var(python_var).unwrap_or_else(|_| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(script);
    let (base_url, args) = (base_url.to_owned(), args.to_vec());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg(&base_url)
            .args(&args)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("HF_TOKEN")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
    })
    .await
    .expect("client ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client script failed (are its requirements installed for {python_var}?):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
