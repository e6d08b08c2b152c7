//! Forensic reports: one case (one image or a folder) analysed by every chosen detector, written
//! as a PDF, an HTML page and a JSON sidecar with the same content (schema:
//! docs/report-schema.json), plus a CSV summary. Evidence is hashed (SHA-256, SHA-512) before any
//! processing and re-verified at the end; evidence files are only ever opened read-only.

pub mod html;
pub mod pdf;
mod pdf_report;
pub mod signing;
pub mod verify;

use crate::charts::{probability_bars, Bar};
use crate::detect::{self, Detector, DetectorSource};
use crate::forensics::metadata::{read_metadata, Metadata};
use crate::forensics::provenance::{check_c2pa, mime_for, Provenance, TrustList};
use crate::fsutil::{now_utc, write_atomic};
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use crate::workstation::analyze::{default_stability, Agreement, DetectorResult, StabilityCheck};
use crate::workstation::maps::composite;
use crate::workstation::settings::Bookmark;
use crate::workstation::Engine;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Identifies the sidecar format (docs/report-schema.json).
pub const SCHEMA: &str = "fauxscope-report/1";

/// What to report on and how.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub case_id: String,
    pub examiner: String,
    pub notes: String,
    /// Detectors (primary first).
    pub detectors: Vec<String>,
    pub trust: TrustList,
    /// Bookmarks to include (by SHA-256).
    pub bookmarks: crate::workstation::settings::Bookmarks,
    /// The command that reproduces this analysis.
    pub command: String,
    /// Also a region map of every image with the primary detector, with at most this many tiles.
    pub regions: Option<usize>,
    /// Files that are not pictures, found beside the inputs by the caller (the window's folders,
    /// whose pictures come as single inputs), listed as not examined with the walk's own.
    pub not_examined: Vec<PathBuf>,
    /// The examiner's key that signs the sidecar (`report.json.sig`); None for an unsigned report.
    pub signing: Option<std::sync::Arc<signing::ExaminerKey>>,
    /// The window's examination log (what was done, when), oldest first; empty from the
    /// command line.
    pub examination_log: Vec<crate::workstation::case::LogEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseInfo {
    pub id: String,
    pub examiner: String,
    pub notes: String,
    /// The question as two competing propositions (ENFSI / SWGDE practice).
    pub propositions: [String; 2],
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub commit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub os: String,
    pub arch: String,
    pub cpu: String,
    pub cores: usize,
    pub device: String,
    pub backend: String,
    /// The library that decoded the HEIF images (`libheif 1.15.1`), when the report has any: it is
    /// the system's, so another machine may decode them with another version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heif_decoder: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectorRecord {
    pub name: String,
    pub method: String,
    /// `shipped`, `installed` or `file`.
    pub source: String,
    pub checkpoint_sha256: String,
    pub settings: serde_json::Value,
    pub crop: String,
    pub base_model: String,
    pub base_arch: String,
    pub base_weights_sha256: String,
    pub training_real: usize,
    pub training_fake: usize,
    pub training_data_sha256: String,
    pub training_device: String,
    pub created: String,
    pub calibration: crate::detect::Calibration,
    pub heldout: serde_json::Value,
    /// Set when the threshold was set again on reference photos after training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<crate::detect::Recalibration>,
    /// Known error rates: this checkpoint's figures on a labelled set of sources outside its
    /// training data (`fauxscope eval`), where one was measured (the shipped detectors); null
    /// otherwise.
    pub validation: Option<crate::detect::validation::Validation>,
}

