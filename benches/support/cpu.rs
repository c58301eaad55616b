//! What the benchmarks say of the CPU they ran on.

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
