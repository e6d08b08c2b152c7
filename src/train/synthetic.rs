//! Synthetic "upsampling" fakes made from real training photos.
//!
//! Generators that are not diffusion models (GANs, image-to-image networks) build their output
//! by upsampling feature maps, and the upsampling leaves a periodic trace in the pixels. A
//! detector trained on one diffusion family never sees that trace. Following the idea of
//! Zhang, Karaman and Chang ("Detecting and Simulating Artifacts in GAN Fake Images", 2019),
//! training can add fakes simulated from its own real photos: halve the photo (2×2 box average),
//! double it back by pixel repetition, smooth with a random positive 3×3 kernel (a stand-in
//! for the learnt filter after an upsampling layer), then save it as a JPEG at quality 75-95,
//! as a generated picture would be. The content stays that of a real photo, so only the trace
//! can tell the classes apart. Smoothing alone is not the trace, so low-passed copies of real
//! photos can be trained as real beside them (`low_passed_real`). This is our addition to MPFT
//! and PiN-CLIP, off by default (`synthetic_fakes` = `low_passed_reals` = 0); docs/METHODS.md
//! says why and what it changed.

use crate::eval::perturb::Perturbation;
use crate::rng::Rng;
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Which simulator makes the simulated fakes (`synthetic_kind`, `--synthetic-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SyntheticKind {
    /// One stage: 2×2 box halving, pixel repetition, a random positive 3×3 kernel (the first
    /// recipe; checkpoints written before the setting existed used it).
    #[default]
    Box,
    /// One or two stages, each doubling by pixel repetition, bilinear interpolation or a
    /// transposed 4×4 kernel, each followed by a signed 3×3 kernel (`varied_trace`).
    Varied,
}

impl SyntheticKind {
    /// The kind of made image it produces.
    pub fn made(self) -> Made {
        match self {
            SyntheticKind::Box => Made::SimulatedFake,
            SyntheticKind::Varied => Made::VariedFake,
        }
    }
}

/// 2×2 box average then pixel repetition: every aligned 2×2 block holds one colour. Odd edges
/// are dropped, so the output has even sides (at least 2×2 when the input has at least 2×2).
pub fn down_up(img: &RgbImage) -> RgbImage {
    Planar::from_rgb(img).halve().repeat2().to_rgb()
}

/// Convolution with a 3×3 kernel (weights summing to one), edges reflected.
pub fn smooth3(img: &RgbImage, k: &[f32; 9]) -> RgbImage {
    let (w, h) = img.dimensions();
    let refl = |v: i64, n: u32| -> u32 {
        let n = n as i64;
        (if v < 0 {
            -v
        } else if v >= n {
            2 * n - 2 - v
        } else {
            v
        })
        .clamp(0, n - 1) as u32
    };
    RgbImage::from_fn(w, h, |x, y| {
        let mut acc = [0f32; 3];
        for dy in 0..3i64 {
            for dx in 0..3i64 {
                let p = img.get_pixel(refl(x as i64 + dx - 1, w), refl(y as i64 + dy - 1, h));
                let wgt = k[(dy * 3 + dx) as usize];
                for c in 0..3 {
                    acc[c] += wgt * p[c] as f32;
                }
            }
        }
        image::Rgb(acc.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// A random positive 3×3 kernel whose weights sum to one.
pub fn random_kernel(rng: &mut Rng) -> [f32; 9] {
    let mut k = [0f32; 9];
    for v in &mut k {
        *v = rng.uniform() as f32 + 1e-3;
    }
    let s: f32 = k.iter().sum();
    k.map(|v| v / s)
}

/// A simulated upsampling fake of a real photo (see the module comment). Deterministic for the
/// generator's state.
pub fn upsampling_fake(img: &RgbImage, rng: &mut Rng) -> RgbImage {
    Made::SimulatedFake.make(img, 0, 1.0, rng)
}

/// The trace alone: box halving, pixel repetition, a random 3×3 kernel (no JPEG).
fn upsampling_trace(img: &RgbImage, rng: &mut Rng) -> RgbImage {
    smooth3(&down_up(img), &random_kernel(rng))
}

/// A float RGB picture, row-major, three values per pixel.
struct Planar {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Planar {
    fn from_rgb(img: &RgbImage) -> Self {
        let v = img.as_raw().iter().map(|&b| b as f32).collect();
        Planar {
            w: img.width() as usize,
            h: img.height() as usize,
            v,
        }
    }

    fn to_rgb(&self) -> RgbImage {
        let raw = self
            .v
            .iter()
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        RgbImage::from_raw(self.w as u32, self.h as u32, raw).expect("buffer matches its size")
    }

    fn at(&self, x: i64, y: i64, c: usize) -> f32 {
        let x = x.clamp(0, self.w as i64 - 1) as usize;
        let y = y.clamp(0, self.h as i64 - 1) as usize;
        self.v[(y * self.w + x) * 3 + c]
    }

    /// A `w`×`h` picture whose value at (x, y, channel) is `f(x, y, c)`.
    fn from_fn(w: usize, h: usize, f: impl Fn(usize, usize, usize) -> f32) -> Self {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    v.push(f(x, y, c));
                }
            }
        }
        Planar { w, h, v }
    }

    /// 2×2 box average (odd edges dropped; at least 1×1).
    fn halve(&self) -> Self {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        Planar::from_fn(w, h, |x, y, c| {
            let (sx, sy) = (2 * x as i64, 2 * y as i64);
            0.25 * (self.at(sx, sy, c)
                + self.at(sx + 1, sy, c)
                + self.at(sx, sy + 1, c)
                + self.at(sx + 1, sy + 1, c))
        })
    }

    /// Doubles the size: pixel repetition (`Nearest`), bilinear interpolation (`Bilinear`), or
    /// zero insertion followed by a transposed 4×4 kernel (`Transposed`, whose four phases have
    /// different gains: the checkerboard of a stride-2 transposed convolution).
    fn double(&self, up: Upsampler, rng: &mut Rng) -> Self {
        let (w, h) = (self.w * 2, self.h * 2);
        match up {
            Upsampler::Nearest => self.repeat2(),
            Upsampler::Bilinear => Planar::from_fn(w, h, |x, y, c| {
                // Output pixel centre in input coordinates.
                let fx = (x as f32 + 0.5) / 2.0 - 0.5;
                let fy = (y as f32 + 0.5) / 2.0 - 0.5;
                let (x0, y0) = (fx.floor(), fy.floor());
                let (ax, ay) = (fx - x0, fy - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let top = (1.0 - ax) * self.at(x0, y0, c) + ax * self.at(x0 + 1, y0, c);
                let bot = (1.0 - ax) * self.at(x0, y0 + 1, c) + ax * self.at(x0 + 1, y0 + 1, c);
                (1.0 - ay) * top + ay * bot
            }),
            Upsampler::Transposed => {
                // Each input pixel spreads over a 4×4 window; an output phase (x%2, y%2) takes
                // four of the sixteen weights. The kernel is positive with a signed
                // perturbation, scaled so the weights sum to 4 (average gain 1).
                let mut k = [0f32; 16];
                let sigma = rng.range(0.0, 0.3) as f32;
                for v in &mut k {
                    *v = rng.uniform() as f32 + 0.2 + sigma * rng.normal() as f32;
                }
                let s: f32 = k.iter().sum();
                let k = k.map(|v| 4.0 * v / s);
                Planar::from_fn(w, h, |x, y, c| {
                    let mut acc = 0f32;
                    // Input pixels i with 2i - 1 <= x <= 2i + 2, taps x - 2i + 1.
                    for ty in 0..4i64 {
                        let iy = y as i64 + 1 - ty;
                        if iy.rem_euclid(2) != 0 {
                            continue;
                        }
                        for tx in 0..4i64 {
                            let ix = x as i64 + 1 - tx;
                            if ix.rem_euclid(2) != 0 {
                                continue;
                            }
                            acc += k[(ty * 4 + tx) as usize] * self.at(ix / 2, iy / 2, c);
                        }
                    }
                    acc
                })
            }
        }
    }

    /// Doubles the size by pixel repetition.
    fn repeat2(&self) -> Self {
        Planar::from_fn(self.w * 2, self.h * 2, |x, y, c| {
            self.at(x as i64 / 2, y as i64 / 2, c)
        })
    }

    /// Convolution with a 3×3 kernel, edges clamped.
    fn conv3(&self, k: &[f32; 9]) -> Self {
        Planar::from_fn(self.w, self.h, |x, y, c| {
            let mut acc = 0f32;
            for dy in 0..3i64 {
                for dx in 0..3i64 {
                    acc += k[(dy * 3 + dx) as usize]
                        * self.at(x as i64 + dx - 1, y as i64 + dy - 1, c);
                }
            }
            acc
        })
    }
}

/// How a simulated generator doubles its feature maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsampler {
    Nearest,
    Bilinear,
    Transposed,
}

/// A 3×3 kernel summing to one: positive weights plus a signed perturbation of random size, as a
/// learnt filter after an upsampling layer may have.
fn signed_kernel(rng: &mut Rng) -> [f32; 9] {
    let sigma = rng.range(0.0, 0.25) as f32;
    let mut k = [0f32; 9];
    for v in &mut k {
        *v = rng.uniform() as f32 + 0.2;
    }
    let s: f32 = k.iter().sum();
    let mut k = k.map(|v| v / s);
    let mut noise = [0f32; 9];
    for v in &mut noise {
        *v = sigma * rng.normal() as f32;
    }
    let mean = noise.iter().sum::<f32>() / 9.0;
    for (a, n) in k.iter_mut().zip(noise) {
        *a += n - mean;
    }
    k
}

/// The upsamplers the varied trace draws from, each with probability 1/3.
pub const VARIED_UPSAMPLERS: [Upsampler; 3] = [
    Upsampler::Nearest,
    Upsampler::Bilinear,
    Upsampler::Transposed,
];

/// The varied trace: one or two box halvings, then as many doublings, each by pixel
/// repetition, bilinear interpolation or a transposed 4×4 kernel, each followed by a signed 3×3
/// kernel (no JPEG).
fn varied_trace(img: &RgbImage, rng: &mut Rng) -> RgbImage {
    varied_trace_from(img, VARIED_UPSAMPLERS, rng)
}

/// The varied trace with each doubling drawn uniformly from `ups` (a list with repeats weights
/// the draw); the frozen-feature check of bench/multiblock_check.sh also runs it without the
/// bilinear upsampler.
pub fn varied_trace_from(img: &RgbImage, ups: [Upsampler; 3], rng: &mut Rng) -> RgbImage {
    let stages = 1 + rng.below(2);
    let mut p = Planar::from_rgb(img);
    for _ in 0..stages {
        p = p.halve();
    }
    for _ in 0..stages {
        let up = ups[rng.below(3)];
        p = p.double(up, rng).conv3(&signed_kernel(rng));
    }
    p.to_rgb()
}

/// The JPEG save at quality 75-95 that ends a made image, with probability `p` (at `p` >= 1 it
/// draws no extra number, so runs made before the setting existed are reproduced exactly).
pub fn jpeg_save(img: RgbImage, p: f64, rng: &mut Rng) -> RgbImage {
    if p >= 1.0 || rng.uniform() < p {
        let q = 75 + rng.below(21) as u8;
        Perturbation::Jpeg(q).apply(&img)
    } else {
        img
    }
}

/// A low-passed copy of a real photo without the upsampling trace: a Gaussian blur of sigma
/// 0.5-1.5 or a bilinear halving and doubling (even and odd `variant`), then a JPEG at quality
/// 75-95. Trained as real beside the simulated fakes, it keeps a detector from learning that
/// smooth pictures are generated.
pub fn low_passed_real(img: &RgbImage, variant: u64, rng: &mut Rng) -> RgbImage {
    Made::LowPassedReal.make(img, variant, 1.0, rng)
}

/// The low pass alone (no JPEG).
fn low_pass(img: &RgbImage, variant: u64, rng: &mut Rng) -> RgbImage {
    if variant.is_multiple_of(2) {
        Perturbation::Blur(rng.range(0.5, 1.5) as f32).apply(img)
    } else {
        let half = Perturbation::Resize(0.5).apply(img);
        image::imageops::resize(
            &half,
            img.width(),
            img.height(),
            image::imageops::FilterType::Triangle,
        )
    }
}

/// `made_jpeg` of checkpoints written before the setting existed: always saved as JPEG.
pub fn default_made_jpeg() -> f64 {
    1.0
}

/// A training image made from a real photo: a simulated upsampling fake (trained as generated)
/// or a low-passed real (trained as real).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    SimulatedFake,
    /// A simulated fake from the varied generator (`varied_trace`): one or two upsampling stages,
    /// each by repetition, bilinear or transposed-kernel doubling with a signed 3×3 filter.
    VariedFake,
    LowPassedReal,
}

impl Made {
    /// Makes this kind of image from `img`; `variant` picks the low-pass filter, and `jpeg_p` is
    /// the probability that it ends with a JPEG save at quality 75-95 (1: always, as a shared
    /// picture would; training augmentation may JPEG it again either way).
    pub fn make(self, img: &RgbImage, variant: u64, jpeg_p: f64, rng: &mut Rng) -> RgbImage {
        let made = match self {
            Made::SimulatedFake => upsampling_trace(img, rng),
            Made::VariedFake => varied_trace(img, rng),
            Made::LowPassedReal => low_pass(img, variant, rng),
        };
        jpeg_save(made, jpeg_p, rng)
    }

    /// Whether it is trained as generated.
    pub fn is_fake(self) -> bool {
        matches!(self, Made::SimulatedFake | Made::VariedFake)
    }

    /// Its name in progress messages.
    pub fn stage(self) -> &'static str {
        match self {
            Made::SimulatedFake => "simulated fakes",
            Made::VariedFake => "varied simulated fakes",
            Made::LowPassedReal => "low-passed reals",
        }
    }
}

/// How many images `per_real` made images per real photo give for `reals` real photos.
pub fn made_count(reals: usize, per_real: f64) -> usize {
    (reals as f64 * per_real.max(0.0)).round() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: u32, h: u32) -> RgbImage {
        let mut rng = Rng::new(3);
        RgbImage::from_fn(w, h, |x, y| {
            let n = (rng.normal() * 20.0) as i32;
            let v = |b: i32| (b + n).clamp(0, 255) as u8;
            image::Rgb([
                v((x * 2) as i32),
                v((y * 3) as i32),
                v(((x + y) % 200) as i32),
            ])
        })
    }

    #[test]
    fn down_up_repeats_each_box_average() {
        let img = photo(31, 20);
        let du = down_up(&img);
        assert_eq!(du.dimensions(), (30, 20));
        for y in (0..20).step_by(2) {
            for x in (0..30).step_by(2) {
                let p = du.get_pixel(x, y);
                for (dx, dy) in [(1, 0), (0, 1), (1, 1)] {
                    assert_eq!(du.get_pixel(x + dx, y + dy), p);
                }
                for c in 0..3 {
                    let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|&(a, b)| img.get_pixel(x + a, y + b)[c] as u32)
                        .sum();
                    assert!((p[c] as i32 - (s as f32 / 4.0).round() as i32).abs() <= 1);
                }
            }
        }
        // Tiny inputs do not panic.
        assert_eq!(down_up(&RgbImage::new(1, 1)).dimensions(), (2, 2));
    }

    #[test]
    fn kernel_is_normalised_and_keeps_flat_colour() {
        let k = random_kernel(&mut Rng::new(1));
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(k.iter().all(|&v| v > 0.0));
        let flat = RgbImage::from_pixel(9, 7, image::Rgb([200, 10, 90]));
        assert_eq!(smooth3(&flat, &k), flat);
        // An identity kernel leaves any image unchanged.
        let mut id = [0f32; 9];
        id[4] = 1.0;
        let img = photo(12, 9);
        assert_eq!(smooth3(&img, &id), img);
    }

    #[test]
    fn fakes_are_deterministic_and_carry_a_period_two_trace() {
        let img = photo(64, 48);
        let a = upsampling_fake(&img, &mut Rng::new(7));
        assert_eq!(a, upsampling_fake(&img, &mut Rng::new(7)));
        assert_ne!(a, upsampling_fake(&img, &mut Rng::new(8)));
        assert_eq!(a.dimensions(), (64, 48));
        // The trace: differences between horizontal neighbours inside a 2×2 box are much
        // smaller than across box borders, which a real photo does not show.
        let ratio = |im: &RgbImage| {
            let (mut inside, mut across) = (0f64, 0f64);
            for y in 0..im.height() {
                for x in 0..im.width() - 1 {
                    let d = (im.get_pixel(x, y)[0] as f64 - im.get_pixel(x + 1, y)[0] as f64).abs();
                    if x % 2 == 0 {
                        inside += d;
                    } else {
                        across += d;
                    }
                }
            }
            inside / across
        };
        let plain = smooth3(&down_up(&img), &{
            let mut id = [0f32; 9];
            id[4] = 1.0;
            id
        });
        assert!(ratio(&plain) < 0.05, "{}", ratio(&plain));
        assert!(ratio(&img) > 0.8, "{}", ratio(&img));
    }

    #[test]
    fn made_makes_the_kind_it_names() {
        let img = photo(64, 48);
        let make = |m: Made, v, p| m.make(&img, v, p, &mut Rng::new(9));
        // A simulated fake is the trace with a kernel from the stream, then a JPEG whose
        // quality is the next draw (the order runs made before `jpeg_p` existed used).
        let mut rng = Rng::new(9);
        let k = random_kernel(&mut rng);
        let trace = smooth3(&down_up(&img), &k);
        let q = 75 + rng.below(21) as u8;
        assert_eq!(
            make(Made::SimulatedFake, 0, 1.0),
            Perturbation::Jpeg(q).apply(&trace)
        );
        assert_eq!(make(Made::SimulatedFake, 0, 0.0), trace);
        let mut rng = Rng::new(9);
        let blurred = Perturbation::Blur(rng.range(0.5, 1.5) as f32).apply(&img);
        let q = 75 + rng.below(21) as u8;
        assert_eq!(
            make(Made::LowPassedReal, 0, 1.0),
            Perturbation::Jpeg(q).apply(&blurred)
        );
        assert_eq!(make(Made::LowPassedReal, 0, 0.0), blurred);
        for v in [0, 1] {
            assert_ne!(
                make(Made::LowPassedReal, v, 1.0),
                make(Made::SimulatedFake, v, 1.0)
            );
        }
        // At p = 0.5 some made images are saved as JPEG and some are not.
        let saved: Vec<bool> = (0..16)
            .map(|i| {
                let m = Made::SimulatedFake.make(&img, 0, 0.5, &mut Rng::new(i));
                let mut r = Rng::new(i);
                m != smooth3(&down_up(&img), &random_kernel(&mut r))
            })
            .collect();
        assert!(saved.contains(&true) && saved.contains(&false), "{saved:?}");
        assert!(Made::SimulatedFake.is_fake() && !Made::LowPassedReal.is_fake());
        assert_eq!(made_count(350, 1.0), 350);
        assert_eq!(made_count(350, 0.5), 175);
        assert_eq!(made_count(350, -1.0), 0);
    }

    #[test]
    fn varied_fakes_are_deterministic_and_differ_from_box_fakes() {
        let img = photo(64, 48);
        let make = |k: SyntheticKind, seed| k.made().make(&img, 0, 0.0, &mut Rng::new(seed));
        let a = make(SyntheticKind::Varied, 5);
        assert_eq!(a, make(SyntheticKind::Varied, 5));
        assert!(Made::VariedFake.is_fake());
        // One or two halvings of 64×48 give back 64×48.
        assert_eq!(a.dimensions(), (64, 48));
        assert_ne!(a, make(SyntheticKind::Box, 5));
        // Over a few seeds every upsampler and both stage counts are drawn, so the fakes vary.
        let distinct: std::collections::HashSet<Vec<u8>> = (0..8)
            .map(|i| make(SyntheticKind::Varied, i).into_raw())
            .collect();
        assert_eq!(distinct.len(), 8);
        // Each is still a smoothed copy of the photo, not noise: close to it on average.
        let mad = |b: &RgbImage| {
            img.as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(&x, &y)| (x as f64 - y as f64).abs())
                .sum::<f64>()
                / img.as_raw().len() as f64
        };
        assert!(mad(&a) < 30.0, "{}", mad(&a));
        // Odd sizes do not panic and lose at most the odd edges of two halvings.
        let odd = SyntheticKind::Varied
            .made()
            .make(&photo(37, 23), 0, 1.0, &mut Rng::new(2));
        assert!(
            odd.width() >= 33 && odd.height() >= 20,
            "{:?}",
            odd.dimensions()
        );
        // Checkpoints written before the setting read as the first recipe.
        let k: SyntheticKind = serde_json::from_str("\"box\"").unwrap();
        assert_eq!(k, SyntheticKind::default());
    }

    #[test]
    fn low_passed_reals_are_smoother_without_the_box_structure() {
        let img = photo(64, 48);
        for variant in [0, 1] {
            let a = low_passed_real(&img, variant, &mut Rng::new(3));
            assert_eq!(a, low_passed_real(&img, variant, &mut Rng::new(3)));
            assert_eq!(a.dimensions(), img.dimensions());
            // Less pixel-to-pixel variation than the photo.
            let tv = |im: &RgbImage| {
                (0..im.height())
                    .flat_map(|y| (0..im.width() - 1).map(move |x| (x, y)))
                    .map(|(x, y)| {
                        (im.get_pixel(x, y)[0] as f64 - im.get_pixel(x + 1, y)[0] as f64).abs()
                    })
                    .sum::<f64>()
            };
            assert!(tv(&a) < 0.8 * tv(&img), "variant {variant}");
        }
    }
}
