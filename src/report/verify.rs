//! `fauxscope verify`: a report folder checked against its JSON sidecar, and the evidence checked
//! against the report. The sidecar records the SHA-256 of the report's own files (PDF, HTML, CSV
//! and pictures) and the SHA-256 and SHA-512 of every evidence file. Verification reads
//! everything read-only and writes nothing.
//!
//! A signed report also has `report.json.sig` (see [`super::signing`]): the examiner's Ed25519
//! signature over the sidecar. Verification checks it, and with the examiner's public key
//! (`--key`) also that it was that examiner who signed. An unsigned report that verifies shows
//! that its files and the evidence agree with `report.json`, not who wrote it; whoever keeps
//! such a report should keep that file's own hash (printed by `verify`) in the case record.

use super::signing::{PublicKey, SignatureStatus, Signer};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// The largest sidecar read (a report on many thousands of images is a few MB).
const SIDECAR_LIMIT: u64 = 256 << 20;

/// The parts of `report.json` that verification reads.
#[derive(Deserialize)]
struct Sidecar {
    schema: String,
    #[serde(default)]
    case: SidecarCase,
    #[serde(default)]
    analysis_finished_utc: String,
    items: Vec<SidecarItem>,
    #[serde(default)]
    skipped: Vec<SidecarSkipped>,
    outputs: Vec<SidecarOutput>,
    /// Reports written before pictures were hashed have none.
    #[serde(default)]
    pictures: Vec<SidecarOutput>,
    #[serde(default)]
    signer: Option<Signer>,
}

