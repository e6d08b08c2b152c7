//! Analysing one piece of evidence: every detector's calibrated verdict and whether they agree,
//! the TAM texture map, attention rollout maps, and the stability of the verdict under
//! re-encodings. Stages can run one at a time (the GUI shows the first verdict before the rest).

use super::{coverage_warning, input_warnings, merge_warning, Engine};
use crate::detect::tam::{texture_keep_mask, texture_scores, TextureMeasure};
use crate::detect::{Detector, Verdict};
use crate::eval::perturb::Perturbation;
use crate::imageio::{load_image, ImageFacts, LoadedImage};
use crate::model::preprocess::{crop_rects, preprocess, CropMode, CropRect};
use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The re-encodings the verdict's stability is checked under.
pub fn default_stability() -> Vec<Perturbation> {
    vec![
        Perturbation::Jpeg(90),
        Perturbation::Jpeg(75),
        Perturbation::Resize(0.5),
    ]
}

/// One detector's result on one image.
#[derive(Debug, Clone, Serialize)]
pub struct DetectorResult {
    pub detector: String,
    pub method: String,
    /// Raw logit (mean over crops).
    pub score: f32,
    /// Calibrated probability that the image is generated.
    pub probability: f32,
    pub verdict: Verdict,
    /// The decision threshold on the raw score.
    pub threshold: f32,
    pub warnings: Vec<String>,
    /// The detector's known error rates on sources outside its training data, in a line
    /// ("aigi-dev/val: 0.5% false pos., ..."), where they were measured (the shipped detectors).
    /// Reports carry them in full in their detector table.
    #[serde(skip)]
    pub error_rates: Option<String>,
}

impl DetectorResult {
    /// Whether this result calls the image generated.
    pub fn generated(&self) -> bool {
        self.verdict != Verdict::NoEvidence
    }
}

/// Whether the detectors that ran agree on generated vs not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Only one detector ran.
    Single,
    AllGenerated,
    AllNotGenerated,
    Disagree,
}

impl Agreement {
    pub fn of(results: &[DetectorResult]) -> Self {
        if results.len() < 2 {
            return Self::Single;
        }
        let n = results.iter().filter(|r| r.generated()).count();
        if n == results.len() {
            Self::AllGenerated
        } else if n == 0 {
            Self::AllNotGenerated
        } else {
            Self::Disagree
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Single => "one detector",
            Self::AllGenerated => "detectors agree: generated",
            Self::AllNotGenerated => "detectors agree: no evidence",
            Self::Disagree => "detectors disagree",
        }
    }
}

/// Values on a crop's patch grid (row-major, `grid` x `grid`), placed at `rect` in the image.
#[derive(Debug, Clone, Serialize)]
pub struct PatchMap {
    pub rect: CropRect,
    pub grid: usize,
    pub values: Vec<f32>,
}

/// The TAM view of a crop: texture score per patch and which patches the ratio would mask.
#[derive(Debug, Clone, Serialize)]
pub struct TamMap {
    pub scores: PatchMap,
    pub masked: Vec<bool>,
}

/// The verdict recomputed after a re-encoding.
#[derive(Debug, Clone, Serialize)]
pub struct StabilityCheck {
    pub perturbation: String,
    pub score: f32,
    pub probability: f32,
    pub verdict: Verdict,
    /// The generated / not-generated decision differs from the original one.
    pub flips: bool,
}

/// Everything the analysis found for one image (the image itself is kept separately).
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub path: std::path::PathBuf,
    pub facts: ImageFacts,
    pub crop_mode: CropMode,
    /// The model's input size in pixels (the side of a native crop).
    pub model_size: u32,
    /// First = the primary detector (whose maps and stability are shown).
    pub results: Vec<DetectorResult>,
    pub agreement: Agreement,
    pub tam_measure: TextureMeasure,
    pub tam_ratio: f32,
    pub tam: Vec<TamMap>,
    /// `rollout[l][c]`: attention rollout from the class token through layer `l`, crop `c`.
    pub rollout: Vec<Vec<PatchMap>>,
    pub stability: Vec<StabilityCheck>,
    /// Input and pairing warnings.
    pub warnings: Vec<String>,
    /// Seconds per stage.
    pub timings: Vec<(String, f64)>,
}

