//! Application state and the window layout: evidence list (left), viewer (centre), inspector
//! (right); the fine-tune panel and the detector library are views of their own.

use super::inspector;
use super::train_panel::{self, TrainPanel};
use super::viewer::{self, ViewState};
use super::worker::{self, Cmd, DetectorInfo, Event, Loaded};
use crate::device::DeviceChoice;
use crate::forensics::metadata::Metadata;
use crate::jobs::CancelFlag;
use crate::workstation::analyze::{Agreement, Analysis};
use crate::workstation::case::LogAction;
use crate::workstation::paste;
use crate::workstation::regions::RegionMap;
use crate::workstation::settings::{BookmarkStatus, Bookmarks, OverlayKind, Settings};
use egui::{Color32, ColorImage, RichText, TextureHandle, TextureOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Where the window keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub settings: PathBuf,
    pub bookmarks: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            settings: Settings::default_path(),
            bookmarks: Bookmarks::default_path(),
        }
    }
}

/// One piece of evidence in the list.
pub struct Evidence {
    pub path: PathBuf,
    /// The path with `..` and symbolic links resolved (the path itself where that fails), so that
    /// one file is not added twice.
    real_path: PathBuf,
    pub thumb: Option<TextureHandle>,
    pub image: Option<TextureHandle>,
    pub size: [u32; 2],
    pub metadata: Option<Metadata>,
    pub analysis: Option<Analysis>,
    pub complete: bool,
    pub error: Option<String>,
    /// Seconds from the request to the first verdict with both maps.
    pub first_verdict_s: Option<f64>,
    /// Overlay textures for (kind, layer) of the current settings.
    overlay_key: Option<(OverlayKind, Option<usize>, usize)>,
    pub overlays: Vec<TextureHandle>,
    /// The region map once asked for: running (None inside), made, or failed.
    pub regions: Option<Option<Result<RegionMap, String>>>,
    /// Stops the region map being made (the flag of the latest request).
    regions_cancel: CancelFlag,
    /// The file's SHA-256 is not the one the case file it came from recorded: shown with the
    /// analysis's warnings.
    case_warning: Option<String>,
}

impl Evidence {
    fn new(path: PathBuf) -> Self {
        Self {
            real_path: crate::fsutil::real_path(&path),
            path,
            thumb: None,
            image: None,
            size: [0, 0],
            metadata: None,
            analysis: None,
            complete: false,
            error: None,
            first_verdict_s: None,
            overlay_key: None,
            overlays: vec![],
            regions: None,
            regions_cancel: CancelFlag::new(),
            case_warning: None,
        }
    }
    /// Forgets the region map, stopping it if it is being made.
    fn drop_regions(&mut self) {
        self.regions_cancel.cancel();
        self.regions = None;
    }
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Evidence,
    FineTune,
    Library,
}

/// Engine status as the window knows it.
#[derive(Debug, Clone, Default)]
pub struct EngineStatus {
    pub ready: bool,
    pub device: String,
    pub note: Option<String>,
    pub loaded: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub error: Option<String>,
}

pub struct App {
    pub settings: Settings,
    pub bookmarks: Bookmarks,
    pub paths: Paths,
    pub evidence: Vec<Evidence>,
    pub selected: Option<usize>,
    pub view: View,
    pub engine: EngineStatus,
    pub status: String,
    pub train: TrainPanel,
    pub library: Vec<DetectorInfo>,
    /// An installed detector the examiner asked to remove, waiting for the confirmation.
    pub removing: Option<String>,
    /// What the last removal did (where the file went, or why not).
    pub library_note: Option<String>,
    pub view_state: ViewState,
    /// Slowest recent frames (ms), for the status bar and the frame-time check.
    pub frame_ms: Vec<f32>,
    /// Whole-frame CPU times (ms) while a training run went on: the frame-time check.
    pub training_frames: Vec<f32>,
    /// Frame times with no run going (the baseline for the figures above).
    idle_frames: Vec<f32>,
    /// When the last run ended, and the frames since (logged for 5 s).
    after_training: Option<(std::time::Instant, Vec<f32>)>,
    /// A message shown until dismissed (errors from dialogs, saving).
    pub notice: Option<String>,
    /// Files in the added folders that are not pictures: the notice names them, and a report of
    /// all the evidence lists them as not examined.
    pub not_examined: Vec<PathBuf>,
    /// The examination log: what was done in this window (and, after opening a case, in the
    /// case's earlier sessions), oldest first. Saved with the case, included in reports.
    pub exam_log: Vec<crate::workstation::case::LogEntry>,
    /// Each image's bookmark as last saved or logged (by SHA-256): what a change is logged
    /// against.
    bookmark_logged: std::collections::HashMap<String, (BookmarkStatus, String)>,
    pub(crate) tx: Sender<Cmd>,
    rx: Receiver<Event>,
    pub(crate) picked: (Sender<Picked>, Receiver<Picked>),
    /// Pictures pasted from the clipboard, saved as PNG on a helper thread: (path, width,
    /// height), or why it could not be saved.
    pasted: (Sender<PasteSaved>, Receiver<PasteSaved>),
    /// When the Paste button asked for the clipboard's contents (an empty clipboard sends no
    /// paste at all, which is then said).
    paste_asked: Option<Instant>,
    /// Pictures of the view made for the clipboard on a helper thread: (picture, what it
    /// shows), or why none could be made.
    pub(crate) view_copies: (Sender<ViewCopy>, Receiver<ViewCopy>),
    pending_configure: bool,
    pub export: ExportState,
    pub calibrate: CalibrateState,
    pub verify: VerifyState,
    /// How the evidence list is ordered and which images it shows.
    pub list_sort: super::triage::ListSort,
    pub list_filter: super::triage::ListFilter,
    pub case: CaseState,
    /// The evidence list's scroll offset and height at the last frame (for the arrow keys).
    list_view: (f32, f32),
    /// The SHA-256 a case file recorded for each of its images, checked when the image is
    /// analysed again (then dropped).
    expected_sha: std::collections::HashMap<PathBuf, String>,
    /// Wakes the window from background threads of its own (report verification).
    wake: worker::Waker,
}

/// The case window's state (save and open the evidence list).
#[derive(Debug, Default)]
pub struct CaseState {
    pub open: bool,
    /// The case file's path, typed or chosen.
    pub path: String,
    /// What the last save or open said, or its error.
    pub message: Option<Result<String, String>>,
}

/// The report-verification window's state.
#[derive(Default)]
pub struct VerifyState {
    pub open: bool,
    /// A report folder typed in (for systems without a folder dialog).
    pub typed: String,
    /// Optional: a folder where the evidence now is (its files are matched to the report by
    /// their hashes); empty: each file is checked at the path the report records.
    pub evidence: String,
    /// The report being verified, or last verified.
    pub folder: Option<PathBuf>,
    /// Optional: the examiner's public key file; the report must then be signed with it.
    pub key: String,
    pub running: bool,
    pub result: Option<Result<crate::report::verify::Verification, String>>,
    rx: Option<Receiver<Result<crate::report::verify::Verification, String>>>,
}

/// The detector library's local-threshold form.
#[derive(Debug)]
pub struct CalibrateState {
    /// Folders of photos known to be real from the source under examination.
    pub real: Vec<PathBuf>,
    /// The installed detector's name (empty: `<primary>-local`).
    pub name: String,
    pub target_fpr: f32,
    /// A folder path typed in (for systems without a folder dialog).
    pub typed: String,
    pub running: bool,
    /// The installed name and the summary, or the error.
    pub result: Option<Result<(String, Vec<String>), String>>,
}

impl Default for CalibrateState {
    fn default() -> Self {
        Self {
            real: vec![],
            name: String::new(),
            target_fpr: 0.05,
            typed: String::new(),
            running: false,
            result: None,
        }
    }
}

/// The examiner key as the export dialog knows it.
#[derive(Debug)]
pub enum KeySlot {
    /// No key file yet.
    Missing,
    /// Opened, ready to sign (kept open until the window closes or the examiner locks it
    /// again); `sealed`: its file has a passphrase.
    Open {
        key: std::sync::Arc<crate::report::signing::ExaminerKey>,
        sealed: bool,
    },
    /// Sealed under a passphrase and not yet opened.
    Sealed(crate::report::signing::KeyInfo),
    /// The key file cannot be read: why.
    Broken(String),
}

impl KeySlot {
    fn read(path: &std::path::Path) -> Self {
        use crate::report::signing::{key_info, ExaminerKey, NeedsPassphrase};
        if std::fs::symlink_metadata(path).is_err() {
            return Self::Missing;
        }
        match ExaminerKey::load(path, None) {
            Ok(k) => Self::Open {
                key: std::sync::Arc::new(k),
                sealed: false,
            },
            Err(e) if e.downcast_ref::<NeedsPassphrase>().is_some() => match key_info(path) {
                Ok(info) => Self::Sealed(info),
                Err(e) => Self::Broken(format!("{e:#}")),
            },
            Err(e) => Self::Broken(format!("{e:#}")),
        }
    }
}

/// A passphrase being typed: never printed by `Debug`, emptied when dropped.
#[derive(Default)]
pub struct Passphrase(pub String);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrase {
    /// Overwrites and empties the text.
    pub fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The export dialog's state.
#[derive(Debug, Default)]
pub struct ExportState {
    pub open: bool,
    pub case_id: String,
    pub examiner: String,
    pub notes: String,
    /// Only the selected image (else every image in the list).
    pub selected_only: bool,
    /// Only the images the list's filter shows, in the list's order.
    pub shown_only: bool,
    /// A region map of every image (the primary detector on every tile; slow on large images).
    pub regions: bool,
    /// Sign the report with the examiner key.
    pub sign: bool,
    /// The examiner key (`<data>/keys/examiner-key.json`), read when the dialog first needs it
    /// (None: not yet read).
    pub key: Option<KeySlot>,
    /// The passphrase typed to open a sealed key, or for a new key (twice); cleared once used.
    pub passphrase: Passphrase,
    pub passphrase_again: Passphrase,
    /// Make the new key without a passphrase.
    pub no_passphrase: bool,
    /// What creating a key said (the public file to hand out, or the error).
    pub key_note: Option<String>,
    pub running: bool,
    pub result: Option<Result<(PathBuf, Vec<crate::report::OutputFile>), String>>,
    /// A sealed key being opened, or a new key being made and sealed, on a background thread
    /// (Argon2 takes a few tenths of a second, which the window does not wait for).
    pub unlocking: Option<std::sync::mpsc::Receiver<Result<KeyReady, String>>>,
    /// The report folder to write once the key being opened is open.
    pub export_after_unlock: Option<PathBuf>,
}

/// An examiner key opened or made on a background thread, for [`App::poll_unlock`].
pub struct KeyReady {
    pub key: crate::report::signing::ExaminerKey,
    /// Its file has a passphrase.
    pub sealed: bool,
    /// What to tell the examiner (for a new key: the public file to hand out).
    pub note: String,
    /// A new key: signing is switched on with it.
    pub made: bool,
}

/// A file dialog's result.
pub type Picked = (PickTarget, Vec<PathBuf>);
/// A pasted picture saved: (its file, width, height), or why it could not be.
type PasteSaved = Result<(PathBuf, u32, u32), String>;
/// A picture of the view for the clipboard: (picture, what it shows), or why there is none.
pub(crate) type ViewCopy = Result<(ColorImage, String), String>;

/// What a file dialog result is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickTarget {
    Evidence,
    /// The folder a report is exported to.
    ReportFolder,
    Real,
    Fake,
    /// Known-real folders for a local threshold.
    CalibrateReal,
    /// A report folder to verify (fills the verification window's field).
    VerifyFolder,
    /// The public key a report must be signed with.
    VerifyKey,
    /// A case file (fills the case window's field).
    CaseFile,
}