#[derive(Deserialize, Default)]
struct SidecarCase {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct SidecarItem {
    index: usize,
    file: SidecarFile,
}

#[derive(Deserialize)]
struct SidecarFile {
    name: String,
    path: String,
    sha256: String,
    sha512: String,
}

#[derive(Deserialize)]
struct SidecarSkipped {
    path: String,
    sha256: Option<String>,
}

#[derive(Deserialize)]
struct SidecarOutput {
    name: String,
    sha256: String,
}

/// How one of the report's own files compares with its recorded hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum OutputStatus {
    Ok,
    /// Its SHA-256 is not the recorded one.
    Changed {
        sha256: String,
    },
    /// It cannot be read (the reason says why).
    Missing {
        reason: String,
    },
    /// The sidecar names a path outside the report folder: not read.
    Refused {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputCheck {
    pub name: String,
    #[serde(flatten)]
    pub status: OutputStatus,
}

/// How one evidence file compares with the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum EvidenceStatus {
    /// At its recorded path, with the recorded hashes.
    Ok,
    /// Not at its recorded path (changed or gone: `at_recorded_path` says which), but a given
    /// file has the recorded hashes.
    Elsewhere { at_recorded_path: String },
    /// At its recorded path with other bytes, and no given file has the recorded hashes.
    Changed { sha256: String },
    /// Not readable at its recorded path, and no given file has the recorded hashes.
    Missing { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceCheck {
    /// The report's item number; None for a file the report lists as skipped (not analysed).
    pub index: Option<usize>,
    pub name: String,
    pub recorded_path: String,
    #[serde(flatten)]
    pub status: EvidenceStatus,
    /// Given files (`--evidence`) with the recorded hashes.
    pub found_at: Vec<String>,
}

impl EvidenceCheck {
    pub fn verified(&self) -> bool {
        matches!(
            self.status,
            EvidenceStatus::Ok | EvidenceStatus::Elsewhere { .. }
        )
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The sidecar that was read, and its own SHA-256 (to keep in the case record).
    pub sidecar: String,
    pub sidecar_sha256: String,
    pub case_id: String,
    pub written_utc: String,
    pub outputs: Vec<OutputCheck>,
    pub evidence: Vec<EvidenceCheck>,
    /// Files in the report folder that the sidecar does not list (a report written again into
    /// the same folder leaves its predecessor's extra pictures): not a failure.
    pub unlisted: Vec<String>,
    /// Given files (`--evidence`) that match no file of the report: not a failure.
    pub unmatched: Vec<String>,
    /// What could not be read among the given evidence paths, with the reason.
    pub unreadable: Vec<String>,
    /// The examiner's signature on the sidecar.
    pub signature: SignatureStatus,
    /// Public keys the reader trusts (`--key`): the report must be signed with one of them.
    pub trusted_keys: Vec<String>,
    /// Everything the sidecar lists agrees with it, the signature (where there is one) is good,
    /// and, where trusted keys were given, it was made with one of them.
    pub verified: bool,
}

/// Checks the report at `report` (its folder, or its `report.json`) and its evidence: each file
/// at its recorded path, and, where `evidence` names files or folders, those files matched to
/// the report by their hashes (so copies moved elsewhere are found). `keys` are public key files
/// the reader trusts: where any are given, the report must be signed with one of them.
pub fn verify(report: &Path, evidence: &[PathBuf], keys: &[PathBuf]) -> Result<Verification> {
    let trusted: Vec<PublicKey> = keys
        .iter()
        .map(|k| PublicKey::load(k))
        .collect::<Result<_>>()?;
    let (dir, json_path) = if report.is_dir() {
        (report.to_path_buf(), report.join("report.json"))
    } else {
        let dir = report
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        (dir, report.to_path_buf())
    };
    let bytes = crate::fsutil::read_regular(&json_path, SIDECAR_LIMIT)
        .with_context(|| format!("cannot read the report sidecar {}", json_path.display()))?;
    let sidecar: Sidecar = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a Fauxscope report sidecar (report.json)",
            json_path.display()
        )
    })?;
    if !sidecar.schema.starts_with("fauxscope-report/") {
        bail!(
            "{} is not a Fauxscope report sidecar: its schema is {:?}",
            json_path.display(),
            sidecar.schema
        );
    }
    if sidecar.schema != super::SCHEMA {
        bail!(
            "{}: report schema {:?} is not one this version reads ({})",
            json_path.display(),
            sidecar.schema,
            super::SCHEMA
        );
    }

    let listed: Vec<&SidecarOutput> = sidecar.outputs.iter().chain(&sidecar.pictures).collect();
    let outputs: Vec<OutputCheck> = listed.iter().map(|o| check_output(&dir, o)).collect();
    let unlisted = unlisted_files(&dir, &json_path, &listed);

    // The given evidence, hashed once each, keyed by SHA-256.
    let mut given: HashMap<String, Vec<(PathBuf, String)>> = HashMap::new();
    let mut given_paths = Vec::new();
    let mut unreadable = Vec::new();
    if !evidence.is_empty() {
        let listing = crate::train::data::expand_inputs(evidence)?;
        unreadable.extend(listing.unreadable_messages().map(|(_, m)| m));
        for p in listing.images.iter().chain(&listing.others) {
            match crate::fsutil::sha256_sha512_file(p) {
                Ok((a, b)) => {
                    given.entry(a).or_default().push((p.clone(), b));
                    given_paths.push(p.clone());
                }
                Err(e) => unreadable.push(format!("{e:#}")),
            }
        }
    }
    let mut matched = std::collections::HashSet::new();
    // Given files with these hashes, other than the one at the recorded path (which is checked
    // there) but counted as matched.
    let mut found = |recorded: &str, sha256: &str, sha512: Option<&str>| -> Vec<String> {
        let recorded = crate::fsutil::real_path(Path::new(recorded));
        given
            .get(sha256)
            .into_iter()
            .flatten()
            .filter(|(_, b)| sha512.is_none_or(|s| s == b))
            .filter_map(|(p, _)| {
                matched.insert(p.clone());
                (crate::fsutil::real_path(p) != recorded).then(|| p.display().to_string())
            })
            .collect()
    };

    let mut checks = Vec::new();
    for it in &sidecar.items {
        let f = &it.file;
        let status = check_evidence(Path::new(&f.path), &f.sha256, Some(&f.sha512));
        let found_at = found(&f.path, &f.sha256, Some(&f.sha512));
        checks.push(evidence_check(
            Some(it.index),
            f.name.clone(),
            f.path.clone(),
            status,
            found_at,
        ));
    }
    // Skipped files were hashed when their bytes could be read (SHA-256 only).
    for s in &sidecar.skipped {
        let Some(sha) = &s.sha256 else { continue };
        let status = check_evidence(Path::new(&s.path), sha, None);
        let name = Path::new(&s.path)
            .file_name()
            .map_or(s.path.clone(), |n| n.to_string_lossy().into_owned());
        let found_at = found(&s.path, sha, None);
        checks.push(evidence_check(None, name, s.path.clone(), status, found_at));
    }
    let unmatched = given_paths
        .iter()
        .filter(|p| !matched.contains(*p))
        .map(|p| p.display().to_string())
        .collect();
    let signature = super::signing::check(&dir, &bytes, sidecar.signer.as_ref(), &trusted);
    let signature_ok = match &signature {
        SignatureStatus::Unsigned => trusted.is_empty(),
        SignatureStatus::Valid { trusted_key, .. } => trusted.is_empty() || trusted_key.is_some(),
        SignatureStatus::Bad { .. } => false,
    };
    let verified =
        outputs_ok(&outputs) && checks.iter().all(EvidenceCheck::verified) && signature_ok;
    Ok(Verification {
        sidecar: json_path.display().to_string(),
        sidecar_sha256: crate::imageio::sha256_hex(&bytes),
        case_id: sidecar.case.id,
        written_utc: sidecar.analysis_finished_utc,
        outputs,
        evidence: checks,
        unlisted,
        unmatched,
        unreadable,
        signature,
        trusted_keys: trusted.iter().map(|t| t.file.clone()).collect(),
        verified,
    })
}

fn outputs_ok(outputs: &[OutputCheck]) -> bool {
    outputs.iter().all(|o| o.status == OutputStatus::Ok)
}

/// A file at its recorded path compared with the recorded hashes (SHA-512 too, where recorded).
fn check_evidence(path: &Path, sha256: &str, sha512: Option<&str>) -> EvidenceStatus {
    match crate::fsutil::sha256_sha512_file(path) {
        Ok((a, b)) if a == sha256 && sha512.is_none_or(|s| s == b) => EvidenceStatus::Ok,
        Ok((a, _)) => EvidenceStatus::Changed { sha256: a },
        Err(e) => EvidenceStatus::Missing {
            reason: unreadable_reason(&e),
        },
    }
}

/// Why a file the sidecar lists could not be hashed, without its path (the line names it).
fn unreadable_reason(e: &anyhow::Error) -> String {
    match e
        .root_cause()
        .downcast_ref::<std::io::Error>()
        .map(|io| io.kind())
    {
        Some(std::io::ErrorKind::NotFound) => "no file there".into(),
        Some(std::io::ErrorKind::PermissionDenied) => "cannot be read: permission denied".into(),
        _ => format!("cannot be read: {}", e.root_cause()),
    }
}

/// The check of one evidence file: a file that is not where the report says, but is among the
/// given ones, is found elsewhere.
fn evidence_check(
    index: Option<usize>,
    name: String,
    recorded_path: String,
    status: EvidenceStatus,
    found_at: Vec<String>,
) -> EvidenceCheck {
    let status = match status {
        EvidenceStatus::Changed { sha256 } if !found_at.is_empty() => EvidenceStatus::Elsewhere {
            at_recorded_path: format!("the SHA-256 is now {sha256}"),
        },
        EvidenceStatus::Missing { reason } if !found_at.is_empty() => EvidenceStatus::Elsewhere {
            at_recorded_path: reason,
        },
        s => s,
    };
    EvidenceCheck {
        index,
        name,
        recorded_path,
        status,
        found_at,
    }
}

/// A name the sidecar lists, resolved inside the report folder; None for one that would leave it
/// (absolute, `..`, a drive prefix).
fn inside(dir: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    let plain = !name.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| dir.join(rel))
}