impl Analysis {
    pub fn primary(&self) -> Option<&DetectorResult> {
        self.results.first()
    }
    /// Said beside the verdict of a file whose compressed data is damaged.
    pub const DAMAGED_NOTE: &'static str = "The file's compressed data is damaged, so the picture analysed includes decoding errors (grey or garbled blocks after the damage): the result does not speak for the picture as it was made and should not be relied on.";

    /// "Unsure" when a re-encoding flips the primary decision; None before stability was checked.
    pub fn unsure(&self) -> Option<bool> {
        (!self.stability.is_empty()).then(|| self.stability.iter().any(|s| s.flips))
    }

    /// A plain-text account of the verdict to paste into notes, a message or an article's
    /// working file: the file and its SHA-256, the tool, every detector, the stability checks and
    /// the warnings, and what a verdict is not. `extra_warnings` are the caller's own (a copy of
    /// another listed file).
    pub fn plain_summary(&self, extra_warnings: &[String]) -> String {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut s = format!("{name}\nSHA-256 {}\n", self.facts.sha256);
        let Some(p) = self.primary() else {
            return s;
        };
        let unsure = self.unsure() == Some(true);
        s.push_str(&format!(
            "Fauxscope {} (commit {}), detector {} ({}): {} of generation{}, calibrated probability that the image was generated {:.1}%.\n{}\n",
            crate::VERSION,
            crate::COMMIT,
            p.detector,
            p.method,
            p.verdict.label().to_uppercase(),
            if unsure { " (UNSURE)" } else { "" },
            p.probability * 100.0,
            p.verdict.sentence()
        ));
        match &p.error_rates {
            Some(e) => s.push_str(&format!(
                "Known error rates of {} on sources outside its training data, {e}.\n",
                p.detector
            )),
            None => s.push_str(&format!(
                "No error rates of {} were measured on sources outside its training data.\n",
                p.detector
            )),
        }
        if self.facts.damage.is_some() {
            s.push_str(Self::DAMAGED_NOTE);
            s.push('\n');
        }
        let others: Vec<String> = self.results[1..]
            .iter()
            .map(|r| {
                format!(
                    "{} ({}) {}, {:.1}%",
                    r.detector,
                    r.method,
                    r.verdict.label(),
                    r.probability * 100.0
                )
            })
            .collect();
        if !others.is_empty() {
            s.push_str(&format!(
                "Other detectors: {}; {}.\n",
                others.join("; "),
                self.agreement.label()
            ));
        }
        if !self.stability.is_empty() {
            let checks: Vec<String> = self
                .stability
                .iter()
                .map(|c| {
                    format!(
                        "{} {:.1}%{}",
                        c.perturbation,
                        c.probability * 100.0,
                        if c.flips { " (decision flips)" } else { "" }
                    )
                })
                .collect();
            s.push_str(&format!(
                "After re-encoding: {}.{}\n",
                checks.join(", "),
                if unsure {
                    " The decision changes under a re-encoding: do not rely on it."
                } else {
                    " The decision holds under each."
                }
            ));
        }
        let warnings: Vec<&String> = self.warnings.iter().chain(extra_warnings).collect();
        if !warnings.is_empty() {
            s.push_str("Warnings:\n");
            for w in warnings {
                s.push_str(&format!("- {w}\n"));
            }
        }
        s.push_str(
            "A detector's verdict is statistical evidence, not proof. A forensic report (PDF, HTML, JSON) gives the method, the detectors' calibration and their limitations.\n",
        );
        s
    }
}

/// TAM settings of a detector (its training settings), or the defaults.
pub fn tam_settings(det: &dyn Detector) -> (TextureMeasure, f32) {
    let s = &det.meta().settings;
    let measure = s
        .get("texture_measure")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let ratio = s
        .get("mask_ratio")
        .and_then(|v| v.as_f64())
        .map(|r| r as f32)
        .filter(|r| *r > 0.0)
        .unwrap_or(0.5);
    (measure, ratio)
}