impl App {
    /// `ctx` (when given) is woken by background events. `model` overrides the saved base model.
    pub fn new(paths: Paths, ctx: Option<egui::Context>, model: Option<String>) -> Self {
        let mut notice = None;
        let mut settings = Settings::load(&paths.settings).unwrap_or_else(|e| {
            notice = Some(format!("{e:#}; using default settings"));
            Settings::default()
        });
        if let Some(m) = model {
            settings.model = m;
        }
        let bookmarks = Bookmarks::load(&paths.bookmarks).unwrap_or_else(|e| {
            notice = Some(format!("{e:#}; bookmarks start empty"));
            Bookmarks::default()
        });
        let wake: worker::Waker = match ctx {
            Some(c) => Arc::new(move || c.request_repaint()),
            None => Arc::new(|| {}),
        };
        let (tx, rx) = worker::spawn(wake.clone());
        let bookmark_logged = bookmarks
            .0
            .iter()
            .map(|(k, v)| (k.clone(), (v.status, v.note.clone())))
            .collect();
        let mut app = Self {
            settings,
            bookmarks,
            paths,
            evidence: vec![],
            selected: None,
            view: View::Evidence,
            engine: EngineStatus::default(),
            status: "starting".into(),
            train: TrainPanel::default(),
            library: worker::library(),
            removing: None,
            library_note: None,
            view_state: ViewState::default(),
            frame_ms: vec![],
            training_frames: vec![],
            after_training: None,
            idle_frames: vec![],
            notice,
            not_examined: Vec::new(),
            exam_log: Vec::new(),
            bookmark_logged,
            tx,
            rx,
            picked: std::sync::mpsc::channel(),
            pasted: std::sync::mpsc::channel(),
            paste_asked: None,
            view_copies: std::sync::mpsc::channel(),
            pending_configure: true,
            export: ExportState::default(),
            calibrate: CalibrateState::default(),
            verify: VerifyState::default(),
            list_sort: Default::default(),
            list_filter: Default::default(),
            case: CaseState::default(),
            list_view: (0.0, 0.0),
            expected_sha: Default::default(),
            wake,
        };
        app.configure();
        app
    }

    /// Asks the service to (re)load the model and the chosen detectors.
    pub fn configure(&mut self) {
        let mut dets = vec![self.settings.detector.clone()];
        for c in &self.settings.compare {
            if !dets.contains(c) {
                dets.push(c.clone());
            }
        }
        self.engine.ready = false;
        self.pending_configure = true;
        let _ = self.tx.send(Cmd::Configure {
            model: self.settings.model.clone(),
            device: self.settings.device,
            detectors: dets,
        });
    }

    pub fn save_settings(&mut self) {
        if let Err(e) = self.settings.save(&self.paths.settings) {
            self.notice = Some(format!("{e:#}"));
        }
    }

    /// Adds a file, or every image under a folder, and queues the analysis.
    pub fn add_path(&mut self, p: &Path) {
        if p.is_dir() {
            match crate::train::data::list_folder(p) {
                Ok(listing) => {
                    if listing.images.is_empty() {
                        self.add_notice(format!("{}: no pictures in this folder", p.display()));
                    }
                    for (_, message) in listing.unreadable_messages() {
                        self.add_notice(message);
                    }
                    if let Some(note) = listing.others_note() {
                        self.add_notice(format!("Not examined: {note}"));
                    }
                    self.log_event(
                        LogAction::Added,
                        format!(
                            "folder {}: {} picture(s), {} other file(s)",
                            crate::fsutil::absolute(p).display(),
                            listing.images.len(),
                            listing.others.len()
                        ),
                    );
                    // Sorted and deduplicated: a folder may be added again, and may be large.
                    self.not_examined.extend(listing.others);
                    self.not_examined.sort();
                    self.not_examined.dedup();
                    for f in listing.images {
                        self.add_file(f);
                    }
                }
                Err(e) => self.notice = Some(format!("{e:#}")),
            }
        } else {
            self.log_event(
                LogAction::Added,
                format!("file {}", crate::fsutil::absolute(p).display()),
            );
            self.add_file(p.to_path_buf());
        }
        self.settings.add_recent(p);
        self.save_settings();
    }

    /// Adds a line to the examination log.
    pub fn log_event(&mut self, action: LogAction, detail: String) {
        self.exam_log
            .push(crate::workstation::case::LogEntry::now(action, detail));
    }

    /// Adds a sentence to the notice line.
    fn add_notice(&mut self, line: String) {
        self.notice = Some(match self.notice.take() {
            Some(n) => format!("{n}. {line}"),
            None => line,
        });
    }

    fn add_file(&mut self, p: PathBuf) {
        // The same file by another spelling of its path (`..`, a symbolic link) is not added twice.
        let key = crate::fsutil::real_path(&p);
        if let Some(i) = self.evidence.iter().position(|e| e.real_path == key) {
            self.selected = Some(i);
            return;
        }
        self.evidence.push(Evidence::new(p.clone()));
        if self.selected.is_none() {
            self.selected = Some(self.evidence.len() - 1);
        }
        let _ = self.tx.send(Cmd::Analyze(p));
    }

    /// After the detectors changed: re-runs the analyses made with other detectors and those
    /// that failed. Evidence still waiting was queued after the change and needs nothing.
    fn reanalyze_stale(&mut self) {
        let loaded = self.engine.loaded.clone();
        for e in &mut self.evidence {
            let stale = match &e.analysis {
                Some(a) => a.results.iter().map(|r| &r.detector).ne(loaded.iter()),
                None => e.error.is_some(),
            };
            if !stale {
                continue;
            }
            e.analysis = None;
            e.complete = false;
            e.error = None;
            e.overlay_key = None;
            e.drop_regions();
            let _ = self.tx.send(Cmd::Analyze(e.path.clone()));
        }
    }

    pub fn selected(&self) -> Option<&Evidence> {
        self.selected.and_then(|i| self.evidence.get(i))
    }

    /// Puts a picture of what the viewer shows for image `i` (the original, or its overlay with
    /// the analysed region framed and a colour bar, at up to 2048 px) on the clipboard; the file
    /// is read again on a helper thread.
    pub fn copy_view(&self, i: usize) {
        let Some(e) = self.evidence.get(i) else {
            return;
        };
        let Some(a) = e.analysis.clone() else {
            return;
        };
        let o = self.settings.overlay.clone();
        let regions = e
            .regions
            .as_ref()
            .and_then(|r| r.as_ref()?.as_ref().ok())
            .cloned();
        let (path, name) = (e.path.clone(), e.name());
        let what = match o.kind {
            OverlayKind::None => format!("the picture of {name}"),
            OverlayKind::Tam => format!("{name} with its TAM texture map"),
            OverlayKind::Attention => format!("{name} with its attention rollout"),
            OverlayKind::Regions => format!("{name} with its region map"),
        };
        let tx = self.view_copies.0.clone();
        let wake = self.wake.clone();
        std::thread::spawn(move || {
            let made =
                crate::workstation::maps::view_picture(&path, &a, &o, regions.as_ref(), 2048)
                    .map(|p| {
                        let size = [p.width() as usize, p.height() as usize];
                        (ColorImage::from_rgb(size, p.as_raw()), what)
                    })
                    .map_err(|e| format!("The picture could not be copied: {e:#}"));
            let _ = tx.send(made);
            // An idle window draws (and so takes the result) only when woken.
            wake();
        });
    }

