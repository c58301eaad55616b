//! text-embeddings-inference's router flags and environment variables, so that a TEI manifest
//! starts this server unchanged (README "Coming from text-embeddings-inference" maps each one).
//! Flags TEI names differently are aliases on ours (`--hostname`, `--payload-limit`,
//! `--max-concurrent-requests`, `-p`); TEI's environment variable names for flags we share are
//! adopted before the command line is read ([`adopt_environment`]); the rest are here.

use std::path::PathBuf;

use clap::Args;

use crate::registry::{EntryOptions, ModelSpec, Registry};
use crate::runner::PoolingMode;

/// TEI's variable and ours for each flag the two share under different variable names. Ours
/// wins when both are set. `HOSTNAME` is left out on purpose: Docker and most shells set it to
/// the machine's name for every process.
pub const ENVIRONMENT_ALIASES: [(&str, &str); 9] = [
    ("PORT", "EMBEDDINGS_PORT"),
    ("DTYPE", "EMBEDDINGS_DTYPE"),
    ("MAX_BATCH_TOKENS", "EMBEDDINGS_MAX_BATCH_TOKENS"),
    ("MAX_CONCURRENT_REQUESTS", "EMBEDDINGS_MAX_QUEUE"),
    ("PAYLOAD_LIMIT", "EMBEDDINGS_MAX_BODY_BYTES"),
    ("API_KEY", "EMBEDDINGS_API_KEY"),
    ("CORS_ALLOW_ORIGIN", "EMBEDDINGS_CORS_ALLOW_ORIGIN"),
    ("HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE"),
    ("HF_API_TOKEN", "HF_TOKEN"),
];

/// The variables to set so that clap reads TEI's variables under our names: each TEI
/// variable that is set, whose counterpart is not. `JSON_OUTPUT=true` becomes
/// `EMBEDDINGS_LOG_FORMAT=json`.
pub fn adopted_environment(var: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    let mut adopted: Vec<(&'static str, String)> = ENVIRONMENT_ALIASES
        .iter()
        .filter(|(_, ours)| var(ours).is_none())
        .filter_map(|&(tei, ours)| var(tei).map(|value| (ours, value)))
        .collect();
    let json = var("JSON_OUTPUT").is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"));
    if json && var("EMBEDDINGS_LOG_FORMAT").is_none() {
        adopted.push(("EMBEDDINGS_LOG_FORMAT", "json".to_owned()));
    }
    adopted
}

/// Sets [`adopted_environment`]'s variables in this process. Call it first thing in `main`,
/// before any thread starts.
pub fn adopt_environment() {
    for (name, value) in adopted_environment(|name| std::env::var(name).ok().filter(|v| !v.is_empty())) {
        std::env::set_var(name, value);
    }
}

/// The command line with `serve` put first when it starts with a flag and names no command, so
/// that `embeddings --model-id X --port 80` runs as `text-embeddings-router --model-id X --port
/// 80` does (and a container's arguments replace its `serve` command without breaking it).
pub fn with_serve_default(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const COMMANDS: [&str; 4] = ["serve", "download", "embed", "help"];
    const OWN_FLAGS: [&str; 4] = ["-h", "--help", "-V", "--version"];
    let starts_with_flag = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| a.starts_with('-') && !OWN_FLAGS.contains(&a));
    let names_a_command = args
        .iter()
        .skip(1)
        .any(|a| a.to_str().is_some_and(|a| COMMANDS.contains(&a)));
    if !starts_with_flag || names_a_command {
        return args;
    }
    let mut with_serve = args;
    with_serve.insert(1, "serve".into());
    with_serve
}

/// The flags only TEI has (and `--grpc-port`).
#[derive(Debug, Clone, Default, Args)]
pub struct TeiArgs {
    /// Serve this one model (a hub id, or a local directory of a saved model) instead of the
    /// models file: an allow-list of one.
    #[arg(long, env = "MODEL_ID", conflicts_with = "models_file")]
    pub model_id: Option<String>,

    /// The hub revision (branch, tag or commit) of --model-id.
    #[arg(long, env = "REVISION", requires = "model_id")]
    pub revision: Option<String>,

    /// The name clients use for --model-id (and see in answers); the id stays a name too.
    #[arg(long, env = "SERVED_MODEL_NAME", requires = "model_id")]
    pub served_model_name: Option<String>,

    /// Replaces --model-id's pooling: cls, mean, last-token (or any sentence-transformers mode),
    /// or splade (which a SPLADE model has already).
    #[arg(long, env = "POOLING", requires = "model_id")]
    pub pooling: Option<String>,

