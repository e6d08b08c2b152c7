//! Texture-Aware Masking (TAM): a texture score per ViT patch, and the keep-mask that hides the most
//! textured fraction of patches (where generator-specific patterns concentrate). Random masking at
//! the same ratio is the ablation. Scores and masks are also what the GUI draws as the TAM map.

use crate::model::preprocess::{CLIP_MEAN, CLIP_STD};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// How patch texture is measured (all on luminance in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TextureMeasure {
    /// Mean squared Sobel gradient magnitude.
    #[default]
    Sobel,
    /// Variance of the patch's luminance.
    Variance,
    /// Mean squared 4-neighbour Laplacian (high-frequency energy).
    Laplacian,
}

/// Which patches are hidden during fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MaskMode {
    /// The most textured fraction (TAM).
    #[default]
    Texture,
    /// A random fraction of the same size (ablation).
    Random,
    /// No masking.
    None,
}

/// Luminance of a normalised CHW crop.
pub fn luminance(chw: &[f32], size: usize) -> Vec<f32> {
    let n = size * size;
    let w = [0.299f32, 0.587, 0.114];
    (0..n)
        .map(|i| {
            (0..3)
                .map(|c| w[c] * (chw[c * n + i] * CLIP_STD[c] + CLIP_MEAN[c]))
                .sum()
        })
        .collect()
}

/// Texture score per patch (row-major over the patch grid) of a normalised CHW crop.
pub fn texture_scores(chw: &[f32], size: usize, patch: usize, measure: TextureMeasure) -> Vec<f32> {
    let y = luminance(chw, size);
    let at = |r: usize, c: usize| y[r.min(size - 1) * size + c.min(size - 1)];
    let at_s = |r: isize, c: isize| {
        at(
            r.clamp(0, size as isize - 1) as usize,
            c.clamp(0, size as isize - 1) as usize,
        )
    };
    // Per-pixel response.
    let resp: Vec<f32> = match measure {
        TextureMeasure::Variance => y.clone(),
        TextureMeasure::Sobel => (0..size * size)
            .map(|i| {
                let (r, c) = ((i / size) as isize, (i % size) as isize);
                let gx = at_s(r - 1, c + 1) + 2.0 * at_s(r, c + 1) + at_s(r + 1, c + 1)
                    - at_s(r - 1, c - 1)
                    - 2.0 * at_s(r, c - 1)
                    - at_s(r + 1, c - 1);
                let gy = at_s(r + 1, c - 1) + 2.0 * at_s(r + 1, c) + at_s(r + 1, c + 1)
                    - at_s(r - 1, c - 1)
                    - 2.0 * at_s(r - 1, c)
                    - at_s(r - 1, c + 1);
                gx * gx + gy * gy
            })
            .collect(),
        TextureMeasure::Laplacian => (0..size * size)
            .map(|i| {
                let (r, c) = ((i / size) as isize, (i % size) as isize);
                let l = 4.0 * at_s(r, c)
                    - at_s(r - 1, c)
                    - at_s(r + 1, c)
                    - at_s(r, c - 1)
                    - at_s(r, c + 1);
                l * l
            })
            .collect(),
    };
    let g = size / patch;
    let mut out = vec![0f32; g * g];
    for (pi, o) in out.iter_mut().enumerate() {
        let (pr, pc) = (pi / g, pi % g);
        let (mut s, mut s2) = (0f64, 0f64);
        for r in pr * patch..(pr + 1) * patch {
            for c in pc * patch..(pc + 1) * patch {
                let v = resp[r * size + c] as f64;
                s += v;
                s2 += v * v;
            }
        }
        let n = (patch * patch) as f64;
        *o = match measure {
            TextureMeasure::Variance => (s2 / n - (s / n).powi(2)).max(0.0) as f32,
            _ => (s / n) as f32,
        };
    }
    out
}

/// Number of patches hidden for a ratio (at least one kept).
pub fn masked_count(patches: usize, ratio: f32) -> usize {
    ((patches as f32 * ratio.clamp(0.0, 1.0)).round() as usize).min(patches.saturating_sub(1))
}

/// Keep-mask hiding the `ratio` most textured patches (ties broken by index, deterministic).
pub fn texture_keep_mask(scores: &[f32], ratio: f32) -> Vec<bool> {
    let m = masked_count(scores.len(), ratio);
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut keep = vec![true; scores.len()];
    for &i in &idx[..m] {
        keep[i] = false;
    }
    keep
}

/// Keep-mask hiding a random `ratio` of patches.
pub fn random_keep_mask(patches: usize, ratio: f32, rng: &mut Rng) -> Vec<bool> {
    let m = masked_count(patches, ratio);
    let mut idx: Vec<usize> = (0..patches).collect();
    rng.shuffle(&mut idx);
    let mut keep = vec![true; patches];
    for &i in &idx[..m] {
        keep[i] = false;
    }
    keep
}

/// The keep-mask a mode gives for one normalised crop (`None` for no masking).
pub fn keep_mask(
    chw: &[f32],
    size: usize,
    patch: usize,
    mode: MaskMode,
    measure: TextureMeasure,
    ratio: f32,
    rng: &mut Rng,
) -> Option<Vec<bool>> {
    let p = (size / patch) * (size / patch);
    match mode {
        MaskMode::None => None,
        MaskMode::Random => Some(random_keep_mask(p, ratio, rng)),
        MaskMode::Texture => Some(texture_keep_mask(
            &texture_scores(chw, size, patch, measure),
            ratio,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preprocess::normalize_chw;

    /// Left half flat grey, right half a 2-pixel checkerboard (Sobel cancels a 1-pixel one).
    fn half_textured(size: u32) -> Vec<f32> {
        let img = image::RgbImage::from_fn(size, size, |x, y| {
            let v = if x < size / 2 {
                128
            } else if (x / 2 + y / 2) % 2 == 0 {
                230
            } else {
                20
            };
            image::Rgb([v, v, v])
        });
        normalize_chw(&img)
    }

    #[test]
    fn textured_patches_score_higher_and_are_masked_first() {
        let chw = half_textured(32);
        for m in [
            TextureMeasure::Sobel,
            TextureMeasure::Variance,
            TextureMeasure::Laplacian,
        ] {
            let s = texture_scores(&chw, 32, 8, m);
            assert_eq!(s.len(), 16);
            // Columns 2 and 3 of the 4x4 grid are textured.
            let flat: f32 = (0..16).filter(|i| i % 4 == 0).map(|i| s[i]).sum();
            let tex: f32 = (0..16).filter(|i| i % 4 == 3).map(|i| s[i]).sum();
            assert!(tex > 10.0 * flat.max(1e-9), "{m:?}: {s:?}");
            let keep = texture_keep_mask(&s, 0.5);
            assert_eq!(keep.iter().filter(|k| !**k).count(), 8, "{m:?}: {s:?}");
            assert!(
                (0..16).filter(|i| i % 4 >= 2).all(|i| !keep[i]),
                "{m:?}: {keep:?} {s:?}"
            );
        }
    }

    #[test]
    fn random_mask_has_the_same_count_and_is_seeded() {
        let a = random_keep_mask(196, 0.3, &mut Rng::new(1));
        let b = random_keep_mask(196, 0.3, &mut Rng::new(1));
        assert_eq!(a, b);
        assert_eq!(a.iter().filter(|k| !**k).count(), masked_count(196, 0.3));
        assert_eq!(masked_count(4, 1.0), 3);
        assert_eq!(masked_count(196, 0.0), 0);
    }
}
