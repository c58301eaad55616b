//! How many threads the forward passes use, and which matmul library the CPU backend links.

use candle_core::Device;

/// Which matrix-multiply library the CPU backend of this build uses.
pub fn cpu_backend() -> &'static str {
    if cfg!(feature = "mkl") {
        "Intel MKL"
    } else {
        "gemm (pure Rust)"
    }
}

/// How many threads one forward pass may use on the CPU (candle follows RAYON_NUM_THREADS,
/// else the number of physical cores).
pub fn compute_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Forward passes worth running at once on `device`: one per physical core on the CPU (each
/// single-threaded, which keeps the non-matmul work parallel too); one on a GPU, which
/// serialises kernels anyway.
pub fn default_workers(device: &Device) -> usize {
    if device.is_cpu() {
        compute_threads()
    } else {
        1
    }
}

/// Sizes candle's global pool for elementwise CPU ops to `threads_per_worker`. That pool is
/// shared by every forward pass in the process; when each worker already has a core to itself,
/// extra pool threads only spin against the workers. candle reads `CANDLE_NUM_THREADS` once, at
/// its first parallel op, so call this before any tensor work; an explicit setting wins.
pub fn configure_cpu_threads(threads_per_worker: usize) {
    // Called from `main` before the runtime and any other thread start.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", threads_per_worker.max(1).to_string());
    }
    // candle asks for the core count on every matmul, and without this variable that means
    // parsing /proc/cpuinfo each time (several per sequence per layer in bfloat16's attention).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", compute_threads().to_string());
    }
}

#[cfg(feature = "mkl")]
extern "C" {
    /// MKL's per-thread cap on its own threading; returns the previous value. (The lowercase
    /// `mkl_set_num_threads_local` symbol is the Fortran binding, which takes a pointer.)
    fn MKL_Set_Num_Threads_Local(threads: std::os::raw::c_int) -> std::os::raw::c_int;
}

/// Caps the matmul threads used by forward passes started from the calling thread. The pure
/// Rust backend follows the rayon pool it runs in instead, so there is nothing to do for it.
pub fn limit_matmul_threads(threads: usize) {
    #[cfg(feature = "mkl")]
    // SAFETY: a plain setter of MKL's thread-local configuration.
    unsafe {
        MKL_Set_Num_Threads_Local(threads.clamp(1, i32::MAX as usize) as std::os::raw::c_int);
    }
    #[cfg(not(feature = "mkl"))]
    let _ = threads;
}