impl DetectorRecord {
    /// One line on a recalibrated threshold, for the report's detector table (with the reference
    /// set's data hash when `with_hash`; the PDF prints hashes on lines of their own).
    pub fn recalibration_line(&self, with_hash: bool) -> Option<String> {
        let r = self.recalibration.as_ref()?;
        let fakes = if r.reference.fake_count > 0 {
            format!(" and {} generated images", r.reference.fake_count)
        } else {
            String::new()
        };
        let overlap = if r.overlap_with_training > 0 {
            format!(
                "; {} of them were in the training data",
                r.overlap_with_training
            )
        } else {
            String::new()
        };
        let hash = if with_hash {
            format!(" (data SHA-256 {})", r.reference.data_sha256)
        } else {
            String::new()
        };
        Some(format!(
            "threshold set on {} reference real photos{fakes} from {}{hash} on {}; \
             trained as '{}' with threshold {:+.4}, which called {:.1}% of these reals generated{overlap}",
            r.reference.real_count,
            r.reference.real_dirs.join(", "),
            r.created,
            r.trained_name,
            r.previous.threshold,
            r.previous_fpr * 100.0
        ))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceFile {
    pub name: String,
    pub path: String,
    pub size: u64,
    /// Detected from the bytes, not the extension.
    pub format: String,
    pub extension_mismatch: Option<String>,
    /// The colour model as stored, e.g. `Rgb8`, `L16`, `Rgba8`, `Cmyk8`.
    pub colour_model: String,
    /// The embedded ICC profile and what the loader did with it (None: no profile).
    pub colour_profile: Option<String>,
    /// Frames in the file: 1 for a still image; more for an animated GIF, APNG or WebP, a
    /// multi-page TIFF or a HEIF collection, of which one picture was analysed.
    pub frames: u32,
    /// Which picture of an animation was analysed (None for a still image).
    pub analysed_frame: Option<String>,
    /// Damage found in the compressed data (a JPEG scan that does not decode exactly); the
    /// decoder read past it, so part of the picture may be grey or garbled. None: none found.
    pub data_damage: Option<String>,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
    pub sha512: String,
    /// The hashes taken again after the analysis match the first ones.
    pub verified_unchanged: bool,
}

/// File names (relative to the report folder) of an item's pictures.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ItemImages {
    pub original: String,
    pub tam: String,
    pub attention: String,
    pub chart: String,
    /// The region map's picture, when one was made.
    pub regions: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    pub index: usize,
    pub file: EvidenceFile,
    pub analysed_utc: String,
    pub results: Vec<DetectorResult>,
    pub agreement: Agreement,
    pub stability: Vec<StabilityCheck>,
    /// A re-encoding flips the primary decision.
    pub unsure: bool,
    /// The sentence the report states for this image.
    pub conclusion: String,
    pub warnings: Vec<String>,
    pub tam_measure: String,
    pub tam_ratio: f32,
    pub analysed_regions: Vec<crate::model::preprocess::CropRect>,
    /// The primary detector on every native tile, when asked for (`--regions`).
    pub region_map: Option<crate::workstation::regions::RegionReport>,
    pub metadata: Metadata,
    pub provenance: Provenance,
    pub bookmark: Option<Bookmark>,
    pub images: ItemImages,
}

/// A file that could not be analysed.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    pub path: String,
    pub sha256: Option<String>,
    pub error: String,
}

impl SkippedFile {
    /// `error` without the leading "PATH: " that file errors carry: the path has its own field.
    fn new(path: &Path, sha256: Option<String>, error: String) -> Self {
        let path = path.display().to_string();
        let error = error
            .strip_prefix(&format!("{path}: "))
            .map(str::to_string)
            .unwrap_or(error);
        SkippedFile {
            path,
            sha256,
            error,
        }
    }
}

/// A file in the input folders that is not a picture by name or content, so was not examined.
#[derive(Debug, Clone, Serialize)]
pub struct NotExamined {
    pub path: String,
    /// None where the file's size could not be read.
    pub size_bytes: Option<u64>,
}

impl NotExamined {
    /// The path with the size, for the PDF and HTML lists.
    pub fn label(&self) -> String {
        match self.size_bytes {
            Some(n) => format!("{} ({n} bytes)", self.path),
            None => self.path.clone(),
        }
    }
}

/// The heading of the list of files that were not examined (PDF and HTML).
const NOT_EXAMINED_HEAD: &str =
    "Not examined (in the input folders, but not pictures by name or content)";

