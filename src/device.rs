//! Compute device choice: CPU, or CUDA when built with the `cuda` feature and a GPU is present.

use candle_core::Device;

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
