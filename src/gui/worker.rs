//! The GUI's background side: one service thread owns the engine and the loaded detectors and
//! analyses evidence; training runs on its own thread. Both talk to the window only through
//! channels ([`Cmd`] in, [`Event`] out) and ask it to repaint when something arrives.

use crate::detect::tam::MaskMode;
use crate::detect::{self, Detector, DetectorMeta};
use crate::device::{DeviceChoice, Precision};
use crate::forensics::metadata::{read_metadata, Metadata};
use crate::jobs::{CancelFlag, Progress};
use crate::model::preprocess::CropMode;
use crate::train::mpft::MpftSettings;
use crate::workstation::analyze::{default_stability, Analysis};
use crate::workstation::regions::RegionMap;
use crate::workstation::train::MpftRequest;
use crate::workstation::train_process::{run_in_child, TrainRequest, TrainSpec};
use crate::workstation::{Engine, ProbeRequest};
use image::RgbImage;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Called by background threads after sending an event (the window repaints).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Largest side of the image kept for display (the analysis uses the full image).
pub const DISPLAY_MAX: u32 = 2048;
pub const THUMB: u32 = 64;

/// A detector the library can offer.
#[derive(Debug, Clone)]
pub struct DetectorInfo {
    /// The name `detect::resolve` takes.
    pub spec: String,
    /// `shipped`, `installed`, or the file path.
    pub source: String,
    pub meta: Result<DetectorMeta, String>,
    /// Its known error rates on sources outside its training data, where they were measured.
    pub validation: Option<detect::validation::Validation>,
}

/// Shipped and installed detectors.
pub fn library() -> Vec<DetectorInfo> {
    let mut v: Vec<DetectorInfo> = detect::shipped()
        .iter()
        .map(|(n, bytes)| {
            let meta = detect::Checkpoint::from_bytes(bytes, n)
                .map(|c| c.meta)
                .map_err(|e| format!("{e:#}"));
            DetectorInfo {
                spec: n.to_string(),
                source: "shipped".into(),
                validation: known_error_rates(&meta),
                meta,
            }
        })
        .collect();
    for (p, m) in detect::list_installed() {
        let spec = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let meta = m.map_err(|e| format!("{e:#}"));
        v.push(DetectorInfo {
            spec,
            source: "installed".into(),
            validation: known_error_rates(&meta),
            meta,
        });
    }
    v
}

/// The known error rates of the checkpoint `meta` was read from, where they were measured.
fn known_error_rates(
    meta: &Result<DetectorMeta, String>,
) -> Option<detect::validation::Validation> {
    let m = meta.as_ref().ok()?;
    detect::validation::for_checkpoint(&m.checkpoint_sha256).cloned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainMethod {
    Probe,
    Mpft,
    /// PiN-CLIP noise with texture-aware masking.
    Pin,
}

impl TrainMethod {
    /// The masking each method starts with in the panel: MPFT's recipe default (random, decided by
    /// experiment) and texture-aware masking for PiN-CLIP + TAM; the user can change it.
    pub fn default_mask_mode(self) -> MaskMode {
        match self {
            Self::Pin => MaskMode::Texture,
            Self::Probe | Self::Mpft => MpftSettings::default().mask_mode,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Probe => "Linear probe (frozen CLIP)",
            Self::Mpft => "MPFT (fine-tune the encoder with masked patches)",
            Self::Pin => "PiN-CLIP (fine-tune with learned noise)",
        }
    }
}

/// A fine-tuning request from the panel.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub method: TrainMethod,
    pub real: Vec<PathBuf>,
    pub fake: Vec<PathBuf>,
    pub name: String,
    pub mpft: MpftSettings,
    pub probe_crop: CropMode,
    /// The `fauxscope` binary to train in (a child process, `train-worker`); None trains on a
    /// thread of this process.
    pub executable: Option<PathBuf>,
}

pub enum Cmd {
    /// (Re)open the engine and load detectors (primary first).
    Configure {
        model: String,
        device: DeviceChoice,
        detectors: Vec<String>,
    },
    /// Analyse one evidence file.
    Analyze(PathBuf),
    /// Read every tile of one evidence file with the primary detector (answered by
    /// [`Event::Regions`]).
    Regions(PathBuf, CancelFlag),
    Train(Box<TrainJob>, CancelFlag),
    /// Write a forensic report with the loaded engine.
    Report(Box<crate::report::ReportRequest>),
    /// Re-read the detector library (answered by [`Event::Library`]).
    Library,
    /// Set a detector's threshold again on known-real photos and install the result
    /// (answered by [`Event::CalibrateDone`]).
    Calibrate(Box<CalibrateJob>),
}

