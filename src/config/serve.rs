//! How the `serve` command's flags, ours and TEI's, combine into the server's settings.

use super::ServeArgs;
use crate::engine::EngineConfig;
use crate::registry::Registry;
use crate::service::Limits;

/// Where the server listens unless told: loopback on our port, or, when started as TEI
/// (`--model-id`), TEI's defaults, so that a TEI manifest keeps its addresses.
pub const DEFAULT_ADDRESS: (&str, u16) = ("127.0.0.1", 11445);
pub const TEI_DEFAULT_ADDRESS: (&str, u16) = ("0.0.0.0", 3000);
/// TEI's metrics port, served by default when started as TEI.
pub const TEI_PROMETHEUS_PORT: u16 = 9000;
/// TEI's defaults for the limits a client meets (router 1.9.3's `--max-client-batch-size`,
/// `--max-concurrent-requests`, `--payload-limit`), ours unless started as TEI.
pub const TEI_MAX_CLIENT_BATCH_SIZE: usize = 32;
pub const TEI_MAX_CONCURRENT_REQUESTS: usize = 512;
pub const TEI_PAYLOAD_LIMIT: usize = 2_000_000;

impl ServeArgs {
    /// The address and port to listen on.
    pub fn address(&self) -> (String, u16) {
        let (host, port) = if self.tei.model_id.is_some() {
            TEI_DEFAULT_ADDRESS
        } else {
            DEFAULT_ADDRESS
        };
        (
            self.host.clone().unwrap_or_else(|| host.to_owned()),
            self.port.unwrap_or(port),
        )
    }

    /// The port of metrics alone, if any: `--prometheus-port`, else TEI's 9000 when started as
    /// TEI.
    pub fn prometheus_port(&self) -> Option<u16> {
        self.tei
            .prometheus_port
            .or(self.tei.model_id.as_ref().map(|_| TEI_PROMETHEUS_PORT))
    }

    /// The allow-list: `--model-id`'s one model, else the models file; `--dtype` applied.
    pub fn registry(&self) -> anyhow::Result<Registry> {
        match self.tei.registry()? {
            Some(registry) => {
                self.precision.apply_to_process();
                Ok(registry.with_default_precision(self.precision.dtype.precision))
            }
            None => self.precision.registry(&self.models),
        }
    }

    /// Whether the server was started as TEI is (`--model-id`): TEI's defaults then apply.
    pub fn as_tei(&self) -> bool {
        self.tei.model_id.is_some()
    }

    /// The request limits, TEI's flags included.
    pub fn limits(&self) -> Limits {
        let mut limits = self.tuning.limits(&self.protection);
        let tei = self.as_tei();
        if let Some(size) = self
            .tei
            .max_client_batch_size
            .or(tei.then_some(TEI_MAX_CLIENT_BATCH_SIZE))
        {
            limits.max_inputs = size.max(1);
        }
        if self.tuning.max_body_bytes.is_none() && tei {
            limits.max_body_bytes = TEI_PAYLOAD_LIMIT;
        }
        limits.auto_truncate = self.tei.auto_truncate.unwrap_or(true);
        limits
    }

    /// The engine settings for a model on `device`, TEI's flags included.
    pub fn engine(&self, device: &candle_core::Device) -> EngineConfig {
        let tuned = self.tuning.engine(device);
        let queue_capacity = match self.tuning.max_queue {
            None if self.as_tei() => TEI_MAX_CONCURRENT_REQUESTS,
            _ => tuned.queue_capacity,
        };
        EngineConfig {
            max_batch_sequences: self.tei.max_batch_requests.map_or(usize::MAX, |n| n.max(1)),
            queue_capacity,
            ..tuned
        }
    }
}