    /// Sets image `i`'s bookmark status (its note kept) and saves the bookmarks; false when the
    /// image has no analysis yet (a bookmark is kept per SHA-256).
    pub fn set_bookmark(&mut self, i: usize, status: BookmarkStatus, note: Option<&str>) -> bool {
        let Some(sha) = self
            .evidence
            .get(i)
            .and_then(|e| e.analysis.as_ref())
            .map(|a| a.facts.sha256.clone())
        else {
            return false;
        };
        let note = note.map_or_else(
            || {
                self.bookmarks
                    .get(&sha)
                    .map(|b| b.note.clone())
                    .unwrap_or_default()
            },
            str::to_string,
        );
        self.bookmarks.set(&sha, status, &note);
        // The inspector keeps a note in memory as it is typed, so the log compares with the
        // bookmark as last saved or logged, not with the one in memory.
        let logged = (status, note.clone());
        let unchanged = match self.bookmark_logged.get(&sha) {
            Some(l) => *l == logged,
            None => status == BookmarkStatus::Unreviewed && note.is_empty(),
        };
        if !unchanged {
            self.bookmark_logged.insert(sha.clone(), logged);
            let name = crate::fsutil::absolute(&self.evidence[i].path)
                .display()
                .to_string();
            self.log_event(
                LogAction::Bookmarked,
                format!(
                    "{name}: {}{}; SHA-256 {sha}",
                    status.label(),
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(" (note: {note})")
                    }
                ),
            );
        }
        if let Err(e) = self.bookmarks.save(&self.paths.bookmarks) {
            self.notice = Some(format!("{e:#}"));
        }
        true
    }

    /// Applies background events; returns whether anything changed.
    pub fn poll(&mut self, ctx: &egui::Context) -> bool {
        let mut any = false;
        while let Ok(ev) = self.rx.try_recv() {
            any = true;
            self.apply(ctx, ev);
        }
        while let Ok(copy) = self.view_copies.1.try_recv() {
            any = true;
            match copy {
                Ok((img, what)) => {
                    let [w, h] = img.size;
                    ctx.copy_image(img);
                    self.status = format!("copied {what} ({w}x{h}) to the clipboard");
                }
                Err(e) => self.notice = Some(e),
            }
        }
        while let Ok(saved) = self.pasted.1.try_recv() {
            any = true;
            match saved {
                Ok((path, w, h)) => {
                    self.log_event(
                        LogAction::Added,
                        format!(
                            "{w}x{h} picture pasted from the clipboard, saved as {}",
                            path.display()
                        ),
                    );
                    self.add_path(&path);
                    self.status = format!("pasted picture saved as {}", path.display());
                }
                Err(e) => self.notice = Some(e),
            }
        }
        while let Ok((target, paths)) = self.picked.1.try_recv() {
            any = true;
            match target {
                PickTarget::Evidence => {
                    for p in paths {
                        self.add_path(&p);
                    }
                }
                PickTarget::ReportFolder => {
                    if let Some(dir) = paths.into_iter().next() {
                        self.export_to(dir);
                    }
                }
                PickTarget::Real => self.train.real.extend(paths),
                PickTarget::Fake => self.train.fake.extend(paths),
                PickTarget::CalibrateReal => self.calibrate.real.extend(paths),
                PickTarget::VerifyFolder => {
                    if let Some(dir) = paths.into_iter().next() {
                        self.verify.typed = dir.display().to_string();
                    }
                }
                PickTarget::VerifyKey => {
                    if let Some(f) = paths.into_iter().next() {
                        self.verify.key = f.display().to_string();
                    }
                }
                PickTarget::CaseFile => {
                    if let Some(f) = paths.into_iter().next() {
                        self.case.path = f.display().to_string();
                    }
                }
            }
        }
        if let Some(r) = self.verify.rx.as_ref().and_then(|rx| rx.try_recv().ok()) {
            any = true;
            self.verify.rx = None;
            self.verify.running = false;
            self.status = match &r {
                Ok(v) if v.verified => "report verified".into(),
                Ok(_) => "report NOT verified".into(),
                Err(_) => "report verification failed".into(),
            };
            let folder = self
                .verify
                .folder
                .as_ref()
                .map_or(String::new(), |f| f.display().to_string());
            let outcome = match &r {
                Ok(v) => format!(
                    "{folder}: {} (sidecar SHA-256 {}; signature: {})",
                    if v.verified {
                        "verified"
                    } else {
                        "NOT verified"
                    },
                    v.sidecar_sha256,
                    match &v.signature {
                        crate::report::signing::SignatureStatus::Unsigned => "none".to_string(),
                        crate::report::signing::SignatureStatus::Valid {
                            signer,
                            fingerprint,
                            trusted_key,
                            ..
                        } => format!(
                            "good, {signer} {fingerprint}{}",
                            if trusted_key.is_some() {
                                ", trusted key"
                            } else {
                                ""
                            }
                        ),
                        crate::report::signing::SignatureStatus::Bad { .. } => "BAD".to_string(),
                    }
                ),
                Err(e) => format!("{folder}: could not be read: {e}"),
            };
            self.log_event(LogAction::ReportVerified, outcome);
            self.verify.result = Some(r);
        }
        any
    }

    fn find(&mut self, p: &Path) -> Option<&mut Evidence> {
        self.evidence.iter_mut().find(|e| e.path == p)
    }

    fn apply(&mut self, ctx: &egui::Context, ev: Event) {
        match ev {
            Event::Status(s) => self.status = s,
            Event::EngineReady {
                device,
                note,
                loaded,
                failed,
            } => {
                self.status = format!("ready on {device}");
                self.engine = EngineStatus {
                    ready: true,
                    device,
                    note,
                    loaded,
                    failed,
                    error: None,
                };
                if self.pending_configure {
                    self.pending_configure = false;
                    self.reanalyze_stale();
                }
            }
            Event::EngineFailed(e) => {
                self.status = "base model failed to load".into();
                self.engine.error = Some(e);
                self.pending_configure = false;
            }
            Event::Loaded(p, l) => {
                let Loaded {
                    display,
                    thumb,
                    size,
                    metadata,
                } = *l;
                let name = p.display().to_string();
                if let Some(e) = self.find(&p) {
                    e.image = Some(ctx.load_texture(
                        format!("img:{name}"),
                        to_color_image(&display),
                        TextureOptions::LINEAR,
                    ));
                    e.thumb = Some(ctx.load_texture(
                        format!("thumb:{name}"),
                        to_color_image(&thumb),
                        TextureOptions::LINEAR,
                    ));
                    e.size = size;
                    e.metadata = metadata;
                }
            }
            Event::Metadata(p, m) => {
                if let Some(e) = self.find(&p) {
                    e.metadata = Some(*m);
                }
            }
            Event::Stage {
                path,
                analysis,
                complete,
                seconds,
            } => {
                let changed = self.check_expected(&path, Some(&analysis.facts.sha256));
                if let Some(e) = self.find(&path) {
                    if changed.is_some() {
                        e.case_warning = changed;
                    }
                    let mut analysis = analysis;
                    if let Some(w) = &e.case_warning {
                        analysis.warnings.push(w.clone());
                    }
                    if e.first_verdict_s.is_none() {
                        e.first_verdict_s = Some(seconds);
                        log::info(&format!(
                            "{}: verdict and both maps in {:.0} ms",
                            path.display(),
                            seconds * 1000.0
                        ));
                    }
                    let finished = complete && !e.complete;
                    e.analysis = Some(*analysis);
                    e.complete = complete;
                    e.overlay_key = None;
                    if finished {
                        let line = e.analysis.as_ref().map(|a| analysed_line(&path, a));
                        if let Some(line) = line {
                            self.log_event(LogAction::Analysed, line);
                        }
                    }
                }
            }
            Event::Regions(p, r, flag) => {
                // A map made by a primary detector that has since been replaced is dropped, and
                // so is the end of a request that was stopped or superseded.
                let primary = self.engine.loaded.first().cloned();
                let current = r
                    .as_ref()
                    .map_or(true, |m| Some(&m.detector) == primary.as_ref());
                let Some(e) = self.find(&p) else { return };
                if !flag.same(&e.regions_cancel) {
                    return;
                }
                if flag.is_cancelled() && r.is_err() {
                    e.regions = None;
                    self.status = "region map stopped".into();
                    return;
                }
                e.regions = current.then(|| Some(r.map(|m| *m)));
                self.status = if current {
                    "region map done".into()
                } else {
                    "region map dropped: the primary detector changed".into()
                };
            }
            Event::Failed(p, err) => {
                self.check_expected(&p, None);
                self.log_event(
                    LogAction::Failed,
                    format!("{}: {err}", crate::fsutil::absolute(&p).display()),
                );
                if let Some(e) = self.find(&p) {
                    e.error = Some(err);
                    e.complete = true;
                }
            }
            Event::TrainProgress(p) => self.train.on_progress(p),
            Event::ReportDone(r) => {
                if let Ok((dir, _)) = &r {
                    let sidecar = crate::fsutil::sha256_file(&dir.join("report.json"))
                        .unwrap_or_else(|e| format!("unreadable ({e:#})"));
                    let signed = if self.export.sign {
                        match &self.export.key {
                            Some(KeySlot::Open { key: k, .. }) => {
                                let s = k.signer();
                                format!(", signed by {} {}", s.name, s.fingerprint)
                            }
                            _ => String::new(),
                        }
                    } else {
                        String::new()
                    };
                    self.log_event(
                        LogAction::ReportWritten,
                        format!("{}: report.json SHA-256 {sidecar}{signed}", dir.display()),
                    );
                }
                self.export.running = false;
                self.export.result = Some(r);
                self.status = "report written".into();
            }
            Event::TrainDone { result, cancelled } => {
                let f = std::mem::take(&mut self.training_frames);
                if !f.is_empty() {
                    log::info(&frame_summary("during training", f));
                }
                self.after_training = Some((std::time::Instant::now(), vec![]));
                self.train.on_done(result, cancelled);
                // Reading the detector files is disk work: not on the UI thread.
                let _ = self.tx.send(Cmd::Library);
            }
            Event::Library(l) => self.library = l,
            Event::CalibrateDone(r) => {
                self.calibrate.running = false;
                self.status = match &r {
                    Ok((name, _)) => format!("local threshold installed as '{name}'"),
                    Err(_) => "local threshold failed".into(),
                };
                self.calibrate.result = Some(r);
                let _ = self.tx.send(Cmd::Library);
            }
        }
    }

    /// Makes sure the selected evidence has overlay textures for the current settings.
    fn refresh_overlays(&mut self, ctx: &egui::Context) {
        let o = self.settings.overlay.clone();
        let Some(e) = self.selected.and_then(|i| self.evidence.get_mut(i)) else {
            return;
        };
        let Some(a) = &e.analysis else { return };
        let key = (o.kind, o.layer, a.results.len() + a.stability.len());
        if e.overlay_key == Some(key) {
            return;
        }
        let name = e.path.display().to_string();
        e.overlays = viewer::selected_maps(a, &o)
            .into_iter()
            .enumerate()
            .map(|(i, m)| viewer::upload(ctx, &format!("ov:{name}:{i}"), m))
            .collect();
        e.overlay_key = Some(key);
    }

    /// Draws the whole window into `ui` (eframe calls this every frame; tests call it directly).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        self.poll_unlock();
        self.handle_drops(&ctx);
        self.handle_paste(&ctx);
        self.refresh_overlays(&ctx);
        egui::Panel::top("top").show(ui, |ui| self.top_bar(ui));
        if self.export.open {
            self.export_window(&ctx);
        }
        if self.verify.open {
            self.verify_window(&ctx);
        }
        if self.case.open {
            self.case_window(&ctx);
        }
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        match self.view {
            View::Evidence => {
                egui::Panel::left("evidence")
                    .resizable(true)
                    .default_size(265.0)
                    .show(ui, |ui| self.evidence_list(ui));
                // A floor on the inspector's width: it is sized by its content, and would
                // otherwise widen (and refit the picture) when the first verdict arrives.
                egui::Panel::right("inspector")
                    .resizable(true)
                    .default_size(350.0)
                    .min_size(330.0)
                    .show(ui, |ui| inspector::show(self, ui));
                egui::CentralPanel::default_margins().show(ui, |ui| self.central(ui));
            }
            View::FineTune => {
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    let tx = self.tx.clone();
                    let picked = self.picked.0.clone();
                    let ready = self.engine.ready;
                    if let Some(spec) = self.train.show(ui, &tx, &picked, ready) {
                        self.use_detector(&spec);
                    }
                });
            }
            View::Library => {
                egui::CentralPanel::default_margins().show(ui, |ui| self.library_view(ui));
            }
        }
        if self.train.running() {
            // Keep the ETA ticking.
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
        let ms = t0.elapsed().as_secs_f32() * 1000.0;
        self.frame_ms.push(ms);
        if self.frame_ms.len() > 240 {
            self.frame_ms.remove(0);
        }
    }

    /// Saves the evidence list (paths, SHA-256 where analysed, bookmarks) and the export
    /// dialog's case details as a case file.
    pub fn save_case(&mut self, path: &Path) -> anyhow::Result<()> {
        use crate::workstation::case::{CaseEntry, CaseFile};
        let entries = self
            .evidence
            .iter()
            .map(|e| {
                let sha = e
                    .analysis
                    .as_ref()
                    .filter(|_| e.error.is_none())
                    .map(|a| a.facts.sha256.clone())
                    // Not analysed again yet: what the case it came from recorded.
                    .or_else(|| self.expected_sha.get(&e.path).cloned());
                CaseEntry {
                    bookmark: sha.as_ref().and_then(|s| self.bookmarks.get(s)).cloned(),
                    path: e.path.clone(),
                    sha256: sha,
                }
            })
            .collect();
        // The save is logged first, so that the file holds its own entry.
        let mut log = self.exam_log.clone();
        log.push(crate::workstation::case::LogEntry::now(
            LogAction::CaseSaved,
            format!("{} ({} image(s))", path.display(), self.evidence.len()),
        ));
        let c = CaseFile::new(
            &self.export.case_id,
            &self.export.examiner,
            &self.export.notes,
            entries,
            log.clone(),
        );
        c.save(path)?;
        self.exam_log = log;
        self.case.path = path.display().to_string();
        self.status = format!("case saved to {}", path.display());
        Ok(())
    }

    /// Opens a case file: its images replace the evidence list, its case details fill the
    /// export dialog, its bookmarks are taken where none is kept here, and each image is
    /// checked against the SHA-256 the case recorded once it is analysed.
    pub fn open_case(&mut self, path: &Path) -> anyhow::Result<String> {
        let c = crate::workstation::case::CaseFile::load(path)?;
        for e in &self.evidence {
            e.regions_cancel.cancel();
        }
        self.evidence.clear();
        self.selected = None;
        self.not_examined.clear();
        self.expected_sha.clear();
        self.list_filter = Default::default();
        self.export.case_id = c.case_id.clone();
        self.export.examiner = c.examiner.clone();
        self.export.notes = c.notes.clone();
        let (taken, kept) = c.merge_bookmarks(&mut self.bookmarks);
        for sha in c.evidence.iter().filter_map(|e| e.sha256.as_ref()) {
            if let Some(b) = self.bookmarks.get(sha) {
                let state = (b.status, b.note.clone());
                self.bookmark_logged.insert(sha.clone(), state);
            }
        }
        // The case's log goes on; this session's entries before opening it are left behind
        // with the list they were about.
        self.exam_log = c.log.clone();
        if taken > 0 {
            if let Err(e) = self.bookmarks.save(&self.paths.bookmarks) {
                self.add_notice(format!("{e:#}"));
            }
        }
        for e in &c.evidence {
            if let Some(sha) = &e.sha256 {
                self.expected_sha.insert(e.path.clone(), sha.clone());
            }
            self.add_file(e.path.clone());
        }
        let mut msg = format!(
            "opened case {}{} ({} image(s), saved {})",
            path.display(),
            if c.case_id.is_empty() {
                String::new()
            } else {
                format!(" '{}'", c.case_id)
            },
            c.evidence.len(),
            c.saved_utc
        );
        if taken > 0 {
            msg.push_str(&format!("; {taken} bookmark(s) taken from the case"));
        }
        if kept > 0 {
            msg.push_str(&format!(
                "; {kept} bookmark(s) differ from this machine's, which are kept"
            ));
        }
        self.case.path = path.display().to_string();
        self.log_event(LogAction::CaseOpened, msg.clone());
        self.status = msg.clone();
        Ok(msg)
    }

    /// A case's recorded SHA-256 against the image as analysed now; for a changed file, the
    /// warning its verdict card shows.
    fn check_expected(&mut self, path: &Path, now: Option<&str>) -> Option<String> {
        let then = self.expected_sha.remove(path)?;
        match now {
            Some(now) if now != then => {
                self.add_notice(format!(
                    "{}: CHANGED since the case was saved (SHA-256 now {now}, then {then})",
                    path.display()
                ));
                return Some(format!(
                    "this file CHANGED since the case was saved: its SHA-256 then was {then}"
                ));
            }
            Some(_) => {}
            None => self.add_notice(format!(
                "{}: could not be analysed now (its error says why); the case recorded SHA-256 {then}",
                path.display()
            )),
        }
        None
    }

    fn case_window(&mut self, ctx: &egui::Context) {
        let mut open = self.case.open;
        let (mut save, mut load) = (false, false);
        egui::Window::new("Case")
            .open(&mut open)
            .collapsible(false)
            .default_width(640.0)
            .show(ctx, |ui| {
                ui.label(
                    RichText::new(
                        "A case file keeps the evidence list (each image's path and SHA-256), the bookmarks on it, the case details and the examination log, to open again here or on another machine. Opening a case replaces the list.",
                    )
                    .small(),
                );
                ui.horizontal(|ui| {
                    ui.label("Case file");
                    ui.text_edit_singleline(&mut self.case.path);
                    if ui.button("Choose…").clicked() {
                        let tx = self.picked.0.clone();
                        std::thread::spawn(move || {
                            if let Some(f) = rfd::FileDialog::new()
                                .add_filter("Fauxscope case", &["json"])
                                .pick_file()
                            {
                                let _ = tx.send((PickTarget::CaseFile, vec![f]));
                            }
                        });
                    }
                });
                let has = !self.case.path.trim().is_empty();
                ui.horizontal(|ui| {
                    save = ui
                        .add_enabled(has && !self.evidence.is_empty(), egui::Button::new("Save the list as this case"))
                        .clicked();
                    load = ui
                        .add_enabled(has, egui::Button::new("Open this case"))
                        .clicked();
                });
                match &self.case.message {
                    Some(Ok(m)) => {
                        ui.label(m);
                    }
                    Some(Err(e)) => {
                        ui.label(RichText::new(e).color(Color32::RED));
                    }
                    None => {}
                }
                ui.separator();
                ui.strong(format!("Examination log ({} entries)", self.exam_log.len()));
                ui.label(
                    RichText::new("What was done in this window, oldest first (UTC); saved with the case and included in the reports written from here.")
                        .small()
                        .weak(),
                );
                let rows = self.exam_log.len();
                egui::ScrollArea::vertical()
                    .max_height(220.0)
                    .stick_to_bottom(true)
                    .show_rows(ui, 16.0, rows, |ui, range| {
                        for e in &self.exam_log[range] {
                            ui.add(
                                egui::Label::new(RichText::new(e.line()).monospace().small())
                                    .truncate(),
                            )
                            .on_hover_text(&e.detail);
                        }
                    });
            });
        self.case.open = open;
        let path = PathBuf::from(self.case.path.trim());
        if save {
            self.case.message = Some(
                self.save_case(&path)
                    .map(|_| {
                        format!(
                            "saved {} image(s) to {}",
                            self.evidence.len(),
                            path.display()
                        )
                    })
                    .map_err(|e| format!("{e:#}")),
            );
        }
        if load {
            self.case.message = Some(self.open_case(&path).map_err(|e| format!("{e:#}")));
        }
    }

    /// What the evidence list's order and filter read of each image.
    fn rows(&self) -> Vec<super::triage::Row> {
        self.evidence
            .iter()
            .map(|e| {
                let a = e.analysis.as_ref().filter(|_| e.error.is_none());
                let primary = a.and_then(|a| a.primary());
                super::triage::Row {
                    name: e.name(),
                    path: e.path.display().to_string(),
                    probability: primary.map(|r| r.probability),
                    flagged: primary.is_some_and(|r| r.generated()),
                    unsure: a.is_some_and(|a| a.unsure() == Some(true)),
                    disagree: a.is_some_and(|a| a.agreement == Agreement::Disagree),
                    error: e.error.is_some(),
                    bookmark: a
                        .and_then(|a| self.bookmarks.get(&a.facts.sha256))
                        .map(|b| b.status)
                        .unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The evidence list's indices as shown: filtered and sorted.
    pub fn shown(&self) -> Vec<usize> {
        super::triage::order(&self.rows(), self.list_sort, self.list_filter)
    }

    /// Takes one image off the list (the file is not touched); its pending work is dropped.
    pub fn remove_evidence(&mut self, i: usize) {
        if i >= self.evidence.len() {
            return;
        }
        let e = self.evidence.remove(i);
        e.regions_cancel.cancel();
        self.selected = match self.selected {
            Some(s) if s == i => None,
            Some(s) if s > i => Some(s - 1),
            s => s,
        };
        self.status = format!("{} taken off the list (the file is not touched)", e.name());
        self.log_event(
            LogAction::TakenOff,
            format!(
                "{} (the file is not touched)",
                crate::fsutil::absolute(&e.path).display()
            ),
        );
    }

    /// Checks a report folder against its sidecar and its evidence at the recorded paths, on a
    /// thread of its own (it reads every file; the service thread stays free for analyses).
    pub fn verify_report(&mut self, dir: PathBuf) {
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = self.wake.clone();
        let target = dir.clone();
        let evidence: Vec<PathBuf> = Some(self.verify.evidence.trim())
            .filter(|e| !e.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        let keys: Vec<PathBuf> = Some(self.verify.key.trim())
            .filter(|k| !k.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        std::thread::spawn(move || {
            let r = crate::report::verify::verify(&target, &evidence, &keys)
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(r);
            wake();
        });
        self.verify.open = true;
        self.verify.folder = Some(dir);
        self.verify.running = true;
        self.verify.result = None;
        self.verify.rx = Some(rx);
        self.status = "verifying the report…".into();
    }

    fn verify_window(&mut self, ctx: &egui::Context) {
        let mut open = self.verify.open;
        let mut go = None;
        egui::Window::new("Verify a report")
            .open(&mut open)
            .collapsible(false)
            .default_width(900.0)
            .show(ctx, |ui| {
                ui.label(
                    RichText::new(
                        "Checks, read-only, every file of a report folder against the SHA-256 in its report.json, and every evidence file at the path the report records against its SHA-256 and SHA-512; where the report is signed, its examiner's signature too.",
                    )
                    .small(),
                );
                ui.add_enabled_ui(!self.verify.running, |ui| {
                    egui::Grid::new("verify").num_columns(2).show(ui, |ui| {
                        ui.label("Report folder");
                        ui.horizontal(|ui| {
                            ui.text_edit_singleline(&mut self.verify.typed);
                            if ui.button("Choose…").clicked() {
                                let tx = self.picked.0.clone();
                                std::thread::spawn(move || {
                                    if let Some(f) = rfd::FileDialog::new().pick_folder() {
                                        let _ = tx.send((PickTarget::VerifyFolder, vec![f]));
                                    }
                                });
                            }
                        });
                        ui.end_row();
                        ui.label("Evidence now in");
                        ui.horizontal(|ui| {
                            ui.text_edit_singleline(&mut self.verify.evidence)
                                .on_hover_text("Files there are matched to the report by their hashes, so moved or renamed copies are found");
                            ui.label(RichText::new("optional; empty: each file where the report says it was").small());
                        });
                        ui.end_row();
                        ui.label("Examiner's public key");
                        ui.horizontal(|ui| {
                            ui.text_edit_singleline(&mut self.verify.key)
                                .on_hover_text("The .pub.json file the examiner handed you: the report must then be signed with that key");
                            if ui.button("Choose…").clicked() {
                                let tx = self.picked.0.clone();
                                std::thread::spawn(move || {
                                    if let Some(f) = rfd::FileDialog::new().add_filter("public key", &["json"]).pick_file() {
                                        let _ = tx.send((PickTarget::VerifyKey, vec![f]));
                                    }
                                });
                            }
                            ui.label(RichText::new("optional; empty: a signature is checked, not whose it is").small());
                        });
                        ui.end_row();
                    });
                    if ui
                        .add_enabled(!self.verify.typed.trim().is_empty(), egui::Button::new("Verify"))
                        .clicked()
                    {
                        go = Some(PathBuf::from(self.verify.typed.trim()));
                    }
                });
                if let Some(f) = &self.verify.folder {
                    ui.label(format!("Report: {}", f.display()));
                }
                if self.verify.running {
                    ui.label("… reading and hashing every file");
                }
                match &self.verify.result {
                    Some(Ok(v)) => {
                        let (head, colour) = if v.verified {
                            ("Report verified: every report file and evidence file agrees with its sidecar", Color32::LIGHT_GREEN)
                        } else {
                            ("Report not verified: some files or the signature do not agree with its sidecar (below)", Color32::from_rgb(255, 140, 100))
                        };
                        ui.label(RichText::new(head).strong().color(colour));
                        egui::ScrollArea::vertical().max_height(360.0).show(ui, |ui| {
                            ui.label(RichText::new(v.text()).monospace());
                        });
                    }
                    Some(Err(e)) => {
                        ui.label(RichText::new(e).color(Color32::RED));
                    }
                    None => {}
                }
            });
        self.verify.open = open;
        if let Some(dir) = go {
            self.verify_report(dir);
        }
    }

    /// Starts opening the sealed examiner key with the passphrase typed in the dialog, on a
    /// background thread; [`App::poll_unlock`] takes the result. The passphrase field is wiped.
    pub fn unlock_key(&mut self) {
        if !matches!(self.export.key, Some(KeySlot::Sealed(_))) || self.export.unlocking.is_some() {
            return;
        }
        let path = crate::report::signing::default_key_path();
        let passphrase = zeroize::Zeroizing::new(self.export.passphrase.0.clone());
        self.export.passphrase.wipe();
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = self.wake.clone();
        std::thread::spawn(move || {
            let opened = crate::report::signing::ExaminerKey::load(&path, Some(&passphrase))
                .map(|key| KeyReady {
                    key,
                    sealed: true,
                    note: "Key open; it stays open until the window closes or you lock it.".into(),
                    made: false,
                })
                .map_err(|e| format!("{e:#}"));
            let _ = tx.send(opened);
            waker();
        });
        self.export.unlocking = Some(rx);
        self.export.key_note = Some("Opening the key…".into());
    }

    /// Makes a new examiner key for `name`, sealed under the passphrase typed twice in the dialog
    /// (or none when "without a passphrase" is ticked), on a background thread;
    /// [`App::poll_unlock`] takes it and switches signing on. The passphrase fields are wiped.
    pub fn make_key(&mut self, name: &str) {
        if self.export.unlocking.is_some() {
            return;
        }
        let path = crate::report::signing::default_key_path();
        let passphrase = (!self.export.no_passphrase)
            .then(|| zeroize::Zeroizing::new(self.export.passphrase.0.clone()));
        self.export.passphrase.wipe();
        self.export.passphrase_again.wipe();
        let name = name.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = self.wake.clone();
        std::thread::spawn(move || {
            let made = crate::report::signing::ExaminerKey::generate(&name).and_then(|k| {
                let public = k.save(&path, passphrase.as_ref().map(|p| p.as_str()))?;
                Ok(KeyReady {
                    note: format!(
                        "Key made for {}: fingerprint {}. Hand {} to whoever checks your reports; keep {} to yourself{}.",
                        k.name,
                        k.signer().fingerprint,
                        public.display(),
                        path.display(),
                        if passphrase.is_some() {
                            " (sealed under your passphrase)"
                        } else {
                            " (it has no passphrase: guard it like a password)"
                        }
                    ),
                    key: k,
                    sealed: passphrase.is_some(),
                    made: true,
                })
            });
            let _ = tx.send(made.map_err(|e| format!("{e:#}")));
            waker();
        });
        self.export.unlocking = Some(rx);
        self.export.key_note = Some("Making the key…".into());
    }

    /// Takes the result of [`App::unlock_key`] or [`App::make_key`] once it is there, and writes the report that was
    /// waiting for the key, or says why it was not written.
    pub fn poll_unlock(&mut self) {
        let Some(rx) = &self.export.unlocking else {
            return;
        };
        let opened = match rx.try_recv() {
            Ok(r) => r,
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Err("the key could not be opened (its thread stopped)".into())
            }
        };
        self.export.unlocking = None;
        let then = self.export.export_after_unlock.take();
        match opened {
            Ok(k) => {
                self.export.key_note = Some(k.note);
                self.export.key = Some(KeySlot::Open {
                    key: std::sync::Arc::new(k.key),
                    sealed: k.sealed,
                });
                if k.made {
                    self.export.sign = true;
                }
                if let Some(out) = then {
                    self.export_to(out);
                }
            }
            Err(e) => {
                if then.is_some() {
                    self.export.result = Some(Err(format!(
                        "not written: the report is to be signed and the examiner key did not open ({e})"
                    )));
                }
                self.export.key_note = Some(e);
            }
        }
    }

    /// The export dialog's signature choice: sign with the examiner key (asking for its
    /// passphrase), or make one.
    fn signing_row(&mut self, ui: &mut egui::Ui) {
        let path = crate::report::signing::default_key_path();
        let key = self.export.key.get_or_insert_with(|| KeySlot::read(&path));
        let public_hint = format!(
            "report.json.sig beside the sidecar; whoever has your public key ({}) can check who wrote the report and that nothing changed since",
            crate::report::signing::public_path_for(&path).display()
        );
        let mut unlock = false;
        let mut lock = false;
        match key {
            KeySlot::Open { key: k, sealed } => {
                let s = k.signer();
                let sealed = *sealed;
                ui.horizontal(|ui| {
                    ui.checkbox(
                        &mut self.export.sign,
                        format!("sign with my examiner key ({}, {})", s.name, s.fingerprint),
                    )
                    .on_hover_text(public_hint);
                    if sealed
                        && ui
                            .button("Lock")
                            .on_hover_text("Close the key: signing asks for its passphrase again")
                            .clicked()
                    {
                        lock = true;
                    }
                });
            }
            KeySlot::Sealed(info) => {
                ui.checkbox(
                    &mut self.export.sign,
                    format!(
                        "sign with my examiner key ({}, {})",
                        info.name, info.fingerprint
                    ),
                )
                .on_hover_text(public_hint);
                if self.export.sign {
                    ui.horizontal(|ui| {
                        ui.label("Key passphrase");
                        let r = ui.add(
                            egui::TextEdit::singleline(&mut self.export.passphrase.0)
                                .password(true)
                                .desired_width(180.0),
                        );
                        let entered =
                            r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                        if ui
                            .add_enabled(
                                !self.export.passphrase.0.is_empty(),
                                egui::Button::new("Unlock"),
                            )
                            .on_hover_text("Open the key for this session (it stays open until the window closes or Lock closes it)")
                            .clicked()
                            || (entered && !self.export.passphrase.0.is_empty())
                        {
                            unlock = true;
                        }
                    });
                }
            }
            KeySlot::Broken(e) => {
                self.export.sign = false;
                ui.label(
                    RichText::new(format!("cannot sign: {e}"))
                        .color(Color32::RED)
                        .small(),
                );
            }
            KeySlot::Missing => {
                self.export.sign = false;
                ui.label(RichText::new("Not signed: no examiner key yet.").small());
                let mut problem = None;
                if !self.export.no_passphrase {
                    egui::Grid::new("new-key").num_columns(2).show(ui, |ui| {
                        ui.label("New key's passphrase");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.export.passphrase.0)
                                .password(true)
                                .desired_width(180.0),
                        );
                        ui.end_row();
                        ui.label("The same again");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.export.passphrase_again.0)
                                .password(true)
                                .desired_width(180.0),
                        );
                        ui.end_row();
                    });
                    problem =
                        crate::report::signing::check_new_passphrase(&self.export.passphrase.0)
                            .err()
                            .map(|e| e.to_string())
                            .or_else(|| {
                                (self.export.passphrase.0 != self.export.passphrase_again.0)
                                    .then(|| "the two passphrases differ".to_string())
                            });
                }
                let name = self.export.examiner.trim().to_string();
                if name.is_empty() {
                    problem = Some("type the examiner's name above first".into());
                }
                // While a key is being made the button is off; the note below says so.
                let making = self.export.unlocking.is_some();
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(problem.is_none() && !making, egui::Button::new("Create my examiner key"))
                        .on_hover_text("An Ed25519 key pair in the data directory, for the examiner named above, sealed under the passphrase; reports signed with it show who wrote them")
                        .on_disabled_hover_text(problem.clone().unwrap_or_else(|| "the key is being made".into()))
                        .clicked()
                    {
                        self.make_key(&name);
                    }
                    ui.checkbox(&mut self.export.no_passphrase, "without a passphrase")
                        .on_hover_text("Anyone who can read the key file could then sign as you");
                });
                if let Some(p) = problem.filter(|_| !making) {
                    ui.label(RichText::new(p).small().weak());
                }
            }
        }
        if unlock {
            self.unlock_key();
        }
        if lock {
            // The key is read again from its file, sealed; a report being written keeps its own
            // reference until it is done.
            self.export.key = None;
            self.export.key_note = Some("Key locked.".into());
        }
        if let Some(n) = &self.export.key_note {
            ui.label(RichText::new(n).small());
        }
    }

    /// Sends the report job for the chosen images to the service thread.
    pub fn export_to(&mut self, out: PathBuf) {
        let filtered = self.export.shown_only && self.list_filter != super::triage::ListFilter::All;
        let inputs: Vec<PathBuf> = if self.export.selected_only {
            self.selected()
                .map(|e| vec![e.path.clone()])
                .unwrap_or_default()
        } else if filtered {
            self.shown()
                .into_iter()
                .map(|i| self.evidence[i].path.clone())
                .collect()
        } else {
            self.evidence.iter().map(|e| e.path.clone()).collect()
        };
        if inputs.is_empty() {
            self.export.result = Some(Err("no evidence to report on".into()));
            return;
        }
        if self.export.sign {
            match &self.export.key {
                Some(KeySlot::Open { .. }) => {}
                Some(KeySlot::Sealed(_))
                    if !self.export.passphrase.0.is_empty() || self.export.unlocking.is_some() =>
                {
                    // Written once the key is open (poll_unlock).
                    self.export.export_after_unlock = Some(out);
                    self.export.result = None;
                    self.unlock_key();
                    return;
                }
                _ => {
                    self.export.result = Some(Err(format!(
                        "not written: the report is to be signed and the examiner key is not open ({})",
                        self.export
                            .key_note
                            .as_deref()
                            .unwrap_or("type its passphrase")
                    )));
                    return;
                }
            }
        }
        let mut detectors = vec![self.settings.detector.clone()];
        detectors.extend(
            self.settings
                .compare
                .iter()
                .filter(|c| **c != self.settings.detector)
                .cloned(),
        );
        let trust_path = crate::forensics::provenance::user_trust_path();
        let trust = if trust_path.is_file() {
            match crate::forensics::provenance::TrustList::from_file(&trust_path) {
                Ok(t) => t,
                Err(e) => {
                    self.export.result = Some(Err(format!("{e:#}")));
                    return;
                }
            }
        } else {
            crate::forensics::provenance::TrustList::shipped()
        };
        let regions = self
            .export
            .regions
            .then_some(crate::workstation::regions::DEFAULT_MAX_TILES);
        let req = crate::report::ReportRequest {
            inputs: inputs.clone(),
            out: out.clone(),
            case_id: self.export.case_id.clone(),
            examiner: self.export.examiner.clone(),
            notes: self.export.notes.clone(),
            detectors: detectors.clone(),
            trust,
            bookmarks: self.bookmarks.clone(),
            command: crate::report::command_line(
                &inputs,
                &out,
                &self.export.case_id,
                &self.export.examiner,
                &self.export.notes,
                &detectors,
                &self.settings.model,
                trust_path.is_file().then_some(trust_path.as_path()),
                regions,
            ),
            regions,
            // A report of one selected image, or of the filtered ones, leaves the folders' other
            // files out.
            not_examined: if self.export.selected_only || filtered {
                Vec::new()
            } else {
                self.not_examined.clone()
            },
            signing: match (&self.export.key, self.export.sign) {
                (Some(KeySlot::Open { key, .. }), true) => Some(key.clone()),
                _ => None,
            },
            examination_log: self.exam_log.clone(),
        };
        self.export.running = true;
        self.export.result = None;
        let _ = self.tx.send(Cmd::Report(Box::new(req)));
    }

    fn export_window(&mut self, ctx: &egui::Context) {
        let mut open = self.export.open;
        let mut verify = None;
        egui::Window::new("Export forensic report")
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Grid::new("export").num_columns(2).show(ui, |ui| {
                    ui.label("Case ID");
                    ui.text_edit_singleline(&mut self.export.case_id);
                    ui.end_row();
                    ui.label("Examiner");
                    ui.text_edit_singleline(&mut self.export.examiner);
                    ui.end_row();
                    ui.label("Notes");
                    ui.text_edit_multiline(&mut self.export.notes);
                    ui.end_row();
                });
                ui.checkbox(&mut self.export.selected_only, "only the selected image");
                if self.list_filter != super::triage::ListFilter::All {
                    let n = self.shown().len();
                    ui.add_enabled(
                        !self.export.selected_only,
                        egui::Checkbox::new(
                            &mut self.export.shown_only,
                            format!("only the {n} image(s) the list shows ({})", self.list_filter.label()),
                        ),
                    );
                }
                ui.checkbox(&mut self.export.regions, "region maps")
                    .on_hover_text("The primary detector on every native 224-px tile of each image: one forward pass per tile");
                self.signing_row(ui);
                ui.label(RichText::new("Writes report.pdf, report.html, report.json and summary.csv into the chosen folder.").small());
                ui.add_enabled_ui(!self.export.running && self.engine.ready, |ui| {
                    if ui.button("Choose folder and export…").clicked() {
                        let tx = self.picked.0.clone();
                        std::thread::spawn(move || {
                            if let Some(f) = rfd::FileDialog::new().pick_folder() {
                                let _ = tx.send((PickTarget::ReportFolder, vec![f]));
                            }
                        });
                    }
                });
                if self.export.running {
                    ui.horizontal(|ui| {
                        ui.label("…");
                        ui.label(&self.status);
                    });
                }
                match &self.export.result {
                    Some(Ok((dir, outs))) => {
                        ui.label(RichText::new(format!("Written to {}", dir.display())).strong());
                        for o in outs {
                            ui.label(RichText::new(format!("{}  sha256 {}", o.name, o.sha256)).monospace().small());
                        }
                        if ui
                            .button("Verify this report")
                            .on_hover_text("Check its files and the evidence against report.json")
                            .clicked()
                        {
                            verify = Some(dir.clone());
                        }
                    }
                    Some(Err(e)) => {
                        ui.label(RichText::new(e).color(Color32::RED));
                    }
                    None => {}
                }
            });
        self.export.open = open;
        if let Some(dir) = verify {
            self.verify_report(dir);
        }
    }

    /// Records one whole frame's CPU time (the eframe shell reports it).
    pub fn record_frame(&mut self, ms: f32) {
        // The seconds after a run ends count too: that is when its memory is given back.
        if let Some((ended, frames)) = &mut self.after_training {
            frames.push(ms);
            let after = ended.elapsed().as_secs_f32();
            if ms > 16.0 {
                log::info(&format!(
                    "slow frame: {ms:.1} ms, {after:.2} s after training ended"
                ));
            }
            if after >= 5.0 {
                let f = std::mem::take(frames);
                self.after_training = None;
                log::info(&frame_summary("in the 5 s after training", f));
            }
        }
        if self.train.running() {
            self.training_frames.push(ms);
            if ms > 16.0 {
                log::info(&format!(
                    "slow frame: {ms:.1} ms, {:.1} s into training, stage {:?}, {:.2} s after its last progress event",
                    self.train
                        .started
                        .map_or(0.0, |t| t.elapsed().as_secs_f32()),
                    self.train.last.as_ref().map(|p| p.stage.clone()),
                    self.train.last_at.map_or(-1.0, |t| t.elapsed().as_secs_f32())
                ));
            }
        } else if self.after_training.is_none() {
            // The baseline: the same window with nothing running, summarised every 2,000 frames.
            self.idle_frames.push(ms);
            if self.idle_frames.len() >= 2000 {
                let f = std::mem::take(&mut self.idle_frames);
                log::info(&frame_summary("while idle", f));
            }
        }
    }

    /// Makes `spec` the primary detector and re-analyses.
    pub fn use_detector(&mut self, spec: &str) {
        self.log_event(
            LogAction::DetectorsChanged,
            format!("primary detector: {spec}"),
        );
        self.settings.detector = spec.to_string();
        self.settings.compare.retain(|c| c != spec);
        self.save_settings();
        self.configure();
        self.view = View::Evidence;
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if dropped.is_empty() {
            return;
        }
        if self.takes_evidence("drop") {
            for p in dropped {
                self.add_path(&p);
            }
        }
    }

    /// Whether files dropped or pasted (`how`) go on the evidence list, whose view it then
    /// shows: not from the Fine-tune view, whose folders have their own buttons (said).
    fn takes_evidence(&mut self, how: &str) -> bool {
        if self.view == View::FineTune {
            self.notice = Some(format!(
                "{how} evidence on the Evidence view; use the Add buttons for training folders"
            ));
            return false;
        }
        self.view = View::Evidence;
        true
    }

    /// A paste (Ctrl+V or the Paste button) outside a text field: a picture is saved in
    /// `<data>/pasted/` and added; text naming files or folders adds them, as a drop does.
    fn handle_paste(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pastes: Vec<egui::Event> = ctx.input(|i| {
            i.events
                .iter()
                .filter(|e| matches!(e, egui::Event::Paste(_) | egui::Event::PasteImage(_)))
                .cloned()
                .collect()
        });
        if pastes.is_empty() {
            if let Some(t) = self.paste_asked {
                if t.elapsed().as_secs_f32() > 0.5 {
                    self.paste_asked = None;
                    self.notice =
                        Some("Nothing to paste: the clipboard holds no picture and no text".into());
                } else {
                    ctx.request_repaint_after(std::time::Duration::from_millis(100));
                }
            }
            return;
        }
        self.paste_asked = None;
        if !self.takes_evidence("paste") {
            return;
        }
        for e in pastes {
            match e {
                egui::Event::Paste(text) => {
                    let named = paste::pasted_paths(&text);
                    for p in &named.paths {
                        self.add_path(p);
                    }
                    if let Some(note) = named.unknown_note() {
                        self.add_notice(note);
                    }
                }
                egui::Event::PasteImage(img) => {
                    let [w, h] = img.size;
                    let tx = self.pasted.0.clone();
                    let wake = self.wake.clone();
                    self.status = format!("saving the pasted {w}x{h} picture…");
                    std::thread::spawn(move || {
                        let rgba: Vec<u8> = img
                            .pixels
                            .iter()
                            .flat_map(|c| c.to_srgba_unmultiplied())
                            .collect();
                        let dir = paste::pasted_dir();
                        let saved = paste::save_pasted(&dir, rgba, w as u32, h as u32)
                            .map(|p| (p, w as u32, h as u32))
                            .map_err(|e| format!("The pasted picture could not be saved: {e:#}"));
                        let _ = tx.send(saved);
                        wake();
                    });
                }
                _ => {}
            }
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Fauxscope");
            ui.separator();
            ui.selectable_value(&mut self.view, View::Evidence, "Evidence");
            ui.selectable_value(&mut self.view, View::FineTune, "Fine-tune");
            ui.selectable_value(&mut self.view, View::Library, "Detectors");
            ui.separator();
            if ui
                .add_enabled(
                    !self.evidence.is_empty(),
                    egui::Button::new("Export report…"),
                )
                .clicked()
            {
                self.export.open = true;
            }
            if ui
                .button("Case…")
                .on_hover_text("Save the evidence list as a case file, or open one")
                .clicked()
            {
                self.case.open = true;
            }
            if ui
                .button("Verify report…")
                .on_hover_text(
                    "Check a report folder's files and its evidence against its report.json",
                )
                .clicked()
            {
                self.verify.open = true;
            }
            ui.separator();
            let before = self.settings.device;
            egui::ComboBox::from_label("Device")
                .selected_text(format!("{:?}", self.settings.device))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.settings.device, DeviceChoice::Auto, "Auto");
                    ui.selectable_value(&mut self.settings.device, DeviceChoice::Cpu, "CPU");
                    ui.selectable_value(&mut self.settings.device, DeviceChoice::Cuda, "CUDA");
                });
            if self.settings.device != before {
                self.save_settings();
                self.configure();
            }
            if let Some(n) = &self.engine.note {
                ui.label(RichText::new(n).color(Color32::YELLOW));
            }
        });
        if let Some(n) = self.notice.clone() {
            // Wrapped: a notice may name several files.
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(n).color(Color32::from_rgb(255, 140, 100)));
                if ui.small_button("dismiss").clicked() {
                    self.notice = None;
                }
            });
        }
        if let Some(e) = &self.engine.error {
            ui.label(RichText::new(format!("Base model: {e}")).color(Color32::RED));
        }
        for (d, e) in &self.engine.failed {
            ui.label(
                RichText::new(format!("Detector {d}: {e}")).color(Color32::from_rgb(255, 140, 100)),
            );
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(&self.status);
            ui.separator();
            ui.label(format!(
                "detectors: {}",
                if self.engine.loaded.is_empty() {
                    "—".to_string()
                } else {
                    self.engine.loaded.join(", ")
                }
            ));
            let pending = self.evidence.iter().filter(|e| !e.complete).count();
            if pending > 0 {
                ui.separator();
                ui.label("…");
                ui.label(format!("{pending} analysing"));
            }
            if let Some(max) = self.frame_ms.iter().cloned().reduce(f32::max) {
                ui.separator();
                ui.label(format!("frame ≤ {max:.1} ms"));
            }
        });
    }

    fn evidence_list(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("Add files…").clicked() {
                let tx = self.picked.0.clone();
                std::thread::spawn(move || {
                    if let Some(f) = rfd::FileDialog::new()
                        .add_filter(
                            "images",
                            &[
                                "jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp", "heic",
                                "heif", "hif", "avif",
                            ],
                        )
                        .pick_files()
                    {
                        let _ = tx.send((PickTarget::Evidence, f));
                    }
                });
            }
            if ui.button("Add folder…").clicked() {
                let tx = self.picked.0.clone();
                std::thread::spawn(move || {
                    if let Some(f) = rfd::FileDialog::new().pick_folders() {
                        let _ = tx.send((PickTarget::Evidence, f));
                    }
                });
            }
            if ui
                .button("Paste")
                .on_hover_text(
                    "A picture copied in another application (saved here as a PNG and examined), \
                     or files and folders copied in a file manager (Ctrl+V does the same)",
                )
                .clicked()
            {
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::RequestPaste);
                self.paste_asked = Some(Instant::now());
            }
        });
        ui.label(
            RichText::new("or drop files and folders here, or paste (Ctrl+V) them or a picture")
                .small()
                .weak(),
        );
        ui.separator();
        let rows = self.rows();
        let shown = super::triage::order(&rows, self.list_sort, self.list_filter);
        if !rows.is_empty() {
            ui.label(RichText::new(super::triage::Counts::of(&rows).line()).small());
            ui.horizontal(|ui| {
                choice(
                    ui,
                    "list-sort",
                    &mut self.list_sort,
                    &super::triage::ListSort::ALL,
                    super::triage::ListSort::label,
                    "Order of the list",
                );
            });
            ui.horizontal(|ui| {
                choice(
                    ui,
                    "list-filter",
                    &mut self.list_filter,
                    &super::triage::ListFilter::ALL,
                    super::triage::ListFilter::label,
                    "Which images the list shows",
                );
                if self.list_filter != super::triage::ListFilter::All {
                    ui.label(
                        RichText::new(format!("{} of {}", shown.len(), rows.len()))
                            .small()
                            .weak(),
                    );
                }
            });
            ui.label(
                RichText::new("Up/Down: select · 0-3: bookmark · right-click: copy path or SHA-256, take off the list")
                    .small()
                    .weak(),
            );
            ui.separator();
        }
        // The arrow keys walk the shown order (unless a text field has the keyboard).
        let ctx = ui.ctx().clone();
        let mut keyed = None;
        if !ctx.egui_wants_keyboard_input() {
            let (down, up) = ctx.input(|i| {
                (
                    i.key_pressed(egui::Key::ArrowDown),
                    i.key_pressed(egui::Key::ArrowUp),
                )
            });
            let dir = if down {
                1
            } else if up {
                -1
            } else {
                0
            };
            if dir != 0 {
                keyed = super::triage::step(&shown, self.selected, dir);
            }
            // Keys 0-3 bookmark the selected image: unreviewed, OK, to check, warning.
            let keys = [
                egui::Key::Num0,
                egui::Key::Num1,
                egui::Key::Num2,
                egui::Key::Num3,
            ];
            let mark = ctx.input(|i| keys.iter().position(|k| i.key_pressed(*k)));
            if let (Some(m), Some(sel)) = (mark, self.selected) {
                let status = BookmarkStatus::ALL[m];
                if self.set_bookmark(sel, status, None) {
                    self.status = format!(
                        "{}: bookmarked {}",
                        self.evidence[sel].name(),
                        status.label()
                    );
                }
            }
        }
        let mut clicked = keyed;
        let mut remove = None;
        let mut copied = None;
        // Only the rows in view are laid out (a case may hold thousands of images): every row is
        // ROW_H high, so the arrow keys scroll by arithmetic.
        const ROW_H: f32 = 48.0;
        let step = ROW_H + ui.spacing().item_spacing.y;
        let mut area = egui::ScrollArea::vertical();
        if let Some(pos) = keyed.and_then(|k| shown.iter().position(|&i| i == k)) {
            let (offset, height) = self.list_view;
            let top = pos as f32 * step;
            if top < offset {
                area = area.vertical_scroll_offset(top);
            } else if top + ROW_H > offset + height {
                area = area.vertical_scroll_offset(top + ROW_H - height);
            }
        }
        let out = area.show_rows(ui, ROW_H, shown.len(), |ui, range| {
            for &i in &shown[range] {
                let e = &self.evidence[i];
                let sel = self.selected == Some(i);
                let r = ui
                    .horizontal(|ui| {
                        ui.set_min_height(ROW_H);
                        ui.set_max_height(ROW_H);
                        match &e.thumb {
                            Some(t) => {
                                let s = t.size_vec2();
                                let k = 48.0 / s.x.max(s.y).max(1.0);
                                // A 48-px cell whatever the picture's shape, so the names and
                                // badges line up down the list.
                                ui.add_sized([48.0, 48.0], egui::Image::new((t.id(), s * k)));
                            }
                            None if e.error.is_some() => {
                                // The bundled fonts have no warning sign: a large "!" instead.
                                ui.add_sized(
                                    [48.0, 48.0],
                                    egui::Label::new(
                                        RichText::new("!")
                                            .size(28.0)
                                            .strong()
                                            .color(Color32::from_rgb(255, 140, 100)),
                                    ),
                                );
                            }
                            None => {
                                ui.add_sized([48.0, 48.0], egui::Label::new("…"));
                            }
                        }
                        ui.vertical(|ui| {
                            let name = ui.selectable_label(sel, e.name());
                            // Indented by the name's button padding, so both start at one x.
                            let pad = ui.spacing().button_padding.x;
                            ui.horizontal(|ui| {
                                ui.add_space(pad);
                                badge(ui, e);
                            });
                            name
                        })
                        .inner
                    })
                    .inner;
                if r.clicked() {
                    clicked = Some(i);
                }
                r.context_menu(|ui| {
                    if ui.button("Copy the file's path").clicked() {
                        let path = crate::fsutil::absolute(&e.path).display().to_string();
                        ui.ctx().copy_text(path);
                        copied = Some(format!("copied the path of {}", e.name()));
                        ui.close();
                    }
                    let sha = e.analysis.as_ref().map(|a| a.facts.sha256.clone());
                    if ui
                        .add_enabled(sha.is_some(), egui::Button::new("Copy its SHA-256"))
                        .on_disabled_hover_text("Known once the file has been read")
                        .clicked()
                    {
                        if let Some(sha) = sha {
                            ui.ctx().copy_text(sha);
                            copied = Some(format!("copied the SHA-256 of {}", e.name()));
                        }
                        ui.close();
                    }
                    ui.separator();
                    if ui
                        .button("Take off the list (the file is not touched)")
                        .clicked()
                    {
                        remove = Some(i);
                        ui.close();
                    }
                });
            }
        });
        self.list_view = (out.state.clamped_offset().y, out.inner_rect.height());
        if let Some(what) = copied {
            self.status = what;
        }
        if let Some(i) = remove {
            self.remove_evidence(i);
            clicked = None;
        }
        if let Some(i) = clicked {
            self.selected = Some(i);
            self.view_state = ViewState::default();
        }
        if !self.settings.recent.is_empty() {
            ui.separator();
            ui.collapsing("Recent", |ui| {
                let mut open = None;
                for r in &self.settings.recent {
                    if ui.small_button(r.display().to_string()).clicked() {
                        open = Some(r.clone());
                    }
                }
                if let Some(r) = open {
                    self.add_path(&r);
                }
            });
        }
    }

    fn central(&mut self, ui: &mut egui::Ui) {
        // A file that could not be read has nothing to overlay: its error takes the view.
        if let Some(err) = self
            .selected()
            .filter(|e| e.image.is_none())
            .and_then(|e| e.error.as_deref())
        {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() * 0.35);
                ui.label(RichText::new("This file could not be read").heading());
                ui.add_space(6.0);
                ui.label(RichText::new(err).color(Color32::RED));
                ui.add_space(6.0);
                ui.label(
                    RichText::new("It was opened read-only and has not been changed. A report on it lists it as skipped, with this error.")
                        .small()
                        .weak(),
                );
            });
            return;
        }
        let o = &mut self.settings.overlay;
        let before = o.clone();
        ui.horizontal_wrapped(|ui| {
            ui.label("Overlay:");
            ui.selectable_value(&mut o.kind, OverlayKind::None, "Original");
            ui.selectable_value(&mut o.kind, OverlayKind::Tam, "TAM texture");
            ui.selectable_value(&mut o.kind, OverlayKind::Attention, "Attention");
            ui.selectable_value(&mut o.kind, OverlayKind::Regions, "Regions")
                .on_hover_text("The primary detector's probability on every native-resolution tile of the image");
            // A slider is laid out as one block that does not wrap by itself (and in a
            // wrapping row, available_width is the whole row's).
            if ui.available_rect_before_wrap().width() < 200.0 {
                ui.end_row();
            }
            ui.spacing_mut().slider_width = 80.0;
            ui.add(
                egui::Slider::new(&mut o.opacity, 0.0..=1.0)
                    .show_value(false)
                    .text("opacity"),
            );
            ui.checkbox(&mut o.show_masked, "masked patches");
            ui.separator();
            if ui.button("Fit").clicked() {
                self.view_state = ViewState::default();
            }
            if ui.button("100%").clicked() {
                self.view_state.zoom = Some(1.0);
                self.view_state.pan = egui::Vec2::ZERO;
            }
        });
        let layers = self
            .selected()
            .and_then(|e| e.analysis.as_ref())
            .map(|a| a.rollout.len())
            .unwrap_or(0);
        let o = &mut self.settings.overlay;
        if o.kind == OverlayKind::Attention && layers > 0 {
            ui.horizontal_wrapped(|ui| {
                let mut l = o.layer.unwrap_or(layers - 1).min(layers - 1);
                ui.add(egui::Slider::new(&mut l, 0..=layers - 1).text("rollout through layer"));
                o.layer = if l + 1 == layers { None } else { Some(l) };
                viewer::legend(ui, "low attention", "high");
            });
        } else if o.kind == OverlayKind::Tam {
            let (ratio, measure) = self
                .selected()
                .and_then(|e| e.analysis.as_ref())
                .map(|a| (a.tam_ratio, format!("{:?}", a.tam_measure).to_lowercase()))
                .unwrap_or((0.5, "sobel".into()));
            ui.horizontal_wrapped(|ui| {
                viewer::legend(ui, "smooth", "textured");
                ui.label(
                    RichText::new(format!(
                        "{measure} score per patch; outlined: the {:.0}% most textured (what TAM masks)",
                        ratio * 100.0
                    ))
                    .small(),
                );
            });
        }
        if self.settings.overlay.kind == OverlayKind::Regions {
            self.regions_bar(ui);
        }
        if self.settings.overlay != before {
            self.save_settings();
        }
        let Some(e) = self.selected.and_then(|i| self.evidence.get(i)) else {
            ui.centered_and_justified(|ui| {
                ui.label(
                    "Add an image (the buttons, drag and drop, Ctrl+V, or `fauxscope gui IMAGE`)",
                );
            });
            return;
        };
        if let Some(err) = &e.error {
            ui.label(RichText::new(err).color(Color32::RED));
        }
        let Some(tex) = &e.image else {
            if e.error.is_none() {
                ui.centered_and_justified(|ui| ui.label("loading…"));
            }
            return;
        };
        let input = viewer::ViewInput {
            image: tex,
            size: e.size,
            analysis: e.analysis.as_ref(),
            overlays: &e.overlays,
            settings: &self.settings.overlay,
            regions: e.regions.as_ref().and_then(|r| r.as_ref()?.as_ref().ok()),
        };
        viewer::show(ui, &mut self.view_state, &input);
    }

    /// Under the overlay bar when the region map is selected: the button that makes it, its
    /// progress, or its legend and summary.
    fn regions_bar(&mut self, ui: &mut egui::Ui) {
        let status = self.status.clone();
        let Some(e) = self.selected.and_then(|i| self.evidence.get_mut(i)) else {
            return;
        };
        let Some(size) = e.analysis.as_ref().map(|a| a.model_size) else {
            return;
        };
        ui.horizontal_wrapped(|ui| match &e.regions {
            None => {
                let [w, h] = e.size;
                let n = crate::model::preprocess::crop_rects(
                    w,
                    h,
                    size,
                    crate::model::preprocess::CropMode::Tiles(
                        crate::workstation::regions::DEFAULT_MAX_TILES,
                    ),
                )
                .len();
                if ui
                    .button(format!("Read every tile ({n})"))
                    .on_hover_text("One forward pass per tile, on the primary detector")
                    .clicked()
                {
                    e.regions = Some(None);
                    e.regions_cancel = CancelFlag::new();
                    let _ = self
                        .tx
                        .send(Cmd::Regions(e.path.clone(), e.regions_cancel.clone()));
                }
                ui.label(
                    RichText::new(
                        "a map of where the primary detector fires; the verdict stays its own",
                    )
                    .small(),
                );
            }
            Some(None) => {
                // No spinner: it would repaint every frame, and on a software renderer that
                // takes the cores the tiles need. Progress arrives as events (the status line).
                ui.label(format!(
                    "reading every tile… {}",
                    status.strip_prefix("region map: ").unwrap_or("")
                ));
                if e.regions_cancel.is_cancelled() {
                    ui.label("stopping…");
                } else if ui
                    .button("Stop")
                    .on_hover_text("Stop reading tiles (the verdict is not affected)")
                    .clicked()
                {
                    e.regions_cancel.cancel();
                }
            }
            Some(Some(Err(err))) => {
                ui.label(RichText::new(err).color(Color32::YELLOW));
            }
            Some(Some(Ok(map))) => {
                viewer::legend(ui, "p 0", "p 1");
                ui.label(RichText::new(map.summary()).small());
                ui.label(
                    RichText::new(format!(
                        "outlined: above the threshold, where the detector's calibration puts about {:.0}% of real photos' crops, so a few flagged tiles are expected in a large real photo",
                        map.target_fpr * 100.0
                    ))
                    .small(),
                );
            }
        });
    }

    /// Above the library: the confirmation of a removal asked for, or what the last one did.
    fn removal_bar(&mut self, ui: &mut egui::Ui) {
        // One scope every frame, shown or not, so that the table's widget ids stay the same.
        ui.push_id("removal-bar", |ui| self.removal_bar_inner(ui));
    }

    fn removal_bar_inner(&mut self, ui: &mut egui::Ui) {
        if let Some(spec) = self.removing.clone() {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!(
                    "Remove '{spec}' from the library? Its file is moved to {}; reports that name it keep its SHA-256.",
                    crate::paths::detectors_dir().join("removed").display()
                ));
                if ui.button("Remove").clicked() {
                    self.remove_detector(&spec);
                }
                if ui.button("Keep").clicked() {
                    self.removing = None;
                }
            });
        } else if let Some(n) = &self.library_note {
            ui.label(RichText::new(n).small());
        }
    }

    /// Removes the installed detector `spec` (see [`crate::detect::remove_installed`]); the
    /// shipped default takes over where it was the primary.
    pub fn remove_detector(&mut self, spec: &str) {
        self.removing = None;
        match crate::detect::remove_installed(spec) {
            Ok(to) => {
                self.log_event(
                    LogAction::DetectorsChanged,
                    format!(
                        "detector removed from the library: {spec} (file moved to {})",
                        to.display()
                    ),
                );
                self.library_note = Some(format!(
                    "'{spec}' removed; its file is now {}",
                    to.display()
                ));
                self.library.retain(|d| d.spec != spec);
                let compared = self.settings.compare.len();
                self.settings.compare.retain(|c| c != spec);
                if self.settings.detector == spec {
                    self.use_detector("default");
                    self.view = View::Library;
                } else if self.settings.compare.len() != compared {
                    self.save_settings();
                    self.configure();
                }
                let _ = self.tx.send(Cmd::Library);
            }
            Err(e) => self.library_note = Some(format!("{e:#}")),
        }
    }

    /// The name a local threshold of the primary detector is installed under by default.
    pub fn calibrate_name(&self) -> String {
        if !self.calibrate.name.trim().is_empty() {
            return self.calibrate.name.trim().to_string();
        }
        let stem = std::path::Path::new(crate::detect::named(&self.settings.detector))
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("detector");
        format!("{stem}-local")
    }

    /// Sends the local-threshold request for the primary detector.
    pub fn start_calibrate(&mut self) {
        let job = worker::CalibrateJob {
            detector: self.settings.detector.clone(),
            real: self.calibrate.real.clone(),
            target_fpr: self.calibrate.target_fpr,
            name: self.calibrate_name(),
        };
        self.calibrate.running = true;
        self.calibrate.result = None;
        let _ = self.tx.send(Cmd::Calibrate(Box::new(job)));
    }

    /// The local-threshold form; returns a detector to make primary.
    fn calibrate_form(&mut self, ui: &mut egui::Ui) -> Option<String> {
        ui.heading("Local threshold");
        ui.label(format!(
            "A threshold holds its false-positive rate on photos like those it was set on. Photos known to be real from the source you are examining (at least {}, {} or more recommended) set the primary detector's threshold again on them; the result is installed as a new detector, and reports say the threshold is local.",
            (1.0 / self.calibrate.target_fpr).ceil() as usize,
            crate::workstation::calibrate::RECOMMENDED_REALS
        ));
        let picked = self.picked.0.clone();
        train_panel::folder_list(
            ui,
            "Known-real photos",
            &mut self.calibrate.real,
            PickTarget::CalibrateReal,
            &picked,
        );
        ui.horizontal(|ui| {
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.calibrate.typed)
                    .hint_text("or type a folder path and press Enter")
                    .desired_width(420.0),
            );
            if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                let p = PathBuf::from(self.calibrate.typed.trim());
                if p.is_dir() {
                    self.calibrate.real.push(p);
                    self.calibrate.typed.clear();
                } else {
                    self.notice = Some(format!("{}: not a folder", p.display()));
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("false positives on them");
            let mut pct = self.calibrate.target_fpr * 100.0;
            if ui
                .add(egui::DragValue::new(&mut pct).range(1.0..=20.0).suffix("%"))
                .changed()
            {
                self.calibrate.target_fpr = pct / 100.0;
            }
            ui.label("install as");
            let hint = self.calibrate_name();
            ui.add(egui::TextEdit::singleline(&mut self.calibrate.name).hint_text(hint));
        });
        let ready = self.engine.ready && !self.calibrate.running && !self.calibrate.real.is_empty();
        let label = format!("Set the threshold of '{}'", self.settings.detector);
        if ui.add_enabled(ready, egui::Button::new(label)).clicked() {
            self.start_calibrate();
        }
        if self.calibrate.running {
            // A static line: a spinner repaints every frame, which on a software renderer takes
            // the cores the scoring needs.
            ui.label("scoring the known-real photos…");
        }
        let mut use_it = None;
        match &self.calibrate.result {
            Some(Ok((name, lines))) => {
                for l in lines {
                    let warn = l.starts_with("warning:") || l.starts_with("skipped:");
                    let text = RichText::new(l).monospace();
                    ui.label(if warn {
                        text.color(Color32::YELLOW)
                    } else {
                        text
                    });
                }
                if ui
                    .button(format!("Use '{name}' as the primary detector"))
                    .clicked()
                {
                    use_it = Some(name.clone());
                }
            }
            Some(Err(e)) => {
                ui.label(RichText::new(e).color(Color32::RED));
            }
            None => {}
        }
        use_it
    }

    fn library_view(&mut self, ui: &mut egui::Ui) {
        ui.heading("Detector library");
        ui.label("The primary detector gives the verdict, the maps and the stability check; checked detectors run beside it.");
        if ui.button("Refresh").clicked() {
            let _ = self.tx.send(Cmd::Library);
        }
        let mut make_primary = None;
        let mut toggled = None;
        self.removal_bar(ui);
        let mut ask_remove = None;
        egui::ScrollArea::both().show(ui, |ui| {
            egui::Grid::new("lib")
                .striped(true)
                .num_columns(8)
                .show(ui, |ui| {
                    // The known error rates before the training details, which a narrow
                    // window pushes out of view.
                    for h in ["primary", "compare", "name", "method", "source"] {
                        ui.strong(h);
                    }
                    ui.strong("unseen sources").on_hover_text(
                        "Known error rates at the detector's threshold, on a labelled set whose real photos and generators are not in its training data (fauxscope eval)",
                    );
                    ui.strong("held-out");
                    ui.strong("trained on");
                    ui.end_row();
                    for d in &self.library {
                        let primary = self.settings.detector == d.spec;
                        if ui.radio(primary, "").clicked() && !primary {
                            make_primary = Some(d.spec.clone());
                        }
                        let mut cmp = self.settings.compare.contains(&d.spec);
                        if ui
                            .add_enabled(!primary, egui::Checkbox::without_text(&mut cmp))
                            .changed()
                        {
                            toggled = Some((d.spec.clone(), cmp));
                        }
                        ui.label(&d.spec);
                        match &d.meta {
                            Ok(m) => {
                                ui.label(&m.method);
                                if source_cell(ui, d) {
                                    ask_remove = Some(d.spec.clone());
                                }
                                match &d.validation {
                                    Some(v) => {
                                        let mut hover = format!("On {}: it {}.", v.dataset, v.sentence());
                                        if let Some(p) = v.perturbed_sentence() {
                                            hover.push_str(&format!("\nAltered (both classes alike): {p}."));
                                        }
                                        ui.label(v.short()).on_hover_text(hover);
                                    }
                                    None => {
                                        ui.label(RichText::new("not measured").weak()).on_hover_text(
                                            "No error rates on sources outside its training data were recorded for this checkpoint; its held-out figures overstate how it does on other sources",
                                        );
                                    }
                                }
                                ui.label(metrics_line(&m.metrics))
                                    .on_hover_text("On the held-out part of its training data: the same sources it learnt from");
                                let local = m
                                    .recalibration
                                    .as_ref()
                                    .map(|r| {
                                        format!(
                                            "; threshold recalibrated on {} reference real photos",
                                            r.reference.real_count
                                        )
                                    })
                                    .unwrap_or_default();
                                ui.label(format!(
                                    "{} real + {} generated{local}",
                                    m.training.real_count, m.training.fake_count,
                                ))
                                .on_hover_text(format!(
                                    "On the base model {}; made {}",
                                    m.base_model.name, m.created
                                ));
                            }
                            Err(e) => {
                                ui.label(RichText::new(e).color(Color32::RED));
                                // An unreadable checkpoint can be taken off too.
                                if source_cell(ui, d) {
                                    ask_remove = Some(d.spec.clone());
                                }
                                ui.label("");
                                ui.label("");
                                ui.label("");
                            }
                        }
                        ui.end_row();
                    }
                });
        });
        if let Some(spec) = ask_remove {
            // The question is drawn above the table: on the next frame.
            self.removing = Some(spec);
            self.library_note = None;
            ui.ctx().request_repaint();
        }
        ui.separator();
        if let Some(s) = self.calibrate_form(ui) {
            make_primary = Some(s);
        }
        if let Some(s) = make_primary {
            self.use_detector(&s);
        }
        if let Some((s, on)) = toggled {
            if on {
                self.settings.compare.push(s);
            } else {
                self.settings.compare.retain(|c| *c != s);
            }
            self.save_settings();
            self.configure();
        }
    }
}