/// A local-threshold request from the detector library.
#[derive(Debug, Clone)]
pub struct CalibrateJob {
    /// The detector to recalibrate (a shipped or installed name, or a path).
    pub detector: String,
    /// Folders of photos known to be real.
    pub real: Vec<PathBuf>,
    pub target_fpr: f32,
    /// The name the new detector is installed under.
    pub name: String,
}

/// One image's display copies and file-level facts.
pub struct Loaded {
    pub display: RgbImage,
    pub thumb: RgbImage,
    /// Full (upright) size.
    pub size: [u32; 2],
    /// Sent separately ([`Event::Metadata`]) after the first verdict.
    pub metadata: Option<Metadata>,
}

pub enum Event {
    Status(String),
    EngineReady {
        device: String,
        note: Option<String>,
        /// Detectors that loaded (primary first) and those that failed.
        loaded: Vec<String>,
        failed: Vec<(String, String)>,
    },
    EngineFailed(String),
    Loaded(PathBuf, Box<Loaded>),
    Metadata(PathBuf, Box<Metadata>),
    /// An analysis stage finished (`complete` after the last one).
    Stage {
        path: PathBuf,
        analysis: Box<Analysis>,
        complete: bool,
        /// Seconds from the request to this stage.
        seconds: f64,
    },
    Failed(PathBuf, String),
    /// A region map was made, or could not be.
    Regions(PathBuf, Result<Box<RegionMap>, String>, CancelFlag),
    TrainProgress(Progress),
    /// The run ended: its saved detector or the error, and whether the user cancelled it (a
    /// cancelled MPFT run keeps its best epoch so far).
    TrainDone {
        result: Result<(PathBuf, Box<DetectorMeta>), String>,
        cancelled: bool,
    },
    /// The detector library, re-read.
    Library(Vec<DetectorInfo>),
    /// A report was written (folder, file hashes) or failed.
    ReportDone(Result<(PathBuf, Vec<crate::report::OutputFile>), String>),
    /// A local threshold was set: the installed detector's name and what to tell the examiner
    /// (the summary, then warnings and skipped files), or the error.
    CalibrateDone(Result<(String, Vec<String>), String>),
}

struct Service {
    engine: Option<Arc<Engine>>,
    opened: Option<(String, DeviceChoice)>,
    detectors: Vec<Arc<dyn Detector>>,
    tx: Sender<Event>,
    wake: Waker,
}

/// Lowers the calling thread's scheduling priority (Linux nice 10), so compute threads yield to
/// the window's thread and frames stay smooth while a model trains on every core.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's own id; no memory is touched.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Puts every compute thread (rayon's pool, which candle's matrix products use) at background
/// priority. The window itself never animates while waiting, so this costs the analysis nothing.
pub fn lower_compute_priority() {
    rayon::broadcast(|_| background_priority());
}

/// Starts the service thread.
pub fn spawn(wake: Waker) -> (Sender<Cmd>, Receiver<Event>) {
    let (ctx, crx) = channel::<Cmd>();
    let (etx, erx) = channel::<Event>();
    std::thread::Builder::new()
        .name("fauxscope-service".into())
        .spawn(move || {
            background_priority();
            let mut s = Service {
                engine: None,
                opened: None,
                detectors: vec![],
                tx: etx,
                wake,
            };
            while let Ok(cmd) = crx.recv() {
                s.handle(cmd);
            }
        })
        .expect("spawn service thread");
    (ctx, erx)
}

