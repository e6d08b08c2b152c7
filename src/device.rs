//! Compute device choice: CPU, or CUDA when built with the `cuda` feature and a GPU is present.

use candle_core::{DType, Device};

/// What the user asked for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Picks a device; a CUDA request without CUDA falls back to the CPU with a notice.
pub fn select_device(choice: DeviceChoice) -> (Device, Option<String>) {
    match choice {
        DeviceChoice::Cpu => (Device::Cpu, None),
        DeviceChoice::Auto | DeviceChoice::Cuda => {
            #[cfg(feature = "cuda")]
            {
                match Device::new_cuda(0) {
                    Ok(d) => return (d, None),
                    Err(e) => {
                        return (
                            Device::Cpu,
                            Some(format!("CUDA unavailable ({e}); using the CPU")),
                        )
                    }
                }
            }
            #[cfg(not(feature = "cuda"))]
            {
                let note = (choice == DeviceChoice::Cuda).then(|| {
                    "this build has no CUDA support (build with --features cuda); using the CPU"
                        .to_string()
                });
                (Device::Cpu, note)
            }
        }
    }
}

/// A short label such as `cpu` or `cuda:0`.
pub fn device_label(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        _ => format!("{d:?}"),
    }
}

/// Number format for inference (training always runs in f32).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f16 on CUDA, f32 on the CPU (whose fused kernels are f32; half precision there only
    /// saves memory, and costs time).
    #[default]
    Auto,
    F32,
    /// Weights cast to f16 as they load; layer norms and softmax accumulate in f32.
    F16,
    /// Weights cast to bf16 as they load (f32's range, 8-bit mantissa).
    Bf16,
}

/// The dtype a precision choice means on a device.
pub fn resolve_dtype(p: Precision, device: &Device) -> DType {
    match p {
        Precision::Auto if device.is_cuda() => DType::F16,
        Precision::Auto | Precision::F32 => DType::F32,
        Precision::F16 => DType::F16,
        Precision::Bf16 => DType::BF16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_precision_is_f32_on_the_cpu() {
        assert_eq!(resolve_dtype(Precision::Auto, &Device::Cpu), DType::F32);
        assert_eq!(resolve_dtype(Precision::Bf16, &Device::Cpu), DType::BF16);
        assert_eq!(resolve_dtype(Precision::F16, &Device::Cpu), DType::F16);
    }
}
