//! Choosing where the model runs. The same code compiles with and without the `cuda` feature;
//! without it, candle reports CUDA as unavailable and `auto` settles on the CPU.

use candle_core::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// Always the CPU.
    Cpu,
    /// The first CUDA GPU; start-up fails if there is none.
    Cuda,
    /// The first CUDA GPU when this build has CUDA and one is present, else the CPU.
    Auto,
}

pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

pub fn select_device(choice: DeviceChoice) -> anyhow::Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if !cuda_compiled() => {
            anyhow::bail!("--device cuda asked for, but this binary was built without CUDA; rebuild with `cargo build --release --features cuda`")
        }
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|e| {
            anyhow::anyhow!(
                "--device cuda asked for, but no usable CUDA GPU was found: {}",
                first_line(&e)
            )
        }),
        DeviceChoice::Auto if !cuda_compiled() => Ok(Device::Cpu),
        DeviceChoice::Auto => match Device::new_cuda(0) {
            Ok(device) => Ok(device),
            Err(e) => {
                tracing::warn!(error = first_line(&e), "no usable CUDA GPU, falling back to the CPU");
                Ok(Device::Cpu)
            }
        },
    }
}

/// candle appends a backtrace to some errors (when RUST_BACKTRACE is set); start-up errors stay
/// one line.
fn first_line(error: &candle_core::Error) -> String {
    error.to_string().lines().next().unwrap_or_default().to_owned()
}

pub fn describe(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_never_fails() {
        assert!(matches!(select_device(DeviceChoice::Cpu), Ok(Device::Cpu)));
        assert!(select_device(DeviceChoice::Auto).is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        let message = select_device(DeviceChoice::Cuda).unwrap_err().to_string();
        assert!(message.contains("--features cuda"), "{message}");
    }
}