/// The library's source cell: where the detector comes from and, for an installed one, the
/// button that asks to remove it (true when clicked).
fn source_cell(ui: &mut egui::Ui, d: &DetectorInfo) -> bool {
    ui.horizontal(|ui| {
        ui.label(&d.source);
        d.source == "installed"
            && ui
                .small_button("remove…")
                .on_hover_text("Take it off the library (its file is moved aside, not deleted)")
                .clicked()
    })
    .inner
}

/// A short line of held-out figures from a checkpoint's metrics.
pub fn metrics_line(m: &serde_json::Value) -> String {
    let mut parts = vec![];
    for (k, label) in [
        ("heldout_auc", "AUC"),
        ("auc", "AUC"),
        ("heldout_balanced_accuracy", "bal. acc"),
        ("balanced_accuracy", "bal. acc"),
    ] {
        if let Some(v) = m.get(k).and_then(|v| v.as_f64()) {
            if !parts.iter().any(|p: &String| p.starts_with(label)) {
                parts.push(format!("{label} {v:.3}"));
            }
        }
    }
    parts.join(", ")
}

/// A drop-down of `all` values named by `label`.
/// The examination log's line for a finished analysis.
fn analysed_line(path: &Path, a: &crate::workstation::analyze::Analysis) -> String {
    let mut line = format!(
        "{}: SHA-256 {}",
        crate::fsutil::absolute(path).display(),
        a.facts.sha256
    );
    for r in &a.results {
        line.push_str(&format!(
            "; {} {} (p {:.3})",
            r.detector,
            r.verdict.label(),
            r.probability
        ));
    }
    if a.unsure() == Some(true) {
        line.push_str("; UNSURE (a re-encoding flips the decision)");
    }
    if let Some(w) = a
        .warnings
        .iter()
        .find(|w| w.contains("CHANGED since the case"))
    {
        line.push_str(&format!("; {w}"));
    }
    line
}

