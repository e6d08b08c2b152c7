//! The one place that knows where Fauxscope keeps its cache (base models), data (installed
//! detectors) and configuration. Environment overrides make tests and CI hermetic.

use std::path::PathBuf;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("org", "Fauxscope", "fauxscope")
}

fn from_env_or(
    var: &str,
    pick: fn(&directories::ProjectDirs) -> PathBuf,
    fallback: &str,
) -> PathBuf {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    project_dirs()
        .map(|d| pick(&d))
        .unwrap_or_else(|| std::env::temp_dir().join(fallback))
}

/// Cache directory (base models). Override: `FAUXSCOPE_CACHE_DIR`.
pub fn cache_dir() -> PathBuf {
    from_env_or(
        "FAUXSCOPE_CACHE_DIR",
        |d| d.cache_dir().to_path_buf(),
        "fauxscope-cache",
    )
}

/// Data directory (installed detectors). Override: `FAUXSCOPE_DATA_DIR`.
pub fn data_dir() -> PathBuf {
    from_env_or(
        "FAUXSCOPE_DATA_DIR",
        |d| d.data_dir().to_path_buf(),
        "fauxscope-data",
    )
}

/// Configuration directory (settings). Override: `FAUXSCOPE_CONFIG_DIR`.
pub fn config_dir() -> PathBuf {
    from_env_or(
        "FAUXSCOPE_CONFIG_DIR",
        |d| d.config_dir().to_path_buf(),
        "fauxscope-config",
    )
}

/// Where base models live: `<cache>/models/<name>/`.
pub fn models_dir() -> PathBuf {
    cache_dir().join("models")
}

/// Where user-trained detectors are installed: `<data>/detectors/`.
pub fn detectors_dir() -> PathBuf {
    data_dir().join("detectors")
}

/// Where the detector installed under `name` lives: `<data>/detectors/<name>.safetensors`.
pub fn installed_detector(name: &str) -> PathBuf {
    detectors_dir().join(format!("{name}.safetensors"))
}