    /// The prompt (by its name in the model's prompts) every request to --model-id gets unless
    /// it names one.
    #[arg(
        long,
        env = "DEFAULT_PROMPT_NAME",
        requires = "model_id",
        conflicts_with = "default_prompt"
    )]
    pub default_prompt_name: Option<String>,

    /// A literal prefix every text sent to --model-id gets unless the request names a prompt.
    #[arg(long, env = "DEFAULT_PROMPT", requires = "model_id")]
    pub default_prompt: Option<String>,

    /// Most inputs one request may carry (413 beyond) [default: 2048, OpenAI's cap].
    #[arg(long, env = "MAX_CLIENT_BATCH_SIZE")]
    pub max_client_batch_size: Option<usize>,

    /// Most sequences in one forward pass [default: as many as --max-batch-tokens holds].
    #[arg(long, env = "MAX_BATCH_REQUESTS")]
    pub max_batch_requests: Option<usize>,

    /// `false`: an input over the model's limit is an error (413) unless the request itself
    /// says `truncate: true`; `true` (the default) truncates it.
    #[arg(long, env = "AUTO_TRUNCATE", num_args = 0..=1, default_missing_value = "true")]
    pub auto_truncate: Option<bool>,

    /// The Hugging Face token for private or gated models (also HF_TOKEN; TEI's deprecated
    /// --hf-api-token and HF_API_TOKEN are read as it).
    #[arg(long, alias = "hf-api-token", env = "HF_TOKEN", hide_env_values = true)]
    pub hf_token: Option<String>,

    /// Where the Hugging Face cache is (also HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE).
    #[arg(long)]
    pub huggingface_hub_cache: Option<PathBuf>,

    /// Also serve HTTP and gRPC on this Unix socket (created afresh, removed at exit).
    #[arg(long, env = "UDS_PATH")]
    pub uds_path: Option<PathBuf>,

    /// Logs as JSON lines (as --log-format json).
    #[arg(long)]
    pub json_output: bool,

    /// Leave the request stages' spans out of the log.
    #[arg(long, env = "DISABLE_SPANS")]
    pub disable_spans: bool,

    /// Send traces of each request's spans as OTLP over gRPC to this collector
    /// (`http://HOST:4317`).
    #[arg(long, env = "OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// The service name on those traces.
    #[arg(long, env = "OTLP_SERVICE_NAME", default_value = "text-embeddings-inference.server")]
    pub otlp_service_name: String,

    /// Also serve GET /metrics on this port (TEI serves it on 9000).
    #[arg(long, env = "PROMETHEUS_PORT")]
    pub prometheus_port: Option<u16>,

    /// Also serve the gRPC API alone on this port (it is always served on --port as well, by
    /// content type).
    #[arg(long, env = "EMBEDDINGS_GRPC_PORT")]
    pub grpc_port: Option<u16>,

    /// Accepted for TEI's sake and shown in /info; tokenization here runs on the blocking
    /// pool (warned at start).
    #[arg(long, env = "TOKENIZATION_WORKERS")]
    pub tokenization_workers: Option<usize>,

    /// Accepted for TEI's sake; the Dense modules come from the model's modules.json (warned at
    /// start).
    #[arg(long, env = "DENSE_PATH")]
    pub dense_path: Option<String>,
}

impl TeiArgs {
    /// The allow-list of one that --model-id means, or `None` without it.
    pub fn registry(&self) -> anyhow::Result<Option<Registry>> {
        let Some(model_id) = self.model_id.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let mut options = EntryOptions {
            prompt_name: self.default_prompt_name.clone(),
            prompt: self.default_prompt.clone(),
            ..EntryOptions::default()
        };
        if let Some(pooling) = self.pooling.as_deref() {
            options.pooling = pooling_override(pooling)?;
        }
        let mut spec = ModelSpec::from_model_id(model_id, self.revision.as_deref(), options)
            .map_err(|e| anyhow::anyhow!("--model-id {model_id}: {e}"))?;
        if let Some(name) = self.served_model_name() {
            // The served name is what answers carry; the id (or path) still resolves.
            let id = std::mem::replace(&mut spec.id, name.to_owned());
            spec.aliases.insert(0, name.to_owned());
            spec.aliases.push(id);
        }
        Ok(Some(Registry::from_specs(vec![spec]).map_err(|e| anyhow::anyhow!(e))?))
    }

    /// `--served-model-name`, unless blank.
    fn served_model_name(&self) -> Option<&str> {
        self.served_model_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }

    /// What TEI's answers need when started as TEI.
    pub fn drop_in(&self) -> Option<crate::service::TeiDropIn> {
        let model_id = self.model_id.as_deref()?.trim().to_owned();
        let served_model_name = self.served_model_name().unwrap_or(&model_id).to_owned();
        Some(crate::service::TeiDropIn {
            model_id,
            served_model_name,
            tokenization_workers: self.tokenization_workers.map(|n| n.max(1)),
        })
    }