fn choice<T: Copy + PartialEq>(
    ui: &mut egui::Ui,
    id: &str,
    value: &mut T,
    all: &[T],
    label: fn(T) -> &'static str,
    hover: &str,
) {
    egui::ComboBox::from_id_salt(id)
        .selected_text(label(*value))
        .show_ui(ui, |ui| {
            for &v in all {
                ui.selectable_value(value, v, label(v));
            }
        })
        .response
        .on_hover_text(hover);
}

fn badge(ui: &mut egui::Ui, e: &Evidence) {
    if e.error.is_some() {
        ui.label(RichText::new("error").small().color(Color32::RED));
        return;
    }
    match e
        .analysis
        .as_ref()
        .and_then(|a| a.primary().map(|r| (a, r)))
    {
        Some((a, r)) => {
            let mut text = format!("{} · p={:.2}", r.verdict.label(), r.probability);
            if a.unsure() == Some(true) {
                text.push_str(" · unsure");
            }
            if a.facts.damage.is_some() {
                text.push_str(" · damaged file");
            }
            ui.label(RichText::new(text).small().color(verdict_color(r.verdict)));
        }
        None => {
            ui.label(RichText::new("analysing…").small().weak());
        }
    }
}

pub fn verdict_color(v: crate::detect::Verdict) -> Color32 {
    use crate::detect::Verdict::*;
    match v {
        NoEvidence => Color32::from_rgb(110, 170, 230),
        Weak => Color32::from_rgb(230, 200, 90),
        Moderate => Color32::from_rgb(240, 140, 60),
        Strong => Color32::from_rgb(235, 70, 60),
    }
}

fn to_color_image(img: &image::RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

mod log {
    /// Timing lines on stderr (the benchmark reads them from a real window).
    pub fn info(s: &str) {
        if std::env::var_os("FAUXSCOPE_GUI_LOG").is_some() {
            eprintln!("{s}");
        }
    }
}

/// "frames during training: N frames, K over 16 ms, median, p99, max" for the frame log.
fn frame_summary(when: &str, mut f: Vec<f32>) -> String {
    if f.is_empty() {
        return format!("frames {when}: none");
    }
    f.sort_by(f32::total_cmp);
    format!(
        "frames {when}: {} frames, {} over 16 ms, median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.len(),
        f.iter().filter(|&&ms| ms > 16.0).count(),
        f[f.len() / 2],
        f[(f.len() * 99 / 100).min(f.len() - 1)],
        f[f.len() - 1]
    )
}