impl Service {
    fn send(&self, e: Event) {
        let _ = self.tx.send(e);
        (self.wake)();
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Configure {
                model,
                device,
                detectors,
            } => self.configure(model, device, detectors),
            Cmd::Analyze(p) => self.analyze(p),
            Cmd::Regions(p, cancel) => self.regions(p, cancel),
            Cmd::Train(job, cancel) => self.train(*job, cancel),
            Cmd::Report(req) => self.report(*req),
            Cmd::Calibrate(job) => {
                let r = self.calibrate(&job).map_err(|e| format!("{e:#}"));
                self.send(Event::CalibrateDone(r));
            }
            Cmd::Library => {
                // On its own thread: an analysis in progress does not delay it.
                let (tx, wake) = (self.tx.clone(), self.wake.clone());
                std::thread::spawn(move || {
                    let _ = tx.send(Event::Library(library()));
                    wake();
                });
            }
        }
    }

    fn configure(&mut self, model: String, device: DeviceChoice, specs: Vec<String>) {
        if self.opened.as_ref() != Some(&(model.clone(), device)) {
            self.send(Event::Status(format!("loading base model {model}…")));
            self.engine = None;
            self.detectors.clear();
            let tx = self.tx.clone();
            let wake = self.wake.clone();
            let mut log = |s: &str| {
                let _ = tx.send(Event::Status(s.to_string()));
                wake();
            };
            match Engine::open(&model, device, Precision::Auto, &mut log) {
                Ok(e) => {
                    self.engine = Some(Arc::new(e));
                    self.opened = Some((model, device));
                }
                Err(e) => {
                    self.opened = None;
                    self.send(Event::EngineFailed(format!("{e:#}")));
                    return;
                }
            }
        }
        let engine = self.engine.clone().expect("engine opened above");
        self.detectors.clear();
        let mut loaded = vec![];
        let mut failed = vec![];
        for s in specs {
            match engine.detector(&s) {
                Ok(d) => {
                    loaded.push(d.meta().name.clone());
                    self.detectors.push(Arc::from(d));
                }
                Err(e) => failed.push((s, format!("{e:#}"))),
            }
        }
        self.send(Event::EngineReady {
            device: engine.device_label(),
            note: engine.device_note.clone(),
            loaded,
            failed,
        });
    }

    fn analyze(&mut self, path: PathBuf) {
        let t = Instant::now();
        let Some(engine) = self.engine.clone() else {
            self.send(Event::Failed(path, "the base model is not loaded".into()));
            return;
        };
        // One read: decoded for the analysis, searched for metadata after the first verdict.
        let loaded = crate::imageio::read_evidence(&path, &engine.limits).and_then(|b| {
            crate::imageio::decode_bytes(&b, &path, &engine.limits).map(|img| (b, img))
        });
        let (bytes, img) = match loaded {
            Ok(x) => x,
            Err(e) => {
                self.send(Event::Failed(path, e.to_string()));
                return;
            }
        };
        let fit = |m: u32| {
            let (w, h) = img.rgb.dimensions();
            if w.max(h) <= m {
                img.rgb.clone()
            } else {
                image::imageops::thumbnail(
                    &img.rgb,
                    (w as u64 * m as u64 / w.max(h) as u64).max(1) as u32,
                    (h as u64 * m as u64 / w.max(h) as u64).max(1) as u32,
                )
            }
        };
        self.send(Event::Loaded(
            path.clone(),
            Box::new(Loaded {
                display: fit(DISPLAY_MAX),
                thumb: fit(THUMB),
                size: [img.rgb.width(), img.rgb.height()],
                metadata: None,
            }),
        ));
        let Some((primary, rest)) = self.detectors.split_first() else {
            self.send(Event::Failed(path, "no detector is loaded".into()));
            return;
        };
        let stage = |a: &Analysis, complete: bool| Event::Stage {
            path: path.clone(),
            analysis: Box::new(a.clone()),
            complete,
            seconds: t.elapsed().as_secs_f64(),
        };
        let mut a = match engine.analyze_primary(&img, primary.as_ref()) {
            Ok(a) => a,
            Err(e) => {
                self.send(Event::Failed(path, format!("{e:#}")));
                return;
            }
        };
        self.send(stage(&a, false));
        // Metadata after the first verdict.
        self.send(Event::Metadata(
            path.clone(),
            Box::new(read_metadata(&bytes)),
        ));
        for d in rest {
            if let Err(e) = engine.add_detector(&mut a, &img, d.as_ref()) {
                a.warnings
                    .push(format!("detector {} failed: {e:#}", d.meta().name));
            }
        }
        if !rest.is_empty() {
            self.send(stage(&a, false));
        }
        if let Err(e) = engine.add_stability(&mut a, &img, primary.as_ref(), &default_stability()) {
            a.warnings.push(format!("stability check failed: {e:#}"));
        }
        self.send(stage(&a, true));
    }

    /// Makes a region map on a thread of its own (a large image takes minutes), so that images
    /// added meanwhile are analysed without waiting for it.
    fn regions(&mut self, path: PathBuf, cancel: CancelFlag) {
        let (Some(engine), Some(det)) = (self.engine.clone(), self.detectors.first().cloned())
        else {
            self.send(Event::Regions(
                path,
                Err("the base model or the primary detector is not loaded".into()),
                cancel,
            ));
            return;
        };
        let flag = cancel.clone();
        let (tx, wake) = (self.tx.clone(), self.wake.clone());
        let asked = path.clone();
        let spawned = std::thread::Builder::new()
            .name("fauxscope-regions".into())
            .spawn(move || {
                background_priority();
                let progress = {
                    let (tx, wake) = (tx.clone(), wake.clone());
                    move |p: Progress| {
                        let _ = tx.send(Event::Status(format!(
                            "region map: {} of {} tiles",
                            p.done, p.total
                        )));
                        wake();
                    }
                };
                let r = engine
                    .load_evidence(&path)
                    .and_then(|img| {
                        engine.region_map(
                            &img,
                            det.as_ref(),
                            crate::workstation::regions::DEFAULT_MAX_TILES,
                            &progress,
                            &cancel,
                        )
                    })
                    .map(Box::new)
                    .map_err(|e| format!("{e:#}"));
                let _ = tx.send(Event::Regions(path, r, cancel));
                wake();
            });
        if let Err(e) = spawned {
            self.send(Event::Regions(
                asked,
                Err(format!("cannot start the region map: {e}")),
                flag,
            ));
        }
    }

    fn calibrate(&mut self, job: &CalibrateJob) -> anyhow::Result<(String, Vec<String>)> {
        let Some(engine) = self.engine.clone() else {
            anyhow::bail!("the base model is not loaded");
        };
        if job.name.trim().is_empty() || job.name.contains(['/', '\\']) {
            anyhow::bail!("'{}' cannot name a detector: give a plain name", job.name);
        }
        let (_, ckpt) = crate::detect::resolve(&job.detector)?;
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let sink = |p: Progress| {
            let _ = tx.send(Event::Status(format!(
                "local threshold: {} {}/{}",
                p.stage, p.done, p.total
            )));
            wake();
        };
        let outcome = engine.recalibrate(
            &ckpt,
            &job.real,
            &[],
            job.target_fpr,
            &job.name,
            &sink,
            &CancelFlag::new(),
        )?;
        let dest = crate::paths::installed_detector(&job.name);
        outcome.checkpoint.save(&dest)?;
        let mut lines = outcome.summary();
        lines.extend(outcome.warnings.iter().map(|w| format!("warning: {w}")));
        lines.extend(outcome.skipped.iter().map(|e| format!("skipped: {e}")));
        lines.push(format!("installed as '{}' ({})", job.name, dest.display()));
        Ok((job.name.clone(), lines))
    }

    fn report(&mut self, req: crate::report::ReportRequest) {
        let Some(engine) = self.engine.clone() else {
            self.send(Event::ReportDone(
                Err("the base model is not loaded".into()),
            ));
            return;
        };
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let sink = |p: Progress| {
            let _ = tx.send(Event::Status(format!(
                "report: {} {}/{} {}",
                p.stage, p.done, p.total, p.message
            )));
            wake();
        };
        let r = crate::report::write_report(&engine, &req, &sink, &CancelFlag::new())
            .map(|r| (req.out.clone(), r.outputs))
            .map_err(|e| format!("{e:#}"));
        self.send(Event::ReportDone(r));
    }

    fn train(&mut self, job: TrainJob, cancel: CancelFlag) {
        let Some(engine) = self.engine.clone() else {
            self.send(Event::TrainDone {
                result: Err("the base model is not loaded".into()),
                cancelled: false,
            });
            return;
        };
        let out = crate::paths::installed_detector(&job.name);
        let request = match job.method {
            TrainMethod::Probe => TrainRequest::Probe(Box::new(ProbeRequest {
                real: job.real.clone(),
                fake: job.fake.clone(),
                out: out.clone(),
                name: job.name.clone(),
                crop: job.probe_crop,
                settings: Default::default(),
            })),
            TrainMethod::Mpft | TrainMethod::Pin => TrainRequest::Mpft(Box::new(MpftRequest {
                real: job.real.clone(),
                fake: job.fake.clone(),
                out: out.clone(),
                name: job.name.clone(),
                settings: job.mpft.clone(),
                resume: None,
                head_from: None,
                pin: (job.method == TrainMethod::Pin).then(crate::train::pin::PinSettings::default),
            })),
        };
        // The child opens the same base model on the same device as the window.
        let child = match (&job.executable, &self.opened) {
            (Some(exe), Some((model, device))) => Some((
                exe.clone(),
                TrainSpec {
                    model: model.clone(),
                    device: *device,
                    request: request.clone(),
                },
            )),
            _ => None,
        };
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        std::thread::Builder::new()
            .name("fauxscope-train".into())
            .spawn(move || {
                background_priority();
                let sink = |p: Progress| {
                    let _ = tx.send(Event::TrainProgress(p));
                    wake();
                };
                let r = match &child {
                    Some((exe, spec)) => run_in_child(exe, spec, &sink, &cancel),
                    None => request.run(&engine, &sink, &cancel),
                };
                let result = match r {
                    Ok(c) => Ok((out, Box::new(c.meta))),
                    Err(e) => Err(format!("{e:#}")),
                };
                let _ = tx.send(Event::TrainDone {
                    result,
                    cancelled: cancel.is_cancelled(),
                });
                wake();
            })
            .expect("spawn training thread");
    }
}
