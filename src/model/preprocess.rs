//! The one preprocessing function: CLIP's resize + centre crop + normalisation, or crops at native
//! resolution (no resampling) because resizing erases generator traces.

use candle_core::{DType, Device, Result, Tensor};
use image::{imageops, RgbImage};
use serde::{Deserialize, Serialize};

pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
// The reference constants, digit for digit as CLIP publishes them.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// How an image becomes model-sized crops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "mode", content = "tiles")]
pub enum CropMode {
    /// CLIP: bicubic resize of the shortest side to the model size, then centre crop.
    #[default]
    Clip,
    /// One centre crop at native resolution (no resampling).
    Center,
    /// Up to N non-resampled crops spread evenly over the image; scores are averaged.
    Tiles(usize),
}

impl std::str::FromStr for CropMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "clip" | "resize" => Ok(Self::Clip),
            "center" | "centre" => Ok(Self::Center),
            _ => match s.strip_prefix("tiles:").or(s.strip_prefix("tiles")) {
                Some("") => Ok(Self::Tiles(4)),
                Some(n) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .map(Self::Tiles)
                    .ok_or_else(|| format!("bad tile count in '{s}'")),
                None => Err(format!("unknown crop mode '{s}' (clip, center, tiles:N)")),
            },
        }
    }
}

/// Longest side over shortest beyond which [`clip_resize_crop`] first cuts the image down to its
/// centre. Photographs, panoramas included, stay below it and go through the plain resize; a strip
/// such as 400,000 x 1 px would otherwise be resized to tens of gigabytes before the crop.
const MAX_RESIZE_ASPECT: u32 = 3;

/// CLIP's resize (shortest side to `size`, bicubic) followed by a centre crop to `size` x `size`.
/// An image whose long side is more than [`MAX_RESIZE_ASPECT`] times its short side is first cut
/// to the centred part of that aspect: it holds the square the crop keeps, with a margin wider
/// than the filter.
pub fn clip_resize_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (short, long) = (w.min(h), w.max(h));
    if short > 0 && long as u64 > MAX_RESIZE_ASPECT as u64 * short as u64 {
        let keep = MAX_RESIZE_ASPECT * short;
        let cut = if w > h {
            imageops::crop_imm(img, (w - keep) / 2, 0, keep, h)
        } else {
            imageops::crop_imm(img, 0, (h - keep) / 2, w, keep)
        };
        return clip_resize_crop(&cut.to_image(), size);
    }
    let (nw, nh) = if w <= h {
        (
            size,
            ((h as u64 * size as u64) / w.max(1) as u64).max(size as u64) as u32,
        )
    } else {
        (
            ((w as u64 * size as u64) / h.max(1) as u64).max(size as u64) as u32,
            size,
        )
    };
    let resized = if (nw, nh) == (w, h) {
        img.clone()
    } else {
        imageops::resize(img, nw, nh, imageops::FilterType::CatmullRom)
    };
    let left = (nw - size) / 2;
    let top = (nh - size) / 2;
    imageops::crop_imm(&resized, left, top, size, size).to_image()
}

/// Where a crop comes from in the (upright) image, in image pixels. A CLIP crop covers a square
/// that is then resized to the model size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropRect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// The regions `mode` analyses in a `w` x `h` image. Images smaller than `size` in a
/// no-resampling mode fall back to the CLIP resize.
pub fn crop_rects(w: u32, h: u32, size: u32, mode: CropMode) -> Vec<CropRect> {
    if mode == CropMode::Clip || w < size || h < size {
        // The shortest side is resized to `size`; the centre square is kept.
        let s = w.min(h);
        return vec![CropRect {
            x: (w - s) / 2,
            y: (h - s) / 2,
            w: s,
            h: s,
        }];
    }
    let at = |x: u32, y: u32| CropRect {
        x,
        y,
        w: size,
        h: size,
    };
    match mode {
        CropMode::Center | CropMode::Clip => vec![at((w - size) / 2, (h - size) / 2)],
        CropMode::Tiles(n) => {
            // Enough overlapping tiles to cover the whole image.
            let nx = w.div_ceil(size);
            let ny = h.div_ceil(size);
            let mut pos = Vec::new();
            for j in 0..ny {
                for i in 0..nx {
                    // Spread tiles evenly, the outer ones touching the image borders.
                    let x = if nx == 1 {
                        (w - size) / 2
                    } else {
                        i * (w - size) / (nx - 1)
                    };
                    let y = if ny == 1 {
                        (h - size) / 2
                    } else {
                        j * (h - size) / (ny - 1)
                    };
                    pos.push((x, y));
                }
            }
            if pos.len() > n {
                // Keep n tiles spread over the list (centre-most first when n == 1).
                pos = if n == 1 {
                    vec![((w - size) / 2, (h - size) / 2)]
                } else {
                    (0..n).map(|k| pos[k * (pos.len() - 1) / (n - 1)]).collect()
                };
            }
            pos.into_iter().map(|(x, y)| at(x, y)).collect()
        }
    }
}