/// The summary sentence's words for the files that were not examined (empty for none).
fn not_examined_clause(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} other file(s) in the folders not examined (not pictures)")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub images: usize,
    pub with_evidence_of_generation: usize,
    pub no_evidence: usize,
    pub unsure: usize,
    pub detectors_disagree: usize,
    pub c2pa_present: usize,
    pub skipped: usize,
    pub not_examined: usize,
}

/// Hashes of the report's own files (kept in the JSON sidecar).
#[derive(Debug, Clone, Serialize)]
pub struct OutputFile {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub schema: String,
    pub case: CaseInfo,
    pub tool: ToolInfo,
    pub environment: Environment,
    pub analysis_started_utc: String,
    pub analysis_finished_utc: String,
    pub detectors: Vec<DetectorRecord>,
    pub summary: Summary,
    pub items: Vec<ItemReport>,
    pub skipped: Vec<SkippedFile>,
    /// The input folders' other files (see [`crate::train::data::list_folder`]).
    pub not_examined: Vec<NotExamined>,
    pub limitations: Vec<String>,
    pub reproduce: String,
    /// The PDF, HTML and CSV written beside the sidecar, with their SHA-256.
    pub outputs: Vec<OutputFile>,
    /// The pictures under `images/` and their SHA-256.
    pub pictures: Vec<OutputFile>,
    /// Whose key signs this sidecar (the signature is `report.json.sig` beside it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<signing::Signer>,
    /// What the examiner did in the window before this report (reports written from it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examination_log: Vec<crate::workstation::case::LogEntry>,
}

impl CaseReport {
    /// " - signed by NAME, key FINGERPRINT" for the report's header line; empty when unsigned.
    pub fn signed_by(&self, sep: &str) -> String {
        self.signer.as_ref().map_or(String::new(), |s| {
            format!("{sep}signed by {}, key {}", s.name, s.fingerprint)
        })
    }

