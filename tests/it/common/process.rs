//! The `embeddings` binary as a child process, its JSON log read line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary, with nothing from the developer's environment leaking into the run.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_embeddings"));
    // Nothing from the developer's environment may leak into these runs.
    for var in [
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_ENDPOINT",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    // Nor TEI's variables, which the binary reads too.
    for var in [
        "MODEL_ID",
        "PORT",
        "DTYPE",
        "API_KEY",
        "MAX_BATCH_TOKENS",
        "MAX_CONCURRENT_REQUESTS",
        "PAYLOAD_LIMIT",
        "JSON_OUTPUT",
        "PROMETHEUS_PORT",
        "HUGGINGFACE_HUB_CACHE",
    ] {
        command.env_remove(var);
    }
    command
        .env_remove("EMBEDDINGS_MODELS_FILE")
        .env_remove("EMBEDDINGS_PORT")
        .env_remove("EMBEDDINGS_HOST");
    command
}

/// A server process whose stderr is read line by line (JSON logs) on a helper thread.
pub struct ServerProcess {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl ServerProcess {
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .env("EMBEDDINGS_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    pub fn address(&mut self) -> String {
        let line = self
            .wait_for("\"listening\"", Duration::from_secs(30))
            .expect("server logs its address");
        let log: Value = serde_json::from_str(&line).expect("JSON log line");
        log["fields"]["address"].as_str().expect("address field").to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