fn check_output(dir: &Path, o: &SidecarOutput) -> OutputCheck {
    let status = match inside(dir, &o.name) {
        None => OutputStatus::Refused {
            reason: "the sidecar names a path outside the report folder".into(),
        },
        Some(p) => match crate::fsutil::sha256_file(&p) {
            Ok(h) if h == o.sha256 => OutputStatus::Ok,
            Ok(h) => OutputStatus::Changed { sha256: h },
            Err(e) => OutputStatus::Missing {
                reason: unreadable_reason(&e),
            },
        },
    };
    OutputCheck {
        name: o.name.clone(),
        status,
    }
}

/// Files in the report folder and its `images/` that the sidecar does not list.
fn unlisted_files(dir: &Path, json_path: &Path, listed: &[&SidecarOutput]) -> Vec<String> {
    let known: std::collections::HashSet<PathBuf> = listed
        .iter()
        .filter_map(|o| inside(dir, &o.name))
        .chain([
            json_path.to_path_buf(),
            dir.join(super::signing::SIGNATURE_FILE),
        ])
        .map(|p| crate::fsutil::real_path(&p))
        .collect();
    let mut out = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("images")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        for p in names {
            if !known.contains(&crate::fsutil::real_path(&p)) {
                let rel = p.strip_prefix(dir).unwrap_or(&p);
                out.push(rel.display().to_string());
            }
        }
    }
    out
}