/// Attention rollout (Abnar & Zuidema 2020) for each sample: per layer, the head-averaged attention
/// with the residual added (Â = 0.5 A + 0.5 I, rows renormalised); the rollout through layer l is
/// Â_l ··· Â_1, and its class-token row over the patches, scaled to [0, 1], is that layer's map.
/// Only the class row is needed, so it is computed as e₀ᵀ Â_l ··· Â_1 by vector-matrix products
/// (L² of them instead of L full matrix products). `attentions[l]` is [B, H, N, N]. Returns
/// `[l][b]` maps of N-1 values.
pub fn attention_rollout(attentions: &[Tensor]) -> Result<Vec<Vec<Vec<f32>>>> {
    // Â per sample and layer.
    let mut by_sample: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut n = 0;
    for a in attentions {
        let (b, _h, nn, _) = a.dims4()?;
        n = nn;
        let data: Vec<f32> = a.to_dtype(DType::F32)?.mean(1)?.flatten_all()?.to_vec1()?;
        by_sample.resize(b, Vec::new());
        for (s, layers) in by_sample.iter_mut().enumerate() {
            let mut m = data[s * n * n..(s + 1) * n * n].to_vec();
            for i in 0..n {
                let row = &mut m[i * n..(i + 1) * n];
                row.iter_mut().for_each(|v| *v *= 0.5);
                row[i] += 0.5;
                let sum: f32 = row.iter().sum();
                if sum > 0.0 {
                    row.iter_mut().for_each(|v| *v /= sum);
                }
            }
            layers.push(m);
        }
    }
    let mut out: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(by_sample.len()); attentions.len()];
    for layers in &by_sample {
        for (l, maps) in out.iter_mut().enumerate() {
            let mut v = vec![0f32; n];
            v[0] = 1.0;
            for hat in layers[..=l].iter().rev() {
                v = vec_mat(&v, hat, n);
            }
            maps.push(unit(&v[1..]));
        }
    }
    Ok(out)
}

/// Row vector times row-major n x n matrix.
fn vec_mat(v: &[f32], m: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    for (i, &vi) in v.iter().enumerate() {
        if vi == 0.0 {
            continue;
        }
        for (o, x) in out.iter_mut().zip(&m[i * n..(i + 1) * n]) {
            *o += vi * x;
        }
    }
    out
}

/// Scale a map to [0, 1] (constant maps, up to rounding, become zero).
fn unit(v: &[f32]) -> Vec<f32> {
    let max = v.iter().cloned().fold(f32::MIN, f32::max);
    let min = v.iter().cloned().fold(f32::MAX, f32::min);
    let span = max - min;
    // Constant up to rounding: no structure to show.
    if span <= 1e-5 * max.abs().max(min.abs()).max(f32::MIN_POSITIVE) {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| (x - min) / span).collect()
}

impl Engine {
    /// Loads the evidence (read-only) for analysis.
    pub fn load_evidence(&self, path: &Path) -> Result<LoadedImage> {
        Ok(load_image(path, &self.limits)?)
    }

    fn score(&self, det: &dyn Detector, crops: &[Vec<f32>]) -> Result<f32> {
        let refs: Vec<&Vec<f32>> = crops.iter().collect();
        let logits = det.logits(&self.pixels(&refs)?)?;
        Ok(logits.iter().sum::<f32>() / logits.len().max(1) as f32)
    }

    fn result(&self, det: &dyn Detector, score: f32) -> DetectorResult {
        let m = det.meta();
        DetectorResult {
            detector: m.name.clone(),
            method: m.method.clone(),
            score,
            probability: m.calibration.probability(score),
            verdict: m.calibration.verdict(score),
            threshold: m.calibration.threshold,
            warnings: det.warnings().to_vec(),
            error_rates: crate::detect::validation::for_checkpoint(&m.checkpoint_sha256)
                .map(|v| format!("{}: {}", v.dataset, v.short())),
        }
    }

