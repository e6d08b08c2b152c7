//! Training augmentation, applied identically to real and generated images so that no format or
//! size shortcut can be learnt: mild resize, random native-resolution crop, horizontal flip,
//! Gaussian blur, JPEG re-encoding at quality 60-100.

use crate::eval::perturb::Perturbation;
use crate::model::preprocess::{clip_resize_crop, normalize_chw};
use crate::rng::Rng;
use image::{imageops, RgbImage};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentSettings {
    /// Probability and range of a mild bilinear resize before cropping.
    pub resize_p: f64,
    pub resize_range: (f64, f64),
    pub flip_p: f64,
    pub blur_p: f64,
    pub blur_sigma: (f64, f64),
    pub jpeg_p: f64,
    pub jpeg_quality: (u8, u8),
}

impl Default for AugmentSettings {
    fn default() -> Self {
        Self {
            resize_p: 0.3,
            resize_range: (0.75, 1.25),
            flip_p: 0.5,
            blur_p: 0.2,
            blur_sigma: (0.1, 1.5),
            jpeg_p: 0.5,
            jpeg_quality: (60, 100),
        }
    }
}

impl AugmentSettings {
    /// No augmentation (evaluation).
    pub fn none() -> Self {
        Self {
            resize_p: 0.0,
            flip_p: 0.0,
            blur_p: 0.0,
            jpeg_p: 0.0,
            ..Self::default()
        }
    }
}

/// One augmented, normalised `size` x `size` crop. Compression and blur come last, as a re-shared
/// picture would have them.
pub fn augment(img: &RgbImage, size: u32, s: &AugmentSettings, rng: &mut Rng) -> Vec<f32> {
    let mut im = img.clone();
    if rng.uniform() < s.resize_p {
        im = Perturbation::Resize(rng.range(s.resize_range.0, s.resize_range.1) as f32).apply(&im);
    }
    let (w, h) = im.dimensions();
    let mut crop = if w >= size && h >= size {
        let x = rng.below((w - size + 1) as usize) as u32;
        let y = rng.below((h - size + 1) as usize) as u32;
        imageops::crop_imm(&im, x, y, size, size).to_image()
    } else {
        clip_resize_crop(&im, size)
    };
    if rng.uniform() < s.flip_p {
        crop = imageops::flip_horizontal(&crop);
    }
    if rng.uniform() < s.blur_p {
        crop = Perturbation::Blur(rng.range(s.blur_sigma.0, s.blur_sigma.1) as f32).apply(&crop);
    }
    if rng.uniform() < s.jpeg_p {
        let (lo, hi) = s.jpeg_quality;
        let q = lo + rng.below((hi - lo + 1) as usize) as u8;
        crop = Perturbation::Jpeg(q).apply(&crop);
    }
    normalize_chw(&crop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed_and_model_sized() {
        let img = RgbImage::from_fn(300, 260, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 9])
        });
        let s = AugmentSettings::default();
        let a = augment(&img, 224, &s, &mut Rng::new(4));
        let b = augment(&img, 224, &s, &mut Rng::new(4));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3 * 224 * 224);
        let c = augment(&img, 224, &s, &mut Rng::new(5));
        assert_ne!(a, c);
        let small = RgbImage::new(100, 90);
        assert_eq!(
            augment(&small, 224, &s, &mut Rng::new(1)).len(),
            3 * 224 * 224
        );
    }
}