    /// What the PDF and HTML say about the report's signature.
    pub fn signature_note(&self) -> String {
        match &self.signer {
            Some(s) => format!(
                "The sidecar is signed by {} with the Ed25519 key {} (report.json.sig). `fauxscope verify --key` with that examiner's public key file checks who signed it and that nothing changed since.",
                s.name, s.fingerprint
            ),
            None => "The report is not signed: a verified report shows that its files agree with the sidecar, not who wrote it.".into(),
        }
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `fauxscope report` command line that reproduces an analysis, with the tool's version.
#[allow(clippy::too_many_arguments)]
pub fn command_line(
    inputs: &[PathBuf],
    out: &Path,
    case_id: &str,
    examiner: &str,
    notes: &str,
    detectors: &[String],
    model: &str,
    trust: Option<&Path>,
    regions: Option<usize>,
) -> String {
    let mut cmd = vec!["fauxscope".to_string(), "report".into()];
    cmd.extend(inputs.iter().map(|p| shell_word(&p.display().to_string())));
    let (first, rest) = detectors
        .split_first()
        .map_or(("default", &[][..]), |(f, r)| (f.as_str(), r));
    for (flag, v) in [
        ("--out", out.display().to_string()),
        ("--case-id", case_id.to_string()),
        ("--examiner", examiner.to_string()),
        ("--notes", notes.to_string()),
        ("--detector", first.to_string()),
        ("--compare", rest.join(",")),
        ("--model", model.to_string()),
    ] {
        cmd.push(flag.into());
        cmd.push(shell_word(&v));
    }
    if let Some(t) = trust {
        cmd.push("--trust".into());
        cmd.push(shell_word(&t.display().to_string()));
    }
    if let Some(n) = regions {
        cmd.extend(["--regions".into(), "--max-tiles".into(), n.to_string()]);
    }
    format!(
        "{}   # Fauxscope {} ({})",
        cmd.join(" "),
        crate::VERSION,
        crate::COMMIT
    )
}

/// The verbal-scale conclusion for an item.
fn conclusion(results: &[DetectorResult], unsure: bool, damaged: bool) -> String {
    let Some(p) = results.first() else {
        return "No detector result.".into();
    };
    let mut s = format!(
        "{} Calibrated probability of generation: {:.1}% ({}).",
        p.verdict.sentence(),
        p.probability * 100.0,
        p.detector
    );
    if unsure {
        s.push_str(" The decision changes under re-encoding, so the result is UNSURE and should not be relied on.");
    }
    if damaged {
        s.push(' ');
        s.push_str(crate::workstation::analyze::Analysis::DAMAGED_NOTE);
    }
    s
}

/// The detector table's line on known error rates: where they were measured, and what they are.
pub fn error_rates_line(d: &DetectorRecord) -> String {
    match &d.validation {
        Some(v) => format!(
            "on {} (sources not in its training data), at its threshold: {}",
            v.dataset,
            v.sentence()
        ),
        None => "none measured outside its training sources".into(),
    }
}

/// The report's limitations; `detectors` adds each one's known error rates (or that none were
/// measured) and a line for each one whose threshold is local.
pub fn limitations(detectors: &[DetectorRecord]) -> Vec<String> {
    let mut v = vec![
        "The detectors give a probability from patterns learned on training data (Stable Diffusion 1.x against ImageNet photos for the shipped ones); generators unlike those may go undetected. On unseen GANs their accuracy is close to chance: each detector's measured rates follow.".into(),
        "Absence of detection does not prove that an image is an authentic photograph.".into(),
        "Re-encoding, resizing, screenshots and heavy editing change the traces the detectors use; the stability rows show how this image's result moves under re-encoding.".into(),
        "Calibration targets a 5% false-positive rate on real photos from the training distribution; on other sources the rate may differ.".into(),
        "Metadata and C2PA Content Credentials can be stripped or forged; a valid manifest proves who signed the claims, not that the claims are true, and its absence proves nothing.".into(),
        "The maps show where the model looked (attention rollout) and which patches are textured (TAM); they are aids to interpretation, not evidence by themselves.".into(),
    ];
    for d in detectors {
        match &d.validation {
            Some(val) => v.push(format!(
                "Known error rates of '{}', measured on {} (real photos and generators not in its training data) at its threshold: it {}.{} Rates on other sources may differ.",
                d.name,
                val.dataset,
                val.sentence(),
                val.perturbed_sentence()
                    .map(|p| format!(" With both classes altered alike: {p}."))
                    .unwrap_or_default()
            )),
            None => v.push(format!(
                "No error rates on sources outside its training data were measured for '{}' (a detector trained or recalibrated after release); its held-out figures come from its training sources and overstate how it does on others.",
                d.name
            )),
        }
        if let Some(r) = &d.recalibration {
            v.push(format!(
                "The threshold of '{}' was set on {} reference photos known to be real (see Detectors); it holds its {:.0}% false-positive rate for photos like those, and only for them. It changes no score: the detector sees no more than the trained '{}' does.",
                d.name,
                r.reference.real_count,
                d.calibration.target_fpr * 100.0,
                r.trained_name
            ));
        }
    }
    v
}

fn environment(engine: &Engine) -> Environment {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let device = engine.device_label();
    Environment {
        os,
        arch: std::env::consts::ARCH.into(),
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        backend: format!(
            "candle 0.11 on {}, f32",
            if device.starts_with("cuda") {
                "CUDA"
            } else {
                "CPU"
            }
        ),
        device,
        heif_decoder: None,
    }
}

fn detector_record(spec: &str, det: &dyn Detector) -> Result<DetectorRecord> {
    let source = detect::locate(spec)?;
    // The bytes the detector was read from, which its known error rates are matched on.
    let sha = det.meta().checkpoint_sha256.clone();
    let source = match source {
        DetectorSource::Shipped(_) => "shipped".to_string(),
        DetectorSource::Installed(_) => "installed".into(),
        DetectorSource::File(p) => format!("file {}", p.display()),
    };
    let m = det.meta();
    let mut heldout = serde_json::Map::new();
    if let Some(o) = m.metrics.as_object() {
        for (k, v) in o {
            if k != "history" && k != "skipped_files" {
                heldout.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(DetectorRecord {
        name: m.name.clone(),
        method: m.method.clone(),
        source,
        settings: m.settings.clone(),
        crop: serde_json::to_string(&m.crop)?,
        base_model: m.base_model.name.clone(),
        base_arch: m.base_model.arch.clone(),
        base_weights_sha256: m.base_model.weights_sha256.clone(),
        training_real: m.training.real_count,
        training_fake: m.training.fake_count,
        training_data_sha256: m.training.data_sha256.clone(),
        training_device: m.training.device.clone(),
        created: m.created.clone(),
        calibration: m.calibration,
        heldout: serde_json::Value::Object(heldout),
        recalibration: m.recalibration.clone(),
        validation: detect::validation::for_checkpoint(&sha).cloned(),
        checkpoint_sha256: sha,
    })
}

/// SHA-256 and SHA-512 of an evidence file.
pub use crate::fsutil::sha256_sha512_file as hashes;

fn jpeg(img: &image::RgbImage, q: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(img)?;
    Ok(out)
}

fn png(img: &image::RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

/// `p` made absolute with symbolic links resolved, for the part of it that exists.
fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = base.canonicalize() {
            return rest.iter().rev().fold(c, |acc, r| acc.join(r));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses an output folder that is a file, that lies inside an evidence folder (the report's
/// files would be added to the evidence, and a later run on that folder would take its pictures
/// for evidence), or that holds an input file or folder. Checked before anything is created.
fn check_out_folder(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {}: is a file, not a folder; the report is a folder of files",
            out.display()
        );
    }
    let o = resolved(out);
    for i in inputs.iter().filter(|i| i.is_dir()) {
        let d = resolved(i);
        if o.starts_with(&d) {
            bail!(
                "--out {} lies inside the evidence folder {}: the report would be added to the evidence; choose a folder outside it",
                out.display(),
                i.display()
            );
        }
    }
    // Nor into a folder that holds evidence: its files would sit among the evidence, and one of
    // them (report.pdf, images/001-original.jpg…) could have an evidence file's name.
    for i in inputs {
        if resolved(i).starts_with(&o) {
            bail!(
                "--out {} holds the evidence {}: the report's files would be written among the evidence; choose a folder that holds none of it",
                out.display(),
                i.display()
            );
        }
    }
    Ok(())
}

/// Largest side of the pictures in the report.
const PICTURE_MAX: u32 = 1024;

/// Analyses every input and writes the report files into `req.out`. Returns the report (with
/// the hashes of what was written).
pub fn write_report(
    engine: &Engine,
    req: &ReportRequest,
    progress: ProgressSink,
    cancel: &CancelFlag,
) -> Result<CaseReport> {
    let started = now_utc();
    check_out_folder(&req.out, &req.inputs)?;
    // Paths are recorded absolute, so that the report (and `fauxscope verify`) names each file
    // whatever the folder it is read from.
    let mut listing = crate::train::data::expand_inputs(&req.inputs)?;
    for p in listing.images.iter_mut().chain(listing.others.iter_mut()) {
        *p = crate::fsutil::absolute(p);
    }
    for (p, _) in listing.unreadable.iter_mut() {
        *p = crate::fsutil::absolute(p);
    }
    let files = &listing.images;
    if files.is_empty() {
        match listing.others_note() {
            Some(note) => bail!("no image files in the inputs (not examined: {note})"),
            None => bail!("no image files in the inputs"),
        }
    }
    let mut seen = std::collections::HashSet::new();
    let not_examined: Vec<NotExamined> = listing
        .others
        .iter()
        .chain(&req.not_examined)
        .filter(|p| seen.insert(crate::fsutil::real_path(p)))
        .map(|p| NotExamined {
            path: crate::fsutil::absolute(p).display().to_string(),
            size_bytes: std::fs::metadata(p).ok().map(|m| m.len()),
        })
        .collect();
    if req.detectors.is_empty() {
        bail!("a report needs at least one detector");
    }
    let dets: Vec<Box<dyn Detector>> = req
        .detectors
        .iter()
        .map(|d| engine.detector(d))
        .collect::<Result<_>>()?;
    let records = req
        .detectors
        .iter()
        .zip(&dets)
        .map(|(s, d)| detector_record(s, d.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&dyn Detector> = dets.iter().map(|d| d.as_ref()).collect();
    let img_dir = req.out.join("images");
    std::fs::create_dir_all(&img_dir)
        .with_context(|| format!("cannot create {}", img_dir.display()))?;
    let mut items = Vec::new();
    // What the folder walk could not read is skipped with its reason.
    let mut skipped: Vec<SkippedFile> = listing
        .unreadable_messages()
        .map(|(p, error)| SkippedFile::new(p, None, error))
        .collect();
    let mut pictures: Vec<(usize, [image::RgbImage; 4], Option<image::RgbImage>)> = Vec::new();
    let mut pictures_written: Vec<OutputFile> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        if cancel.is_cancelled() {
            bail!("report cancelled");
        }
        progress(Progress::new(
            "analysing",
            i,
            files.len(),
            path.display().to_string(),
        ));
        // One read: the hashes come from the bytes before anything else uses them, and the
        // same bytes are decoded and searched for metadata.
        let bytes = match crate::imageio::read_evidence(path, &engine.limits) {
            Ok(b) => b,
            Err(e) => {
                skipped.push(SkippedFile::new(path, None, e.to_string()));
                continue;
            }
        };
        let sha256 = crate::imageio::sha256_hex(&bytes);
        let sha512 = {
            use sha2::Digest;
            hex::encode(sha2::Sha512::digest(&bytes))
        };
        let analysed_utc = now_utc();
        let analysed = crate::imageio::decode_bytes(&bytes, path, &engine.limits)
            .map_err(anyhow::Error::from)
            .and_then(|img| Ok((engine.analyze(&img, &refs, &default_stability())?, img)));
        let (a, img) = match analysed {
            Ok(x) => x,
            Err(e) => {
                skipped.push(SkippedFile::new(path, Some(sha256), format!("{e:#}")));
                continue;
            }
        };
        let metadata = read_metadata(&bytes);
        drop(bytes);
        let provenance = check_c2pa(path, mime_for(&a.facts.format), &req.trust);
        // Pictures: the original, the TAM map and the attention rollout over it, a chart.
        let (small, scale) = crate::workstation::maps::downscaled(&img.rgb, PICTURE_MAX);
        let tam_maps: Vec<_> = a.tam.iter().map(|t| &t.scores).collect();
        let att_maps: Vec<_> = a
            .rollout
            .last()
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let tam_img = composite(&small, &tam_maps, scale, 0.6);
        let att_img = composite(&small, &att_maps, scale, 0.6);
        let mut bars: Vec<Bar> = a
            .results
            .iter()
            .map(|r| Bar {
                label: format!("{} ({})", r.detector, r.method),
                value: r.probability as f64,
            })
            .collect();
        bars.extend(a.stability.iter().map(|s| Bar {
            label: format!("{} after {}", a.results[0].detector, s.perturbation),
            value: s.probability as f64,
        }));
        let chart_h = 60 + 34 * bars.len() as u32;
        let chart = probability_bars(
            "Calibrated probability against the decision threshold (0.5)",
            &bars,
            (720, chart_h),
        )?;
        let stem = format!("{:03}", i + 1);
        let mut warnings = a.warnings.clone();
        let region = match req.regions {
            None => None,
            Some(n) => match engine.region_map(&img, refs[0], n, &|_| {}, cancel) {
                Ok(m) => Some(m),
                Err(e) => {
                    warnings.push(format!("no region map: {e:#}"));
                    None
                }
            },
        };
        let region_img = region
            .as_ref()
            .map(|m| crate::workstation::maps::region_picture(&small, m, scale, 0.6));
        let names = ItemImages {
            original: format!("images/{stem}-original.jpg"),
            tam: format!("images/{stem}-tam.jpg"),
            attention: format!("images/{stem}-attention.jpg"),
            chart: format!("images/{stem}-chart.png"),
            regions: region_img
                .as_ref()
                .map(|_| format!("images/{stem}-regions.jpg")),
        };
        // Each picture is written, and its SHA-256 kept in the sidecar (`fauxscope verify`).
        let mut put = |name: &str, bytes: Vec<u8>| -> Result<()> {
            write_atomic(&req.out.join(name), &bytes)?;
            pictures_written.push(OutputFile {
                name: name.into(),
                sha256: crate::imageio::sha256_hex(&bytes),
            });
            Ok(())
        };
        put(&names.original, jpeg(&small, 90)?)?;
        put(&names.tam, jpeg(&tam_img, 90)?)?;
        put(&names.attention, jpeg(&att_img, 90)?)?;
        put(&names.chart, png(&chart)?)?;
        if let (Some(name), Some(pic)) = (&names.regions, &region_img) {
            put(name, jpeg(pic, 90)?)?;
        }
        pictures.push((items.len(), [small, tam_img, att_img, chart], region_img));
        let unsure = a.unsure() == Some(true);
        let f = &a.facts;
        items.push(ItemReport {
            index: items.len() + 1,
            file: EvidenceFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: path.display().to_string(),
                size: f.file_size,
                format: f.format.clone(),
                extension_mismatch: f.extension_mismatch.clone(),
                colour_model: f.color_type.clone(),
                colour_profile: f.color_profile.as_ref().map(|c| c.note.clone()),
                frames: f.animation.map_or(1, |a| a.frames),
                analysed_frame: f.animation.map(|a| a.analysed(&f.format).to_string()),
                data_damage: f.damage.clone(),
                width: f.width,
                height: f.height,
                sha256: sha256.clone(),
                sha512,
                verified_unchanged: false,
            },
            analysed_utc,
            conclusion: conclusion(&a.results, unsure, f.damage.is_some()),
            results: a.results.clone(),
            agreement: a.agreement,
            stability: a.stability.clone(),
            unsure,
            warnings: {
                if f.sha256 != sha256 {
                    warnings.push("the file changed between hashing and decoding".into());
                }
                warnings
            },
            tam_measure: format!("{:?}", a.tam_measure).to_lowercase(),
            tam_ratio: a.tam_ratio,
            analysed_regions: a.tam.iter().map(|t| t.scores.rect).collect(),
            region_map: region.map(Into::into),
            metadata,
            provenance,
            bookmark: req.bookmarks.get(&sha256).cloned(),
            images: names,
        });
    }
    // Files with the same bytes under other names: each copy names the first.
    let copies = crate::workstation::earlier_copies(items.iter().map(|it| it.file.sha256.as_str()));
    for (k, first) in copies.into_iter().enumerate() {
        if let Some(f) = first {
            let (index, name) = (items[f].index, items[f].file.name.clone());
            items[k].warnings.push(format!(
                "the same bytes as item {index} ({name}; equal SHA-256): a copy of that file"
            ));
        }
    }
    // Re-verify every evidence file at the end.
    for it in &mut items {
        let again = hashes(Path::new(&it.file.path)).ok();
        it.file.verified_unchanged = again
            .as_ref()
            .is_some_and(|(a, b)| *a == it.file.sha256 && *b == it.file.sha512);
        if !it.file.verified_unchanged {
            it.warnings.push(
                "EVIDENCE CHANGED during the analysis: the hashes taken at the end differ".into(),
            );
        }
    }
    progress(Progress::new(
        "writing",
        files.len(),
        files.len(),
        "report files",
    ));
    let summary = Summary {
        images: items.len(),
        with_evidence_of_generation: items
            .iter()
            .filter(|i| i.results.first().is_some_and(|r| r.generated()))
            .count(),
        no_evidence: items
            .iter()
            .filter(|i| i.results.first().is_some_and(|r| !r.generated()))
            .count(),
        unsure: items.iter().filter(|i| i.unsure).count(),
        detectors_disagree: items
            .iter()
            .filter(|i| i.agreement == Agreement::Disagree)
            .count(),
        c2pa_present: items
            .iter()
            .filter(|i| i.provenance.state != crate::forensics::provenance::ProvenanceState::Absent)
            .count(),
        skipped: skipped.len(),
        not_examined: not_examined.len(),
    };
    let mut report = CaseReport {
        schema: SCHEMA.into(),
        case: CaseInfo {
            id: req.case_id.clone(),
            examiner: req.examiner.clone(),
            notes: req.notes.clone(),
            propositions: [
                "Hp: the image is a camera capture of a real scene (not made by a generative model).".into(),
                "Hd: the image was made, wholly or in part, by a generative model.".into(),
            ],
        },
        tool: ToolInfo {
            name: "Fauxscope".into(),
            version: crate::VERSION.into(),
            commit: crate::COMMIT.into(),
        },
        environment: Environment {
            heif_decoder: items
                .iter()
                .any(|it| crate::imageio::is_heif_format(&it.file.format))
                .then(|| crate::heif::version().ok())
                .flatten()
                .map(|v| format!("libheif {v}")),
            ..environment(engine)
        },
        analysis_started_utc: started,
        analysis_finished_utc: now_utc(),
        limitations: limitations(&records),
        detectors: records,
        summary,
        items,
        skipped,
        not_examined,
        reproduce: req.command.clone(),
        outputs: vec![],
        pictures: pictures_written,
        signer: req.signing.as_ref().map(|k| k.signer()),
        examination_log: req.examination_log.clone(),
    };
    // The PDF, HTML and CSV, then the sidecar with their hashes.
    let pdf_bytes = pdf_report::render(&report, &pictures)?;
    let html_bytes = html::render(&report).into_bytes();
    let csv_bytes = csv(&report).into_bytes();
    for (name, bytes) in [
        ("report.pdf", &pdf_bytes),
        ("report.html", &html_bytes),
        ("summary.csv", &csv_bytes),
    ] {
        write_atomic(&req.out.join(name), bytes)?;
        report.outputs.push(OutputFile {
            name: name.into(),
            sha256: crate::imageio::sha256_hex(bytes),
        });
    }
    // A signature left by an earlier report in this folder goes first, so that no moment has
    // the new sidecar beside a signature that is not its own.
    let sig_path = req.out.join(signing::SIGNATURE_FILE);
    match std::fs::remove_file(&sig_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", sig_path.display()))
        }
        _ => {}
    }
    let sidecar = serde_json::to_vec_pretty(&report)?;
    write_atomic(&req.out.join("report.json"), &sidecar)?;
    if let Some(key) = &req.signing {
        write_atomic(&sig_path, &key.sign_sidecar(&sidecar)?)?;
    }
    Ok(report)
}

/// One row per image: the summary table as CSV (quoted and guarded by [`crate::csvout`]).
pub fn csv(r: &CaseReport) -> String {
    use crate::csvout::{row, text_cell};
    let mut out = String::from("index,file,sha256,verdict,probability,unsure,agreement,c2pa");
    for d in &r.detectors {
        out.push_str(&format!(",{}", text_cell(&format!("p_{}", d.name))));
    }
    // With region maps: how many tiles each had, and how many were above the threshold.
    let regions = r.items.iter().any(|it| it.region_map.is_some());
    if regions {
        out.push_str(",region_tiles,region_tiles_flagged");
    }
    out.push('\n');
    for it in &r.items {
        let p = it.results.first();
        let mut cells = vec![
            it.index.to_string(),
            text_cell(&it.file.path),
            it.file.sha256.clone(),
            p.map_or(String::new(), |p| p.verdict.label().to_string()),
            p.map_or(String::new(), |p| format!("{:.4}", p.probability)),
            it.unsure.to_string(),
            it.agreement.label().to_string(),
            it.provenance.state.label().to_string(),
        ];
        for d in &r.detectors {
            cells.push(
                it.results
                    .iter()
                    .find(|x| x.detector == d.name)
                    .map_or(String::new(), |x| format!("{:.4}", x.probability)),
            );
        }
        if regions {
            let m = it.region_map.as_ref();
            cells.push(m.map_or(String::new(), |m| m.tiles.to_string()));
            cells.push(m.map_or(String::new(), |m| m.flagged.to_string()));
        }
        out.push_str(&row(&cells));
    }
    out
}