    /// Stage 1: the primary detector's verdict, the TAM map and attention rollout, from one
    /// forward pass over the crops the detector analyses.
    pub fn analyze_primary(&self, img: &LoadedImage, det: &dyn Detector) -> Result<Analysis> {
        let t = Instant::now();
        let size = self.image_size();
        let mode = det.meta().crop;
        let crops = preprocess(&img.rgb, size, mode);
        let rects = crop_rects(img.rgb.width(), img.rgb.height(), size, mode);
        let refs: Vec<&Vec<f32>> = crops.iter().collect();
        let (logits, attn) = det.logits_with_attentions(&self.pixels(&refs)?)?;
        let score = logits.iter().sum::<f32>() / logits.len().max(1) as f32;
        let t_forward = t.elapsed().as_secs_f64();

        let patch = self.base.info.config.patch_size;
        let grid = size as usize / patch;
        let (measure, ratio) = tam_settings(det);
        let tam = crops
            .iter()
            .zip(&rects)
            .map(|(c, r)| {
                let s = texture_scores(c, size as usize, patch, measure);
                let keep = texture_keep_mask(&s, ratio);
                TamMap {
                    scores: PatchMap {
                        rect: *r,
                        grid,
                        values: unit(&s),
                    },
                    masked: keep.iter().map(|k| !k).collect(),
                }
            })
            .collect();
        let rollout = attention_rollout(&attn)?
            .into_iter()
            .map(|per_crop| {
                per_crop
                    .into_iter()
                    .zip(&rects)
                    .map(|(values, r)| PatchMap {
                        rect: *r,
                        grid,
                        values,
                    })
                    .collect()
            })
            .collect();
        let result = self.result(det, score);
        let mut warnings = result.warnings.clone();
        warnings.extend(coverage_warning(
            &result.detector,
            img.rgb.width(),
            img.rgb.height(),
            size,
            mode,
        ));
        warnings.extend(input_warnings(&img.facts, size));
        warnings.extend(super::paste::pasted_warning(&img.path));
        let results = vec![result];
        Ok(Analysis {
            path: img.path.clone(),
            facts: img.facts.clone(),
            crop_mode: mode,
            model_size: size,
            agreement: Agreement::of(&results),
            results,
            tam_measure: measure,
            tam_ratio: ratio,
            tam,
            rollout,
            stability: vec![],
            warnings,
            timings: vec![
                ("primary forward".into(), t_forward),
                ("primary total".into(), t.elapsed().as_secs_f64()),
            ],
        })
    }

    /// Stage 2: another detector's verdict, and the agreement.
    pub fn add_detector(
        &self,
        a: &mut Analysis,
        img: &LoadedImage,
        det: &dyn Detector,
    ) -> Result<()> {
        let t = Instant::now();
        let (size, mode) = (self.image_size(), det.meta().crop);
        let crops = preprocess(&img.rgb, size, mode);
        let r = self.result(det, self.score(det, &crops)?);
        let (w, h) = img.rgb.dimensions();
        let coverage = coverage_warning(&r.detector, w, h, size, mode);
        for w in r.warnings.iter().chain(&coverage) {
            merge_warning(&mut a.warnings, w);
        }
        a.results.push(r);
        a.agreement = Agreement::of(&a.results);
        a.timings.push((
            format!("detector {}", det.meta().name),
            t.elapsed().as_secs_f64(),
        ));
        Ok(())
    }

