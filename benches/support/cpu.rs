//! What the benchmarks say of the CPU they ran on, and the command-line options that pick its
//! kernels and time budget.

// Each benchmark uses part of it.
#![allow(dead_code)]

use embeddings::runner::kernels::packed::select::{Isa, IsaCap};

/// The CPU's model name (as `lscpu` prints it) and which of the instruction sets the kernels
/// choose from it reports.
pub fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let present: Vec<&str> = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
        .into_iter()
        .filter(|flag| flags.split_whitespace().any(|f| f == *flag))
        .collect();
    format!("{} [{}]", field("model name"), present.join(" "))
}

/// `--cpu-kernels avx512|avx2|portable`: the one kernel family to run (`None` when absent or
/// `auto`).
pub fn cpu_kernels_arg(args: &[String]) -> anyhow::Result<Option<Isa>> {
    match args.windows(2).find(|w| w[0] == "--cpu-kernels") {
        Some(w) => Ok(IsaCap::parse(&w[1])
            .map_err(|e| anyhow::anyhow!("--cpu-kernels is {e}"))?
            .0),
        None => Ok(None),
    }
}

/// `--seconds S`: the time to spend on each measurement.
pub fn seconds_arg(args: &[String], default: f64) -> std::time::Duration {
    let seconds = args
        .windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default);
    std::time::Duration::from_secs_f64(seconds)
}
