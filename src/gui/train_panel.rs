//! The fine-tune panel: example folders, method and main settings, start / cancel, progress with
//! ETA, live loss and accuracy curves (plotters), validation figures, and "use this detector".

use super::app::{metrics_line, PickTarget};
use super::worker::{Cmd, TrainJob, TrainMethod};
use crate::charts::{line_chart, Series};
use crate::detect::tam::{MaskMode, TextureMeasure};
use crate::detect::DetectorMeta;
use crate::jobs::{CancelFlag, Progress};
use crate::model::preprocess::CropMode;
use crate::train::mpft::MpftSettings;
use egui::{Color32, RichText, TextureHandle, TextureOptions};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

pub struct TrainPanel {
    pub real: Vec<PathBuf>,
    pub fake: Vec<PathBuf>,
    pub method: TrainMethod,
    pub name: String,
    pub mpft: MpftSettings,
    pub cancel: Option<CancelFlag>,
    pub started: Option<Instant>,
    pub last: Option<Progress>,
    /// When the last progress event arrived (the frame log relates slow frames to it).
    pub last_at: Option<Instant>,
    /// (epoch position, loss) and (epoch position, running accuracy).
    pub loss: Vec<(f64, f64)>,
    pub acc: Vec<(f64, f64)>,
    /// (epoch, held-out AUC).
    pub heldout: Vec<(f64, f64)>,
    pub result: Option<Result<(PathBuf, Box<DetectorMeta>), String>>,
    /// The last run was cancelled by the user.
    pub cancelled: bool,
    /// The `fauxscope` binary runs train in (a child process, so the several gigabytes a run
    /// allocates and frees never touch the window's process); None trains on a thread here.
    pub executable: Option<PathBuf>,
    chart: Option<TextureHandle>,
    chart_dirty: bool,
    chart_drawn: Option<Instant>,
    /// A chart being drawn on a helper thread (plotters' first text rendering alone can take
    /// longer than a frame).
    chart_job: Option<std::sync::mpsc::Receiver<image::RgbImage>>,
}

impl Default for TrainPanel {
    fn default() -> Self {
        Self {
            real: vec![],
            fake: vec![],
            method: TrainMethod::Mpft,
            name: "my-detector".into(),
            mpft: MpftSettings::default(),
            cancel: None,
            started: None,
            last: None,
            last_at: None,
            loss: vec![],
            acc: vec![],
            heldout: vec![],
            result: None,
            cancelled: false,
            executable: None,
            chart: None,
            chart_dirty: false,
            chart_drawn: None,
            chart_job: None,
        }
    }
}

impl TrainPanel {
    pub fn running(&self) -> bool {
        self.cancel.is_some()
    }

    pub fn on_progress(&mut self, p: Progress) {
        if let (Some(x), Some(l)) = (p.value("epoch"), p.value("loss")) {
            self.loss.push((x, l));
            if let Some(a) = p.value("accuracy") {
                self.acc.push((x, a));
            }
            self.chart_dirty = true;
        }
        if let Some(auc) = p.value("heldout_auc") {
            self.heldout.push((p.done as f64, auc));
            self.chart_dirty = true;
        }
        self.last = Some(p);
        self.last_at = Some(Instant::now());
    }

    pub fn on_done(&mut self, r: Result<(PathBuf, Box<DetectorMeta>), String>, cancelled: bool) {
        self.cancel = None;
        self.cancelled = cancelled;
        self.result = Some(r);
        self.chart_dirty = true;
    }

