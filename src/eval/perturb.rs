//! Perturbations applied identically to real and generated images: JPEG re-encoding, Gaussian blur,
//! down-scaling. Used by the robustness sweep and the verdict-stability check.

use image::{imageops, RgbImage};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Perturbation {
    /// Re-encode as JPEG at this quality (1-100).
    Jpeg(u8),
    /// Gaussian blur with this sigma (pixels).
    Blur(f32),
    /// Resize by this factor (bilinear), e.g. 0.5.
    Resize(f32),
    /// Re-encode as HEIC (HEVC, as an iPhone stores photos) at this libheif quality (1-100);
    /// needs the system's libheif.
    Heic(u8),
}

impl fmt::Display for Perturbation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Perturbation::Jpeg(q) => write!(f, "jpeg:{q}"),
            Perturbation::Blur(s) => write!(f, "blur:{s:?}"),
            Perturbation::Resize(r) => write!(f, "resize:{r:?}"),
            Perturbation::Heic(q) => write!(f, "heic:{q}"),
        }
    }
}

impl Perturbation {
    /// In words, for a report's reader: "JPEG quality 75", "Gaussian blur sigma 1.0 px", ...
    pub fn describe(&self) -> String {
        match self {
            Perturbation::Jpeg(q) => format!("JPEG quality {q}"),
            Perturbation::Blur(s) => format!("Gaussian blur sigma {s:?} px"),
            Perturbation::Resize(r) => format!("resized by {r:?}"),
            Perturbation::Heic(q) => format!("HEIC quality {q}"),
        }
    }
}

impl std::str::FromStr for Perturbation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, v) = s.split_once(':').ok_or_else(|| {
            format!("'{s}': expected KIND:VALUE (jpeg:75, blur:1.0, resize:0.5, heic:50)")
        })?;
        let bad = || format!("'{s}': bad value");
        match k {
            "jpeg" => v
                .parse::<u8>()
                .ok()
                .filter(|q| (1..=100).contains(q))
                .map(Perturbation::Jpeg)
                .ok_or_else(bad),
            "blur" => v
                .parse::<f32>()
                .ok()
                .filter(|x| *x > 0.0 && *x <= 20.0)
                .map(Perturbation::Blur)
                .ok_or_else(bad),
            "resize" => v
                .parse::<f32>()
                .ok()
                .filter(|x| *x > 0.05 && *x <= 4.0)
                .map(Perturbation::Resize)
                .ok_or_else(bad),
            "heic" => {
                let q = v
                    .parse::<u8>()
                    .ok()
                    .filter(|q| (1..=100).contains(q))
                    .ok_or_else(bad)?;
                crate::heif::version()
                    .map_err(|e| format!("'{s}': {e}; {}", crate::heif::INSTALL_HINT))?;
                Ok(Perturbation::Heic(q))
            }
            _ => Err(format!(
                "'{s}': unknown perturbation '{k}' (jpeg, blur, resize, heic)"
            )),
        }
    }
}

/// Parses a comma-separated list such as `jpeg:75,blur:1.0,resize:0.5`.
pub fn parse_list(s: &str) -> Result<Vec<Perturbation>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse())
        .collect()
}

impl Perturbation {
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        match *self {
            Perturbation::Jpeg(q) => {
                let mut buf = Vec::new();
                let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, q);
                if img.write_with_encoder(enc).is_err() {
                    return img.clone();
                }
                image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
                    .map(|d| d.into_rgb8())
                    .unwrap_or_else(|_| img.clone())
            }
            Perturbation::Heic(q) => {
                use crate::heif::{encode, Codec, Heif};
                // A failed round trip leaves the picture as it was, and says so: an evaluation
                // must not pass an unperturbed image off as a perturbed one without a word.
                encode(img, Codec::Hevc, q)
                    .and_then(|b| Heif::open(&b, 1 << 16)?.decode_rgb())
                    .unwrap_or_else(|e| {
                        eprintln!(
                            "warning: heic:{q} round trip failed on a {}x{} picture ({e}); it was scored unperturbed",
                            img.width(),
                            img.height()
                        );
                        img.clone()
                    })
            }
            Perturbation::Blur(s) => imageops::blur(img, s),
            Perturbation::Resize(r) => {
                let w = ((img.width() as f32 * r).round() as u32).max(1);
                let h = ((img.height() as f32 * r).round() as u32).max(1);
                imageops::resize(img, w, h, imageops::FilterType::Triangle)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_apply() {
        let l = parse_list("jpeg:75,blur:1.0,resize:0.5").unwrap();
        assert_eq!(
            l,
            vec![
                Perturbation::Jpeg(75),
                Perturbation::Blur(1.0),
                Perturbation::Resize(0.5)
            ]
        );
        assert!(parse_list("jpeg:0").is_err());
        assert!(parse_list("sharpen:2").is_err());
        let img = RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, ((x + y) % 2 * 255) as u8])
        });
        assert_eq!(Perturbation::Resize(0.5).apply(&img).dimensions(), (20, 15));
        let j = Perturbation::Jpeg(50).apply(&img);
        assert_eq!(j.dimensions(), (40, 30));
        assert_ne!(j, img);
        let b = Perturbation::Blur(1.0).apply(&img);
        // Blur removes the 1-pixel checker in the blue channel.
        let var = |im: &RgbImage| {
            im.pixels()
                .map(|p| (p.0[2] as f64 - 127.5).powi(2))
                .sum::<f64>()
        };
        assert!(var(&b) < var(&img) * 0.5);
        assert_eq!(Perturbation::Jpeg(75).to_string(), "jpeg:75");
        if crate::heif::available_for_tests() {
            assert_eq!(parse_list("heic:50").unwrap(), vec![Perturbation::Heic(50)]);
            let h = Perturbation::Heic(30).apply(&img);
            assert_eq!(h.dimensions(), (40, 30));
            assert_ne!(h, img);
            assert_eq!(Perturbation::Heic(50).to_string(), "heic:50");
        }
    }
}