    /// Stage 3: the primary detector's verdict after each re-encoding, in one batch.
    pub fn add_stability(
        &self,
        a: &mut Analysis,
        img: &LoadedImage,
        det: &dyn Detector,
        perturbations: &[Perturbation],
    ) -> Result<()> {
        let t = Instant::now();
        let size = self.image_size();
        let mode = det.meta().crop;
        let per: Vec<Vec<Vec<f32>>> = {
            use rayon::prelude::*;
            perturbations
                .par_iter()
                .map(|p| preprocess(&p.apply(&img.rgb), size, mode))
                .collect()
        };
        let all: Vec<&Vec<f32>> = per.iter().flatten().collect();
        if all.is_empty() {
            return Ok(());
        }
        let logits = det.logits(&self.pixels(&all)?)?;
        let original = a
            .results
            .iter()
            .find(|r| r.detector == det.meta().name)
            .map(|r| r.generated())
            .context("stability needs the detector's own result first")?;
        let mut k = 0;
        a.stability.clear();
        for (p, crops) in perturbations.iter().zip(&per) {
            let n = crops.len();
            let score = logits[k..k + n].iter().sum::<f32>() / n as f32;
            k += n;
            let r = self.result(det, score);
            a.stability.push(StabilityCheck {
                perturbation: p.to_string(),
                score,
                probability: r.probability,
                flips: r.generated() != original,
                verdict: r.verdict,
            });
        }
        a.timings
            .push(("stability".into(), t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// All stages on a loaded image: `detectors[0]` is primary (maps and stability), the others
    /// add verdicts.
    pub fn analyze(
        &self,
        img: &LoadedImage,
        detectors: &[&dyn Detector],
        stability: &[Perturbation],
    ) -> Result<Analysis> {
        let (first, rest) = detectors
            .split_first()
            .context("analysis needs at least one detector")?;
        let mut a = self.analyze_primary(img, *first)?;
        for d in rest {
            self.add_detector(&mut a, img, *d)?;
        }
        if !stability.is_empty() {
            self.add_stability(&mut a, img, *first, stability)?;
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_of_identity_attention_is_flat_and_uniform_attention_spreads() {
        let dev = candle_core::Device::Cpu;
        let n = 5;
        // Uniform attention: every patch gets the same share, so the map is constant (all zero after scaling).
        let uni = Tensor::full(1f32 / n as f32, (1, 2, n, n), &dev).unwrap();
        let r = attention_rollout(&[uni.clone(), uni]).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[1][0].iter().all(|v| v.abs() < 1e-6));
        // Class token attending to patch 3 only: patch 3 (index 2 of the map) is the peak.
        let mut m = vec![0f32; n * n];
        for i in 0..n {
            m[i * n + i] = 1.0;
        }
        m[0] = 0.0;
        m[3] = 1.0;
        let t = Tensor::from_vec(m, (1, 1, n, n), &dev).unwrap();
        let r = attention_rollout(&[t]).unwrap();
        let map = &r[0][0];
        assert_eq!(map.len(), n - 1);
        assert!((map[2] - 1.0).abs() < 1e-6, "{map:?}");
        assert!(map.iter().enumerate().all(|(i, v)| i == 2 || *v < 1e-6));
    }

    #[test]
    fn rollout_equals_the_full_matrix_product() {
        let dev = candle_core::Device::Cpu;
        let n = 4;
        let mut rng = crate::rng::Rng::new(3);
        let layers: Vec<Vec<f32>> = (0..3)
            .map(|_| {
                let mut m: Vec<f32> = (0..n * n).map(|_| rng.uniform() as f32 + 0.01).collect();
                for i in 0..n {
                    let s: f32 = m[i * n..(i + 1) * n].iter().sum();
                    m[i * n..(i + 1) * n].iter_mut().for_each(|v| *v /= s);
                }
                m
            })
            .collect();
        let tensors: Vec<Tensor> = layers
            .iter()
            .map(|m| Tensor::from_vec(m.clone(), (1, 1, n, n), &dev).unwrap())
            .collect();
        let r = attention_rollout(&tensors).unwrap();
        // Reference: R = Â_3 Â_2 Â_1 by explicit matrix products.
        let hat = |m: &Vec<f32>| {
            let mut h: Vec<f32> = m.iter().map(|v| v * 0.5).collect();
            for i in 0..n {
                h[i * n + i] += 0.5;
            }
            h
        };
        let mul = |a: &[f32], b: &[f32]| {
            let mut c = vec![0f32; n * n];
            for i in 0..n {
                for k in 0..n {
                    for j in 0..n {
                        c[i * n + j] += a[i * n + k] * b[k * n + j];
                    }
                }
            }
            c
        };
        let mut rr = hat(&layers[0]);
        for m in &layers[1..] {
            rr = mul(&hat(m), &rr);
        }
        let want = unit(&rr[1..n]);
        for (a, b) in r[2][0].iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{:?} vs {want:?}", r[2][0]);
        }
    }

    #[test]
    fn agreement_levels() {
        let r = |v| DetectorResult {
            detector: "x".into(),
            method: "probe".into(),
            score: 0.0,
            probability: 0.5,
            verdict: v,
            threshold: 0.0,
            warnings: vec![],
            error_rates: None,
        };
        assert_eq!(Agreement::of(&[r(Verdict::Weak)]), Agreement::Single);
        assert_eq!(
            Agreement::of(&[r(Verdict::Weak), r(Verdict::Strong)]),
            Agreement::AllGenerated
        );
        assert_eq!(
            Agreement::of(&[r(Verdict::NoEvidence), r(Verdict::NoEvidence)]),
            Agreement::AllNotGenerated
        );
        assert_eq!(
            Agreement::of(&[r(Verdict::NoEvidence), r(Verdict::Moderate)]),
            Agreement::Disagree
        );
    }
}