    /// Starts a run; the caller checked that the engine is ready.
    pub fn start(&mut self, tx: &Sender<Cmd>) -> Result<(), String> {
        if self.real.is_empty() || self.fake.is_empty() {
            return Err(
                "choose at least one folder of real photos and one of generated images".into(),
            );
        }
        let name = self.name.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("the name may use letters, digits, '-' and '_'".into());
        }
        let cancel = CancelFlag::new();
        let job = TrainJob {
            method: self.method,
            real: self.real.clone(),
            fake: self.fake.clone(),
            name,
            mpft: self.mpft.clone(),
            probe_crop: CropMode::Clip,
            executable: self.executable.clone(),
        };
        tx.send(Cmd::Train(Box::new(job), cancel.clone()))
            .map_err(|_| "the service thread has stopped".to_string())?;
        self.cancel = Some(cancel);
        self.started = Some(Instant::now());
        self.last = None;
        self.loss.clear();
        self.acc.clear();
        self.heldout.clear();
        self.result = None;
        self.cancelled = false;
        self.chart_dirty = true;
        Ok(())
    }

    pub fn cancel(&mut self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }

    /// Overall fraction done and the time left, from the epoch position.
    pub fn eta(&self) -> Option<(f32, Duration)> {
        let started = self.started?;
        let total = self.mpft.epochs.max(1) as f64;
        let pos = match self.method {
            TrainMethod::Mpft | TrainMethod::Pin => self.loss.last().map(|l| l.0 / total)?,
            TrainMethod::Probe => {
                let p = self.last.as_ref()?;
                p.done as f64 / p.total.max(1) as f64
            }
        };
        if pos <= 0.0 {
            return None;
        }
        let el = started.elapsed().as_secs_f64();
        Some((pos as f32, Duration::from_secs_f64(el * (1.0 - pos) / pos)))
    }

    fn refresh_chart(&mut self, ctx: &egui::Context) {
        // A finished drawing: upload it.
        if let Some(rx) = &self.chart_job {
            match rx.try_recv() {
                Ok(img) => {
                    let ci = egui::ColorImage::from_rgb(
                        [img.width() as usize, img.height() as usize],
                        img.as_raw(),
                    );
                    match &mut self.chart {
                        Some(t) => t.set(ci, TextureOptions::LINEAR),
                        None => {
                            self.chart =
                                Some(ctx.load_texture("train-chart", ci, TextureOptions::LINEAR))
                        }
                    }
                    self.chart_job = None;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.chart_job = None,
            }
        }
        // Redraw at most once a second, on a helper thread: the frame stays cheap.
        if !self.chart_dirty
            || self
                .chart_drawn
                .is_some_and(|t| t.elapsed() < Duration::from_millis(1000))
        {
            return;
        }
        let (loss, acc, heldout) = (self.loss.clone(), self.acc.clone(), self.heldout.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx2 = ctx.clone();
        std::thread::spawn(move || {
            let series = [
                Series {
                    name: "train loss",
                    points: &loss,
                    color: (200, 60, 50),
                },
                Series {
                    name: "train accuracy",
                    points: &acc,
                    color: (60, 130, 190),
                },
                Series {
                    name: "held-out AUC",
                    points: &heldout,
                    color: (40, 160, 80),
                },
            ];
            if let Ok(img) = line_chart("Training", "epoch", &series, None, (560, 260)) {
                let _ = tx.send(img);
                ctx2.request_repaint();
            }
        });
        self.chart_job = Some(rx);
        self.chart_dirty = false;
        self.chart_drawn = Some(Instant::now());
    }

    /// Draws the panel; returns a detector to make primary when the user asks.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        tx: &Sender<Cmd>,
        picked: &Sender<(PickTarget, Vec<PathBuf>)>,
        engine_ready: bool,
    ) -> Option<String> {
        self.refresh_chart(ui.ctx());
        let mut use_it = None;
        ui.heading("Fine-tune a detector on your own examples");
        ui.label("Real photos and generated images from the sources you care about; a fifth of each class is held out for validation and calibration.");
        let running = self.running();
        ui.add_enabled_ui(!running, |ui| {
            folder_list(ui, "Real photos", &mut self.real, PickTarget::Real, picked);
            folder_list(
                ui,
                "Generated images",
                &mut self.fake,
                PickTarget::Fake,
                picked,
            );
            egui::Grid::new("train-settings")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("Method");
                    egui::ComboBox::from_id_salt("train-method")
                        .selected_text(self.method.label())
                        .show_ui(ui, |ui| {
                            for m in [TrainMethod::Probe, TrainMethod::Mpft, TrainMethod::Pin] {
                                if ui
                                    .selectable_value(&mut self.method, m, m.label())
                                    .changed()
                                {
                                    self.mpft.mask_mode = m.default_mask_mode();
                                }
                            }
                        })
                        .response
                        .labelled_by(label.id)
                        .on_hover_text("Masking, its ratio and its texture measure are set below; each method starts with the default its ablation chose (docs/EVALUATION.md)");
                    ui.end_row();
                    ui.label("Name");
                    ui.text_edit_singleline(&mut self.name);
                    ui.end_row();
                    if self.method != TrainMethod::Probe {
                        let s = &mut self.mpft;
                        ui.label("Epochs");
                        ui.add(egui::DragValue::new(&mut s.epochs).range(1..=1000));
                        ui.end_row();
                        ui.label("Learning rate");
                        ui.add(
                            egui::DragValue::new(&mut s.lr)
                                .range(1e-6..=1e-2)
                                .speed(1e-5),
                        );
                        ui.end_row();
                        radio_row(
                            ui,
                            "Masking",
                            &mut s.mask_mode,
                            &[
                                (MaskMode::Texture, "texture (TAM)"),
                                (MaskMode::Random, "random"),
                                (MaskMode::None, "none"),
                            ],
                        );
                        // The ratio matters to both masking modes, the measure to TAM only.
                        if s.mask_mode != MaskMode::None {
                            ui.label("Mask ratio");
                            ui.add(egui::Slider::new(&mut s.mask_ratio, 0.0..=0.9))
                                .on_hover_text("The fraction of patch tokens dropped from each training image");
                            ui.end_row();
                        }
                        if s.mask_mode == MaskMode::Texture {
                            radio_row(
                                ui,
                                "Texture measure",
                                &mut s.texture_measure,
                                &[
                                    (TextureMeasure::Sobel, "Sobel"),
                                    (TextureMeasure::Variance, "variance"),
                                    (TextureMeasure::Laplacian, "Laplacian"),
                                ],
                            );
                        }
                        ui.label("LoRA rank");
                        ui.add(egui::DragValue::new(&mut s.lora_rank).range(1..=64));
                        ui.end_row();
                        ui.label("Head reads block");
                        ui.horizontal(|ui| {
                            let mut last = s.head_layer.is_none();
                            if ui
                                .checkbox(&mut last, "last")
                                .on_hover_text(
                                    "The head reads the class token after this encoder block; \
                                     later blocks are not run. See docs/METHODS.md.",
                                )
                                .changed()
                            {
                                s.head_layer = (!last).then_some(9);
                            }
                            if let Some(k) = s.head_layer.as_mut() {
                                ui.add(egui::DragValue::new(k).range(1..=48));
                            }
                        });
                        ui.end_row();
                    }
                });
        });
        ui.horizontal(|ui| {
            if running {
                if ui.button("Cancel").clicked() {
                    self.cancel();
                }
            } else if ui
                .add_enabled(
                    engine_ready && !self.real.is_empty() && !self.fake.is_empty(),
                    egui::Button::new("Start training"),
                )
                .on_disabled_hover_text(if engine_ready {
                    "Add at least one folder of real photos and one of generated images"
                } else {
                    "Waiting for the base model"
                })
                .clicked()
            {
                if let Err(e) = self.start(tx) {
                    self.result = Some(Err(e));
                }
            }
            if !engine_ready {
                ui.label("(waiting for the base model)");
            }
        });
        if running {
            let (frac, eta) = self.eta().unwrap_or((0.0, Duration::ZERO));
            let text = match &self.last {
                Some(p) => format!(
                    "{}: {} — about {} left",
                    p.stage,
                    p.message,
                    fmt_duration(eta)
                ),
                None => "starting…".into(),
            };
            ui.add(egui::ProgressBar::new(frac).text(text));
            if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                ui.label("cancelling after the current step…");
            }
        }
        if let Some(t) = &self.chart {
            ui.add(egui::Image::new((t.id(), t.size_vec2())));
        }
        match &self.result {
            Some(Ok((path, meta))) => {
                if self.cancelled {
                    ui.label(
                        RichText::new("Cancelled: the best epoch so far was kept.")
                            .color(Color32::YELLOW),
                    );
                }
                ui.label(
                    RichText::new(format!("Saved and installed: {}", path.display())).strong(),
                );
                ui.label(format!(
                    "{} real + {} generated; held-out: {}; threshold {:+.3} at {:.1}% false positives on held-out reals",
                    meta.training.real_count,
                    meta.training.fake_count,
                    metrics_line(&meta.metrics),
                    meta.calibration.threshold,
                    meta.calibration.heldout_fpr * 100.0
                ));
                if ui.button("Use as the primary detector").clicked() {
                    use_it = Some(meta.name.clone());
                }
            }
            Some(Err(e)) => {
                let text = if self.cancelled {
                    format!("Cancelled: {e}")
                } else {
                    e.clone()
                };
                ui.label(RichText::new(text).color(Color32::from_rgb(255, 140, 100)));
            }
            None => {}
        }
        use_it
    }
}