/// The fraction of a `w` x `h` image that `rects` cover together (overlaps counted once).
pub fn covered_fraction(rects: &[CropRect], w: u32, h: u32) -> f64 {
    if w == 0 || h == 0 {
        return 0.0;
    }
    let clip = |a: u32, b: u32, lim: u32| (a.min(lim), b.min(lim));
    let mut xs: Vec<u32> = Vec::new();
    let mut ys: Vec<u32> = Vec::new();
    for r in rects {
        let (x0, x1) = clip(r.x, r.x.saturating_add(r.w), w);
        let (y0, y1) = clip(r.y, r.y.saturating_add(r.h), h);
        xs.extend([x0, x1]);
        ys.extend([y0, y1]);
    }
    xs.sort_unstable();
    xs.dedup();
    ys.sort_unstable();
    ys.dedup();
    let mut area = 0u64;
    for xw in xs.windows(2) {
        for yw in ys.windows(2) {
            let inside = rects.iter().any(|r| {
                r.x <= xw[0]
                    && xw[1] <= r.x.saturating_add(r.w)
                    && r.y <= yw[0]
                    && yw[1] <= r.y.saturating_add(r.h)
            });
            if inside {
                area += (xw[1] - xw[0]) as u64 * (yw[1] - yw[0]) as u64;
            }
        }
    }
    area as f64 / (w as u64 * h as u64) as f64
}

/// The crops (each `size` x `size`) that `mode` takes from `img`, in [`crop_rects`] order.
pub fn crops(img: &RgbImage, size: u32, mode: CropMode) -> Vec<RgbImage> {
    let (w, h) = img.dimensions();
    if mode == CropMode::Clip || w < size || h < size {
        return vec![clip_resize_crop(img, size)];
    }
    crop_rects(w, h, size, mode)
        .into_iter()
        .map(|r| imageops::crop_imm(img, r.x, r.y, r.w, r.h).to_image())
        .collect()
}

