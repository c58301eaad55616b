//! The check before a model's weights load: their size in the number format they will run in
//! against the memory this process may still take (its cgroup's limit less what the cgroup
//! uses, else the kernel's MemAvailable). A model that cannot fit is refused in one line naming
//! both sizes, and `--dtype bfloat16` where that would fit, instead of the process being killed
//! for memory halfway through the load.

use std::path::PathBuf;

use crate::runner::Precision;

/// The weights' resident size in each number format, from the safetensors headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsSize {
    pub float32: u64,
    pub bfloat16: u64,
}

impl WeightsSize {
    /// Reads the tensors' shapes from every weights file's header (no tensor data is touched).
    pub fn of(files: &[PathBuf]) -> Result<Self, UnreadableWeights> {
        let mut size = Self {
            float32: 0,
            bfloat16: 0,
        };
        for file in files {
            // SAFETY: a read-only map of files nothing rewrites in place (as for the weights' load).
            let weights = unsafe { candle_core::safetensors::MmapedSafetensors::new(file) }
                .map_err(|error| UnreadableWeights::new(file, error))?;
            for (name, view) in weights.tensors() {
                let elements: u64 = view.shape().iter().map(|&d| d as u64).product();
                size.float32 += 4 * elements;
                // bfloat16 mode packs the linear layers' matrices at two bytes a weight; the token
                // tables, norms and biases stay float32.
                let packed = view.shape().len() == 2 && !name.contains("embed");
                size.bfloat16 += if packed { 2 * elements } else { 4 * elements };
            }
        }
        Ok(size)
    }

    pub fn in_format(&self, precision: Precision) -> u64 {
        match precision {
            Precision::Float32 => self.float32,
            Precision::BFloat16 => self.bfloat16,
        }
    }
}

/// A weights file that is not a readable safetensors file: its name and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {fault} (not a whole safetensors file)")]
pub struct UnreadableWeights {
    pub file: String,
    pub fault: String,
}

impl UnreadableWeights {
    fn new(path: &std::path::Path, error: candle_core::Error) -> Self {
        // candle wraps the fault with the whole path; the file's name says enough.
        let fault = match error {
            candle_core::Error::WithPath { inner, .. } => inner.to_string(),
            other => other.to_string(),
        };
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        Self { file, fault }
    }
}

/// Hands freed heap pages back to the kernel. glibc keeps freed memory in its arenas (a freed
/// model's weights stayed resident: 320 MB of MPNet's 440 MB in a measurement), so after an
/// unload the next model would come on top; `malloc_trim` releases every whole free page in
/// every arena. Other allocators return memory on their own.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How much memory this process may still take, and where that figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    pub bytes: u64,
    pub source: &'static str,
}

impl Headroom {
    /// The cgroup's limit less its usage (v2, then v1), else MemAvailable; `None` when neither
    /// can be read (the check is then skipped).
    pub fn now() -> Option<Self> {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
        let cgroup = [
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
            (
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/memory.usage_in_bytes",
            ),
        ]
        .into_iter()
        .find_map(|(limit, usage)| {
            // v1 reports "no limit" as a huge number, v2 as "max".
            let limit = number(read(limit)).filter(|&l| l < 1 << 60)?;
            Some(limit.saturating_sub(number(read(usage)).unwrap_or(0)))
        });
        let available = read("/proc/meminfo").and_then(|text| mem_available(&text));
        match (cgroup, available) {
            (Some(cgroup), Some(available)) if available < cgroup => Some(Self {
                bytes: available,
                source: "MemAvailable",
            }),
            (Some(cgroup), _) => Some(Self {
                bytes: cgroup,
                source: "the cgroup's memory limit",
            }),
            (None, Some(available)) => Some(Self {
                bytes: available,
                source: "MemAvailable",
            }),
            (None, None) => None,
        }
    }
}

fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Weights larger than the memory the process may still take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoesNotFit {
    pub needed: u64,
    pub precision: Precision,
    pub headroom: Headroom,
    /// Their size in bfloat16 when that would fit a float32 model.
    pub would_fit_in_bfloat16: Option<u64>,
}

impl std::fmt::Display for DoesNotFit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its weights need {} in {} but this process may take {} more ({})",
            gigabytes(self.needed),
            self.precision,
            gigabytes(self.headroom.bytes),
            self.headroom.source
        )?;
        if let Some(bfloat16) = self.would_fit_in_bfloat16 {
            write!(
                f,
                "; in bfloat16 they need {}: use --dtype bfloat16 (or dtype=bfloat16 on the model's line)",
                gigabytes(bfloat16)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for DoesNotFit {}

/// Refuses weights that cannot fit, in one line.
pub fn check(size: WeightsSize, precision: Precision, headroom: Headroom) -> Result<(), DoesNotFit> {
    let needed = size.in_format(precision);
    if needed <= headroom.bytes {
        return Ok(());
    }
    let would_fit_in_bfloat16 =
        (precision == Precision::Float32 && size.bfloat16 <= headroom.bytes).then_some(size.bfloat16);
    Err(DoesNotFit {
        needed,
        precision,
        headroom,
        would_fit_in_bfloat16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_headers_in_the_running_format() {
        let dir = crate::test_fixtures::pipeline_dir("tiny-mistral-lasttoken-sharded");
        let shards = [
            dir.join("model-00001-of-00002.safetensors"),
            dir.join("model-00002-of-00002.safetensors"),
        ];
        let size = WeightsSize::of(&shards).expect("headers");
        // float16 on disk, float32 in memory.
        let on_disk: u64 = shards.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
        assert!(
            size.float32 > on_disk && size.float32 < 2 * on_disk + 4096,
            "{size:?} vs {on_disk}"
        );
        assert!(size.bfloat16 < size.float32);
    }

    #[test]
    fn too_large_weights_are_refused_naming_both_sizes_and_bfloat16() {
        let size = WeightsSize {
            float32: 28_000_000_000,
            bfloat16: 14_500_000_000,
        };
        let headroom = Headroom {
            bytes: 20_000_000_000,
            source: "MemAvailable",
        };
        let refused = check(size, Precision::Float32, headroom).unwrap_err().to_string();
        assert!(refused.contains("28.0 GB") && refused.contains("20.0 GB"), "{refused}");
        assert!(
            refused.contains("--dtype bfloat16") && refused.contains("14.5 GB"),
            "{refused}"
        );
        assert!(check(size, Precision::BFloat16, headroom).is_ok());
        let small = Headroom {
            bytes: 1_000_000_000,
            ..headroom
        };
        let refused = check(size, Precision::BFloat16, small).unwrap_err().to_string();
        assert!(!refused.contains("--dtype"), "{refused}");
        assert_eq!(
            mem_available("MemTotal: 10 kB\nMemAvailable:    2048 kB\n"),
            Some(2 << 20)
        );
    }
}