pub(crate) fn folder_list(
    ui: &mut egui::Ui,
    label: &str,
    list: &mut Vec<PathBuf>,
    target: PickTarget,
    picked: &Sender<(PickTarget, Vec<PathBuf>)>,
) {
    ui.horizontal(|ui| {
        ui.strong(label);
        if ui.button("Add folder…").clicked() {
            let tx = picked.clone();
            std::thread::spawn(move || {
                if let Some(f) = rfd::FileDialog::new().pick_folders() {
                    let _ = tx.send((target, f));
                }
            });
        }
        if !list.is_empty() && ui.small_button("clear").clicked() {
            let counts = folder_counts(ui.ctx());
            let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
            for p in list.drain(..) {
                c.remove(&p);
            }
        }
    });
    for p in list.iter() {
        ui.horizontal(|ui| {
            ui.label(RichText::new(p.display().to_string()).monospace().small());
            match folder_count(ui.ctx(), p) {
                None => ui.label(RichText::new("counting…").small().weak()),
                Some(Ok(0)) => ui.label(
                    RichText::new("no pictures in it")
                        .small()
                        .color(Color32::from_rgb(255, 140, 100)),
                ),
                Some(Ok(n)) => ui.label(RichText::new(format!("{n} pictures")).small().weak()),
                Some(Err(e)) => ui.label(
                    RichText::new(e)
                        .small()
                        .color(Color32::from_rgb(255, 140, 100)),
                ),
            };
        });
    }
}

