//! A case file: the window's evidence list saved to be opened again, on this machine or on
//! another. It names each image by its path and, once analysed, its SHA-256 (so that opening
//! the case says which files changed since), with the examiner's bookmark on it and the export
//! dialog's case details. Written atomically; opened read-only.

use super::settings::{Bookmark, Bookmarks};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "fauxscope-case/1";

/// The largest case file read (a list of many thousands of images is a few MB).
const LIMIT: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub schema: String,
    pub saved_utc: String,
    #[serde(default)]
    pub case_id: String,
    #[serde(default)]
    pub examiner: String,
    #[serde(default)]
    pub notes: String,
    pub evidence: Vec<CaseEntry>,
    /// What was done in the window on this case, oldest first (older case files have none).
    #[serde(default)]
    pub log: Vec<LogEntry>,
}

/// One line of the examination log: what the examiner did in the window, and when. The log is
/// kept with the case and goes into the reports written from the window, so the report
/// documents the examination as well as its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub utc: String,
    pub action: LogAction,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogAction {
    Added,
    Analysed,
    Failed,
    Bookmarked,
    TakenOff,
    DetectorsChanged,
    ReportWritten,
    ReportVerified,
    CaseSaved,
    CaseOpened,
    /// An action a newer version wrote.
    #[serde(other)]
    Other,
}

impl LogAction {
    pub fn label(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Analysed => "analysed",
            Self::Failed => "not analysed",
            Self::Bookmarked => "bookmark",
            Self::TakenOff => "taken off the list",
            Self::DetectorsChanged => "detectors",
            Self::ReportWritten => "report written",
            Self::ReportVerified => "report verified",
            Self::CaseSaved => "case saved",
            Self::CaseOpened => "case opened",
            Self::Other => "other",
        }
    }
}

impl LogEntry {
    /// An entry stamped now.
    pub fn now(action: LogAction, detail: impl Into<String>) -> Self {
        Self {
            utc: crate::fsutil::now_utc(),
            action,
            detail: detail.into(),
        }
    }

    /// `2026-12-02T22:23:49Z  report written  /cases/r1: …`
    pub fn line(&self) -> String {
        format!("{}  {}  {}", self.utc, self.action.label(), self.detail)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub path: PathBuf,
    /// None when the image had not been analysed (or could not be read) when the case was saved.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub bookmark: Option<Bookmark>,
}

impl CaseFile {
    /// A case of `evidence`, its paths made absolute (a case may be opened from another folder).
    pub fn new(
        case_id: &str,
        examiner: &str,
        notes: &str,
        mut evidence: Vec<CaseEntry>,
        log: Vec<LogEntry>,
    ) -> Self {
        for e in &mut evidence {
            e.path = crate::fsutil::absolute(&e.path);
        }
        Self {
            schema: SCHEMA.into(),
            saved_utc: crate::fsutil::now_utc(),
            case_id: case_id.into(),
            examiner: examiner.into(),
            notes: notes.into(),
            evidence,
            log,
        }
    }

    /// Writes the case atomically. A path that is not valid UTF-8 cannot be kept in JSON text:
    /// the error names it.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(e) = self.evidence.iter().find(|e| e.path.to_str().is_none()) {
            bail!(
                "cannot save the case: the path {} is not valid UTF-8, which a case file cannot hold",
                e.path.display()
            );
        }
        crate::fsutil::write_atomic(path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot save the case to {}", path.display()))
    }

