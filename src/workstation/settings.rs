//! What the workstation remembers between runs: settings (active detector, device, overlay
//! defaults, recent files) and the examiner's bookmarks per image. Both are JSON files in the
//! platform config directory, written atomically.

use crate::device::DeviceChoice;
use crate::fsutil::write_atomic;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which explanation is drawn over the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OverlayKind {
    None,
    /// Texture score per patch (and the patches TAM would mask).
    #[default]
    Tam,
    /// Attention rollout from the class token.
    Attention,
    /// The region map: the primary detector's probability on every native tile (on request).
    Regions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OverlaySettings {
    pub kind: OverlayKind,
    pub opacity: f32,
    /// Outline the patches TAM would mask.
    pub show_masked: bool,
    /// Rollout through this layer (None = last).
    pub layer: Option<usize>,
}

impl Default for OverlaySettings {
    fn default() -> Self {
        Self {
            kind: OverlayKind::Tam,
            opacity: 0.55,
            show_masked: false,
            layer: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Base model: installed name or directory.
    pub model: String,
    /// Primary detector (maps and stability come from it).
    pub detector: String,
    /// Detectors run beside it for agreement.
    pub compare: Vec<String>,
    pub device: DeviceChoice,
    pub overlay: OverlaySettings,
    /// Most recent first.
    pub recent: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: crate::model::store::DEFAULT_MODEL.into(),
            detector: crate::detect::DEFAULT_DETECTOR.into(),
            compare: vec!["pin".into()],
            device: DeviceChoice::Auto,
            overlay: OverlaySettings::default(),
            recent: vec![],
        }
    }
}

pub const MAX_RECENT: usize = 20;

impl Settings {
    pub fn default_path() -> PathBuf {
        crate::paths::config_dir().join("settings.json")
    }

    /// Loads settings; a missing file gives the defaults, an unreadable one an error naming it.
    pub fn load(path: &Path) -> Result<Self> {
        load_json(path)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    /// Puts `p` first in the recent list. A path that is not valid UTF-8 (possible on Linux) is
    /// left out: the settings file is JSON text and could not hold it.
    pub fn add_recent(&mut self, p: &Path) {
        if p.to_str().is_none() {
            return;
        }
        self.recent.retain(|r| r != p);
        self.recent.insert(0, p.to_path_buf());
        self.recent.truncate(MAX_RECENT);
    }
}

fn load_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("{}: not a valid settings file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The examiner's assessment of one image (Amped Authenticate's bookmark statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BookmarkStatus {
    #[default]
    Unreviewed,
    Ok,
    ToCheck,
    Warning,
}

impl BookmarkStatus {
    pub const ALL: [BookmarkStatus; 4] = [
        BookmarkStatus::Unreviewed,
        BookmarkStatus::Ok,
        BookmarkStatus::ToCheck,
        BookmarkStatus::Warning,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Self::Unreviewed => "unreviewed",
            Self::Ok => "OK",
            Self::ToCheck => "to check",
            Self::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Bookmark {
    pub status: BookmarkStatus,
    pub note: String,
    /// UTC time of the last change.
    pub updated: String,
}

/// Bookmarks keyed by the evidence's SHA-256 (so a renamed copy keeps its notes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Bookmarks(pub BTreeMap<String, Bookmark>);

impl Bookmarks {
    pub fn default_path() -> PathBuf {
        crate::paths::config_dir().join("bookmarks.json")
    }
    pub fn load(path: &Path) -> Result<Self> {
        load_json(path)
    }
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }
    pub fn get(&self, sha256: &str) -> Option<&Bookmark> {
        self.0.get(sha256)
    }
    pub fn set(&mut self, sha256: &str, status: BookmarkStatus, note: &str) {
        self.0.insert(
            sha256.to_string(),
            Bookmark {
                status,
                note: note.to_string(),
                updated: crate::fsutil::now_utc(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        assert_eq!(Settings::load(&p).unwrap(), Settings::default());
        let mut s = Settings::default();
        s.overlay.opacity = 0.3;
        s.add_recent(Path::new("/a.png"));
        s.add_recent(Path::new("/b.png"));
        s.add_recent(Path::new("/a.png"));
        assert_eq!(
            s.recent,
            vec![PathBuf::from("/a.png"), PathBuf::from("/b.png")]
        );
        s.save(&p).unwrap();
        assert_eq!(Settings::load(&p).unwrap(), s);
        std::fs::write(&p, b"{not json").unwrap();
        let e = Settings::load(&p).unwrap_err().to_string();
        assert!(e.contains("s.json"), "{e}");
    }

    /// A file name that is not UTF-8 stays out of the recent list, so the settings still save.
    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_does_not_stop_the_settings_saving() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let mut s = Settings::default();
        s.add_recent(Path::new("/a.png"));
        s.add_recent(Path::new(std::ffi::OsStr::from_bytes(b"/caf\xe9.png")));
        assert_eq!(s.recent, vec![PathBuf::from("/a.png")]);
        s.save(&p).unwrap();
        assert_eq!(Settings::load(&p).unwrap(), s);
    }
}