/// Pictures found in each chosen folder, counted once on a helper thread (a large folder takes
/// longer than a frame to walk); None while counting.
type FolderCounts = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<PathBuf, Option<Result<usize, String>>>>,
>;

fn folder_counts(ctx: &egui::Context) -> FolderCounts {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<FolderCounts>(egui::Id::unique("folder-counts"))
            .clone()
    })
}

fn folder_count(ctx: &egui::Context, dir: &std::path::Path) -> Option<Result<usize, String>> {
    let counts = folder_counts(ctx);
    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = c.get(dir) {
        return v.clone();
    }
    c.insert(dir.to_path_buf(), None);
    let (dir, counts, ctx) = (dir.to_path_buf(), counts.clone(), ctx.clone());
    std::thread::spawn(move || {
        let n = crate::train::data::list_folder(&dir)
            .map(|l| l.images.len())
            .map_err(|e| format!("{e:#}"));
        counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir, Some(n));
        ctx.request_repaint();
    });
    None
}

/// A settings-grid row: its label, then one radio button per choice.
fn radio_row<T: PartialEq + Copy>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    choices: &[(T, &str)],
) {
    ui.label(label);
    ui.horizontal(|ui| {
        for &(v, l) in choices {
            ui.radio_value(value, v, l);
        }
    });
    ui.end_row();
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