    /// Reads a case file, with an error naming it and the problem.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_regular(path, LIMIT)
            .with_context(|| format!("cannot read the case file {}", path.display()))?;
        let c: CaseFile = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a Fauxscope case file", path.display()))?;
        if c.schema != SCHEMA {
            bail!(
                "{}: case file schema {:?} is not one this version reads ({SCHEMA})",
                path.display(),
                c.schema
            );
        }
        Ok(c)
    }

    /// Takes the case's bookmarks into `local` where it has none for that image; returns how
    /// many were taken and how many differed from a local one (the local one is kept).
    pub fn merge_bookmarks(&self, local: &mut Bookmarks) -> (usize, usize) {
        let (mut taken, mut kept) = (0, 0);
        for e in &self.evidence {
            let (Some(sha), Some(b)) = (&e.sha256, &e.bookmark) else {
                continue;
            };
            match local.0.get(sha) {
                None => {
                    local.0.insert(sha.clone(), b.clone());
                    taken += 1;
                }
                Some(l) if l.status != b.status || l.note != b.note => kept += 1,
                Some(_) => {}
            }
        }
        (taken, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workstation::settings::BookmarkStatus;

    fn case() -> CaseFile {
        let mut b = Bookmarks::default();
        b.set("aa", BookmarkStatus::ToCheck, "the sky");
        CaseFile::new(
            "C-1",
            "Examiner",
            "",
            vec![
                CaseEntry {
                    path: "/evidence/a.jpg".into(),
                    sha256: Some("aa".into()),
                    bookmark: b.get("aa").cloned(),
                },
                CaseEntry {
                    path: "/evidence/b.jpg".into(),
                    sha256: None,
                    bookmark: None,
                },
            ],
            vec![LogEntry::now(LogAction::Added, "file /evidence/a.jpg")],
        )
    }

    #[test]
    fn round_trips_and_refuses_what_is_not_a_case() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("case.json");
        let c = case();
        c.save(&p).unwrap();
        assert_eq!(CaseFile::load(&p).unwrap(), c);

        // A case saved before the log existed opens with an empty one; an action from a newer
        // version is kept as "other".
        std::fs::write(
            &p,
            br#"{"schema": "fauxscope-case/1", "saved_utc": "", "evidence": []}"#,
        )
        .unwrap();
        assert!(CaseFile::load(&p).unwrap().log.is_empty());
        let mut v = serde_json::to_value(&c).unwrap();
        v["log"][0]["action"] = "annotated".into();
        std::fs::write(&p, v.to_string()).unwrap();
        assert_eq!(CaseFile::load(&p).unwrap().log[0].action, LogAction::Other);

        std::fs::write(
            &p,
            b"{\"schema\": \"fauxscope-case/9\", \"saved_utc\": \"\", \"evidence\": []}",
        )
        .unwrap();
        let e = format!("{:#}", CaseFile::load(&p).unwrap_err());
        assert!(
            e.contains("case.json") && e.contains("fauxscope-case/9"),
            "{e}"
        );
        std::fs::write(&p, b"{\"schema\": ").unwrap();
        let e = format!("{:#}", CaseFile::load(&p).unwrap_err());
        assert!(e.contains("is not a Fauxscope case file"), "{e}");
        let e = format!(
            "{:#}",
            CaseFile::load(&dir.path().join("none.json")).unwrap_err()
        );
        assert!(
            e.contains("cannot read the case file") && e.contains("none.json"),
            "{e}"
        );
    }

    #[test]
    fn bookmarks_are_taken_where_none_is_kept_locally() {
        let c = case();
        let mut local = Bookmarks::default();
        assert_eq!(c.merge_bookmarks(&mut local), (1, 0));
        assert_eq!(local.get("aa").unwrap().note, "the sky");
        local.set("aa", BookmarkStatus::Ok, "");
        assert_eq!(c.merge_bookmarks(&mut local), (0, 1));
        assert_eq!(
            local.get("aa").unwrap().status,
            BookmarkStatus::Ok,
            "local kept"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_refused_by_name() {
        use std::os::unix::ffi::OsStrExt;
        let mut c = case();
        c.evidence[1].path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/evidence/\xff.jpg"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("case.json");
        let e = format!("{:#}", c.save(&p).unwrap_err());
        assert!(e.contains("not valid UTF-8"), "{e}");
        assert!(!p.exists());
    }
}
