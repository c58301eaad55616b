//! `--max-loaded-bytes` and `--keep-alive`: how many models stay in memory, and for how long.

use clap::Args;

use crate::model_store::{KeepAlive, MemorySettings};

#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// Most bytes of model weights loaded at once (`8GiB`, `500MB`, `1500000000`). A model that
    /// must load when the others leave no room unloads the least recently used idle ones; a
    /// model with requests in flight is never unloaded. Unset: no limit.
    #[arg(long, env = "EMBEDDINGS_MAX_LOADED_BYTES", value_parser = byte_size)]
    pub max_loaded_bytes: Option<u64>,

    /// How long a model stays loaded after its last request: seconds, a duration (`5m`,
    /// `1h30m`) or `-1` for forever. Ollama clients' `keep_alive` overrides it per request.
    #[arg(long, env = "EMBEDDINGS_KEEP_ALIVE", default_value = "-1", value_parser = KeepAlive::parse, allow_hyphen_values = true)]
    pub keep_alive: KeepAlive,
}

impl MemoryArgs {
    pub fn settings(&self) -> MemorySettings {
        MemorySettings {
            max_loaded_bytes: self.max_loaded_bytes,
            keep_alive: self.keep_alive,
        }
    }
}

/// A number of bytes with an optional unit: `k`/`kB`, `M`/`MB`, `G`/`GB`, `T`/`TB` in powers
/// of 1000, `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024.
pub fn byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: use bytes or a unit such as 500MB or 8GiB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{other:?} in {text:?} is not a size unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    let bytes = number * scale;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} must be at least one byte"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_decimal_and_binary_units() {
        assert_eq!(byte_size("1500000000"), Ok(1_500_000_000));
        assert_eq!(byte_size("500MB"), Ok(500_000_000));
        assert_eq!(byte_size("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(byte_size("8GiB"), Ok(8 << 30));
        assert_eq!(byte_size("64mib"), Ok(64 << 20));
        assert_eq!(byte_size("2k"), Ok(2000));
        for wrong in ["", "0", "GB", "5 parsecs", "-1GB", "1e30TB"] {
            assert!(byte_size(wrong).is_err(), "{wrong:?} parsed");
        }
    }
}