/// Normalised CHW floats of a model-sized RGB crop.
pub fn normalize_chw(img: &RgbImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let n = (w * h) as usize;
    let mut out = vec![0f32; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = (p.0[c] as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
    out
}

/// Preprocessed crops of one image, as normalised CHW floats.
pub fn preprocess(img: &RgbImage, size: u32, mode: CropMode) -> Vec<Vec<f32>> {
    crops(img, size, mode).iter().map(normalize_chw).collect()
}

/// Normalised crops of the given regions. A region of the model size is cut at native resolution;
/// any other (the whole-image square of a small image, from [`crop_rects`]) gets CLIP's resize.
pub fn preprocess_rects(img: &RgbImage, size: u32, rects: &[CropRect]) -> Vec<Vec<f32>> {
    rects
        .iter()
        .map(|r| {
            let c = imageops::crop_imm(img, r.x, r.y, r.w, r.h).to_image();
            if (r.w, r.h) == (size, size) {
                normalize_chw(&c)
            } else {
                normalize_chw(&clip_resize_crop(&c, size))
            }
        })
        .collect()
}

/// Stacks CHW crops into a [B, 3, size, size] tensor.
pub fn batch_tensor(
    crops: &[Vec<f32>],
    size: usize,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let mut flat = Vec::with_capacity(crops.len() * 3 * size * size);
    for c in crops {
        if c.len() != 3 * size * size {
            candle_core::bail!("crop has {} values, expected {}", c.len(), 3 * size * size);
        }
        flat.extend_from_slice(c);
    }
    Tensor::from_vec(flat, (crops.len(), 3, size, size), device)?.to_dtype(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_fraction_counts_overlaps_once() {
        let r = |x, y, w, h| CropRect { x, y, w, h };
        assert_eq!(covered_fraction(&[r(0, 0, 10, 10)], 10, 10), 1.0);
        assert_eq!(covered_fraction(&[r(0, 0, 5, 10)], 10, 10), 0.5);
        // Two overlapping halves-and-a-bit cover the whole, not more.
        let two = [r(0, 0, 6, 10), r(4, 0, 6, 10)];
        assert_eq!(covered_fraction(&two, 10, 10), 1.0);
        // An L of two rectangles.
        let l = [r(0, 0, 4, 4), r(2, 2, 4, 4)];
        assert!((covered_fraction(&l, 10, 10) - 0.28).abs() < 1e-12);
        assert_eq!(covered_fraction(&[], 10, 10), 0.0);
        // Tiles over a 500x375 photo cover it; one centre crop of a 12 MP photo covers 0.4%.
        let tiles = crop_rects(500, 375, 224, CropMode::Tiles(9));
        assert_eq!(covered_fraction(&tiles, 500, 375), 1.0);
        let c = covered_fraction(&crop_rects(4000, 3000, 224, CropMode::Center), 4000, 3000);
        assert!((c - 224.0 * 224.0 / 12e6).abs() < 1e-12);
        // CLIP's crop keeps the centre square of the shorter side.
        let c = covered_fraction(&crop_rects(4000, 3000, 224, CropMode::Clip), 4000, 3000);
        assert_eq!(c, 0.75);
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 77])
        })
    }

    #[test]
    fn clip_mode_resizes_shortest_side_and_centre_crops() {
        let img = gradient(448, 300);
        let c = clip_resize_crop(&img, 224);
        assert_eq!(c.dimensions(), (224, 224));
        // An image already at size is left untouched.
        let same = gradient(224, 224);
        assert_eq!(clip_resize_crop(&same, 224), same);
    }

    #[test]
    fn a_long_strip_is_cut_to_its_centre_before_the_resize() {
        // Smooth, so that the sub-pixel shift between the two paths stays small.
        let smooth = |w: u32, h: u32| {
            RgbImage::from_fn(w, h, |x, y| {
                let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
                image::Rgb([
                    (255.0 * u) as u8,
                    (255.0 * (0.5 + 0.5 * (6.0 * u).sin())) as u8,
                    (255.0 * v) as u8,
                ])
            })
        };
        for img in [smooth(1200, 20), smooth(20, 1200)] {
            let (w, h) = img.dimensions();
            let c = clip_resize_crop(&img, 224);
            assert_eq!(c.dimensions(), (224, 224));
            // The whole-image resize that the cut avoids, cropped at the centre.
            let (nw, nh) = if w > h {
                (w * 224 / h, 224)
            } else {
                (224, h * 224 / w)
            };
            let full = imageops::resize(&img, nw, nh, imageops::FilterType::CatmullRom);
            let full =
                imageops::crop_imm(&full, (nw - 224) / 2, (nh - 224) / 2, 224, 224).to_image();
            let diff = c
                .as_raw()
                .iter()
                .zip(full.as_raw())
                .map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs())
                .max()
                .unwrap();
            assert!(diff <= 3, "{w}x{h}: differs by up to {diff} levels");
        }
        // A strip that the plain resize would blow up to 224 x 22 million pixels.
        let c = clip_resize_crop(&RgbImage::new(200_000, 2), 224);
        assert_eq!(c.dimensions(), (224, 224));
        // Ordinary shapes keep the plain path.
        let img = gradient(600, 200);
        let (nw, nh) = (672, 224);
        let full = imageops::resize(&img, nw, nh, imageops::FilterType::CatmullRom);
        let full = imageops::crop_imm(&full, (nw - 224) / 2, 0, 224, 224).to_image();
        assert_eq!(clip_resize_crop(&img, 224), full);
    }

    #[test]
    fn native_crops_do_not_resample() {
        let img = gradient(500, 400);
        let c = crops(&img, 224, CropMode::Center);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].get_pixel(0, 0), img.get_pixel(138, 88));
        let t = crops(&img, 224, CropMode::Tiles(4));
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].get_pixel(0, 0), img.get_pixel(0, 0));
        assert_eq!(t[3].get_pixel(223, 223), img.get_pixel(499, 399));
        // Too small for a native crop: falls back to the resize.
        assert_eq!(
            crops(&gradient(100, 80), 224, CropMode::Center)[0].dimensions(),
            (224, 224)
        );
    }

    #[test]
    fn normalisation_matches_clip_constants() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 128]));
        let v = normalize_chw(&img);
        assert!((v[0] - (1.0 - CLIP_MEAN[0]) / CLIP_STD[0]).abs() < 1e-6);
        assert!((v[4] - (0.0 - CLIP_MEAN[1]) / CLIP_STD[1]).abs() < 1e-6);
        assert!((v[8] - (128.0 / 255.0 - CLIP_MEAN[2]) / CLIP_STD[2]).abs() < 1e-6);
    }

    #[test]
    fn crop_mode_parses() {
        assert_eq!("clip".parse::<CropMode>().unwrap(), CropMode::Clip);
        assert_eq!("tiles:6".parse::<CropMode>().unwrap(), CropMode::Tiles(6));
        assert!("tiles:0".parse::<CropMode>().is_err());
        assert!("zoom".parse::<CropMode>().is_err());
    }
}