    /// Whether --pooling asks for SPLADE, which only a SPLADE model can give: checked once the
    /// model's files are read.
    pub fn wants_splade(&self) -> bool {
        self.pooling
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("splade"))
    }

    /// One line for each flag accepted that has no effect here.
    pub fn ignored(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(workers) = self.tokenization_workers {
            lines.push(format!(
                "--tokenization-workers {workers} has no effect: texts are tokenized on the runtime's blocking threads, in parallel"
            ));
        }
        if let Some(path) = &self.dense_path {
            lines.push(format!(
                "--dense-path {path} has no effect: Dense modules are read from the model's modules.json"
            ));
        }
        lines
    }
}

/// TEI's pooling names as a sentence-transformers pooling mode; `splade` overrides nothing.
fn pooling_override(name: &str) -> anyhow::Result<Option<PoolingMode>> {
    let name = name.trim().to_ascii_lowercase();
    if name == "splade" {
        return Ok(None);
    }
    let mode = match name.as_str() {
        "last-token" | "last_token" => Some(PoolingMode::LastToken),
        "mean_sqrt_len" => Some(PoolingMode::MeanSqrtLen),
        other => PoolingMode::parse(other),
    };
    mode.map(Some).ok_or_else(|| {
        anyhow::anyhow!(
            "--pooling {name} is not a pooling mode (cls, mean, last-token, splade, or one of {})",
            PoolingMode::names()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn adopted(vars: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        adopted_environment(|name| vars.get(name).cloned())
    }

    #[test]
    fn tei_variables_are_read_under_our_names_unless_ours_are_set() {
        assert_eq!(
            adopted(&[
                ("PORT", "8080"),
                ("MAX_CONCURRENT_REQUESTS", "64"),
                ("JSON_OUTPUT", "true")
            ]),
            vec![
                ("EMBEDDINGS_PORT", "8080".to_owned()),
                ("EMBEDDINGS_MAX_QUEUE", "64".to_owned()),
                ("EMBEDDINGS_LOG_FORMAT", "json".to_owned()),
            ]
        );
        assert!(adopted(&[("PORT", "8080"), ("EMBEDDINGS_PORT", "9")]).is_empty());
        assert!(adopted(&[("HOSTNAME", "a-container"), ("JSON_OUTPUT", "false")]).is_empty());
    }

    #[test]
    fn a_command_line_of_flags_alone_means_serve() {
        let line = |words: &[&str]| -> Vec<String> {
            with_serve_default(words.iter().map(|w| (*w).into()).collect())
                .into_iter()
                .map(|w| w.into_string().expect("utf-8"))
                .collect()
        };
        assert_eq!(
            line(&["embeddings", "--model-id", "x", "-p", "80"]),
            ["embeddings", "serve", "--model-id", "x", "-p", "80"]
        );
        for unchanged in [
            &["embeddings", "serve", "--port", "1"][..],
            &["embeddings", "--log-format", "json", "serve"],
            &["embeddings", "--help"],
            &["embeddings", "--version"],
            &["embeddings", "download"],
            &["embeddings"],
        ] {
            assert_eq!(line(unchanged), unchanged, "{unchanged:?}");
        }
    }

    #[test]
    fn model_id_is_an_allow_list_of_one_under_its_served_name() {
        let tei = TeiArgs {
            model_id: Some("BAAI/bge-small-en-v1.5".into()),
            revision: Some("v1".into()),
            served_model_name: Some("bge".into()),
            pooling: Some("last-token".into()),
            default_prompt_name: Some("query".into()),
            ..TeiArgs::default()
        };
        let registry = tei.registry().unwrap().unwrap();
        let spec = registry.default_spec();
        assert_eq!((spec.id.as_str(), spec.public_name()), ("bge", "bge"));
        assert_eq!(
            spec.source,
            crate::registry::ModelSource::Hub {
                repo_id: "BAAI/bge-small-en-v1.5".into(),
                revision: "v1".into()
            }
        );
        assert_eq!(spec.options.pooling, Some(PoolingMode::LastToken));
        assert_eq!(spec.options.prompt_name.as_deref(), Some("query"));
        assert!(registry.resolve("BAAI/bge-small-en-v1.5").is_some());
        assert!(TeiArgs::default().registry().unwrap().is_none());
        let bad = TeiArgs {
            model_id: Some("x/y".into()),
            pooling: Some("median".into()),
            ..TeiArgs::default()
        };
        assert!(bad.registry().unwrap_err().to_string().contains("--pooling median"));
    }
}