impl Verification {
    /// The plain-text account `fauxscope verify` prints.
    pub fn text(&self) -> String {
        let mut s = format!("report sidecar {}", self.sidecar);
        if !self.case_id.is_empty() {
            s.push_str(&format!(", case {}", self.case_id));
        }
        if !self.written_utc.is_empty() {
            s.push_str(&format!(", written {}", self.written_utc));
        }
        s.push_str(&format!("\n  its SHA-256: {}\n", self.sidecar_sha256));
        let agree = self
            .outputs
            .iter()
            .filter(|o| o.status == OutputStatus::Ok)
            .count();
        s.push_str(&format!(
            "report files: {agree} of {} agree with the sidecar (PDF, HTML, CSV, pictures)\n",
            self.outputs.len()
        ));
        for o in &self.outputs {
            let (word, detail) = match &o.status {
                OutputStatus::Ok => continue,
                OutputStatus::Changed { sha256 } => {
                    ("CHANGED", format!(": SHA-256 is now {sha256}"))
                }
                OutputStatus::Missing { reason } => ("MISSING", format!(": {reason}")),
                OutputStatus::Refused { reason } => ("REFUSED", format!(": {reason}")),
            };
            s.push_str(&format!("  {word:<9} {}{detail}\n", o.name));
        }
        s.push_str(&format!("evidence files ({}):\n", self.evidence.len()));
        for e in &self.evidence {
            let item = e
                .index
                .map_or("skipped".to_string(), |i| format!("item {i}"));
            let (word, detail) = match &e.status {
                EvidenceStatus::Ok => ("ok", String::new()),
                EvidenceStatus::Elsewhere { at_recorded_path } => (
                    "FOUND",
                    format!(
                        ": the same bytes at {} (at the recorded path: {at_recorded_path})",
                        e.found_at.join(", ")
                    ),
                ),
                EvidenceStatus::Changed { sha256 } => {
                    ("CHANGED", format!(": SHA-256 is now {sha256}"))
                }
                EvidenceStatus::Missing { reason } => ("MISSING", format!(": {reason}")),
            };
            s.push_str(&format!(
                "  {word:<9} {item}, {} ({}){detail}\n",
                e.name, e.recorded_path
            ));
            if e.status == EvidenceStatus::Ok && !e.found_at.is_empty() {
                s.push_str(&format!(
                    "            also the same bytes at {}\n",
                    e.found_at.join(", ")
                ));
            }
        }
        for (head, list) in [
            (
                "in the report folder but not listed in the sidecar, so not checked",
                &self.unlisted,
            ),
            (
                "given files that match no file of the report",
                &self.unmatched,
            ),
            ("given paths that could not be read", &self.unreadable),
        ] {
            if !list.is_empty() {
                s.push_str(&format!("{head} ({}):\n", list.len()));
                for x in list {
                    s.push_str(&format!("  {x}\n"));
                }
            }
        }
        let keys = self.trusted_keys.join(", ");
        let (sig_line, sig_ok) = match &self.signature {
            SignatureStatus::Unsigned if self.trusted_keys.is_empty() => (
                "signature: none. The sidecar is not signed: this shows that the files agree with it, not who wrote it. Keep its SHA-256 in the case record.".to_string(),
                true,
            ),
            SignatureStatus::Unsigned => (
                format!("signature: NONE, but a report signed with {keys} was asked for"),
                false,
            ),
            SignatureStatus::Valid {
                signer,
                fingerprint,
                signed_utc,
                trusted_key,
            } => match trusted_key {
                Some(k) => (
                    format!("signature: good, by {signer} with the trusted key {fingerprint} ({k}), signed {signed_utc}"),
                    true,
                ),
                None if self.trusted_keys.is_empty() => (
                    format!("signature: good for the key it names, {fingerprint} (\"{signer}\"), signed {signed_utc}. Who holds that key is not checked: give --key with the examiner's public key file, or compare the fingerprint with the one the examiner gave you."),
                    true,
                ),
                None => (
                    format!("signature: NOT BY A TRUSTED KEY. It is good for the key {fingerprint} (\"{signer}\"), which is none of {keys}"),
                    false,
                ),
            },
            SignatureStatus::Bad { reason } => (format!("signature: BAD. {reason}"), false),
        };
        s.push_str(&sig_line);
        s.push('\n');
        let bad_out = self.outputs.len() - agree;
        let bad_ev = self.evidence.iter().filter(|e| !e.verified()).count();
        if self.verified {
            s.push_str("VERIFIED: every report file and evidence file agrees with the sidecar\n");
        } else {
            let mut why = Vec::new();
            if bad_out > 0 {
                why.push(format!(
                    "{bad_out} report file(s) do not agree with the sidecar"
                ));
            }
            if bad_ev > 0 {
                let missing = self
                    .evidence
                    .iter()
                    .filter(|e| matches!(e.status, EvidenceStatus::Missing { .. }))
                    .count();
                let of_them = match missing {
                    0 => String::new(),
                    m if m == bad_ev => " (missing or unreadable)".to_string(),
                    m => format!(" ({m} of them missing or unreadable)"),
                };
                why.push(format!(
                    "{bad_ev} evidence file(s) do not agree with the sidecar{of_them}"
                ));
            }
            if !sig_ok {
                why.push("the signature does not hold".into());
            }
            s.push_str(&format!("NOT VERIFIED: {}\n", why.join("; ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_leaving_the_report_folder_are_refused() {
        let d = Path::new("/r");
        assert_eq!(
            inside(d, "images/001-tam.jpg"),
            Some(d.join("images/001-tam.jpg"))
        );
        for bad in ["../x", "/etc/passwd", "images/../../x", "", "./a"] {
            assert_eq!(inside(d, bad), None, "{bad}");
        }
    }
}
