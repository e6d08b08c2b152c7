//! Embedded ICC colour profiles. CLIP and every detector here were trained on sRGB pixels, and
//! the viewer shows sRGB. A photo in Display P3 (iPhones), Adobe RGB (many cameras) or ProPhoto
//! read as if it were sRGB looks washed out and gives the detector values it never saw. The
//! loader converts RGB and grey profiles to sRGB with moxcms (a pure-Rust colour management
//! engine) and says what it did. Profiles it cannot apply are named and left alone.

use image::RgbImage;
use moxcms::{CmsError, ColorProfile, DataColorSpace, Layout, ProfileText, TransformOptions};
use rayon::prelude::*;
use serde::Serialize;

/// What the loader found and did with an image's embedded colour profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColourProfile {
    /// The profile's own description (its `desc` tag), or "unnamed".
    pub description: String,
    /// The pixels were converted from this profile to sRGB.
    pub converted: bool,
    /// The profile is sRGB in effect: nothing to tell the examiner beyond the file facts.
    pub srgb_equivalent: bool,
    /// One sentence for the examiner: what was done and why.
    pub note: String,
}

impl ColourProfile {
    /// A profile left unapplied: the pixels stay as decoded, and `note` says why.
    pub fn unapplied(description: &str, note: String) -> Self {
        Self {
            description: description.into(),
            converted: false,
            srgb_equivalent: false,
            note,
        }
    }

    /// Whether the image's warnings should carry the note: the pixels were converted, or a
    /// profile that is not sRGB was left unapplied.
    pub fn needs_notice(&self) -> bool {
        !self.srgb_equivalent
    }
}

fn text(t: &ProfileText) -> Option<String> {
    let s = match t {
        ProfileText::PlainString(s) => s.clone(),
        ProfileText::Localizable(v) => v
            .iter()
            .find(|l| l.language == "en")
            .or_else(|| v.first())
            .map(|l| l.value.clone())?,
        ProfileText::Description(d) => {
            if d.ascii_string.trim().is_empty() {
                d.unicode_string.clone()
            } else {
                d.ascii_string.clone()
            }
        }
    };
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    let s = s.trim();
    (!s.is_empty()).then(|| s.chars().take(120).collect())
}

/// Applies the embedded profile `icc` to `rgb` in place (8-bit RGB from the decoder) and reports
/// what was done. `source_colour` is the decoder's colour type, e.g. `Rgb8`, `L16`, `Cmyk8`.
pub fn apply_icc(rgb: &mut RgbImage, icc: &[u8], source_colour: &str) -> ColourProfile {
    let profile = match ColorProfile::new_from_slice(icc) {
        Ok(p) => p,
        Err(e) => {
            return ColourProfile::unapplied(
                "unreadable",
                format!(
                    "embedded ICC profile ({} bytes) could not be read ({e:?}): colours were taken as sRGB",
                    icc.len()
                ),
            )
        }
    };
    let description = profile
        .description
        .as_ref()
        .and_then(text)
        .unwrap_or_else(|| "unnamed".into());
    let not_applied = |why: &str| {
        ColourProfile::unapplied(
            &description,
            format!("ICC profile '{description}' not applied ({why}): colours were taken as sRGB"),
        )
    };
    // An RGB profile describes an RGB image, a grey one a grey image (decoded as R = G = B).
    // Any other pairing, or a CMYK profile (the decoder has already turned CMYK into RGB), does
    // not describe the decoded values.
    let grey = match (profile.color_space, source_colour) {
        (DataColorSpace::Rgb, c) if c.starts_with("Rgb") => false,
        (DataColorSpace::Gray, c) if c.starts_with('L') => true,
        (DataColorSpace::Rgb | DataColorSpace::Gray, c) => {
            return not_applied(&format!("the image is {c}"))
        }
        (space, _) => return not_applied(&format!("a {space:?} profile")),
    };
    let srgb = ColorProfile::new_srgb();
    let (layout, channels) = if grey {
        (Layout::Gray, 1)
    } else {
        (Layout::Rgb, 3)
    };
    let transform = match profile.create_transform_8bit(
        layout,
        &srgb,
        Layout::Rgb,
        TransformOptions::default(),
    ) {
        Ok(t) => t,
        Err(e) => return not_applied(&format!("no transform to sRGB: {e:?}")),
    };
    // The transform's input: the decoded pixels, or one channel of them for a grey image.
    let input: std::borrow::Cow<[u8]> = if grey {
        rgb.as_raw().iter().step_by(3).copied().collect()
    } else {
        rgb.as_raw().as_slice().into()
    };
    // In bands of rows across the thread pool: a 12-Mpixel photo costs tens of milliseconds.
    let rows = rgb.width() as usize * 64;
    let mut out = vec![0u8; rgb.as_raw().len()];
    let done: Result<Vec<(u32, u64)>, CmsError> = input
        .par_chunks(channels * rows)
        .zip(out.par_chunks_mut(3 * rows))
        .zip(rgb.as_raw().par_chunks(3 * rows))
        .map(|((src, dst), decoded)| {
            transform.transform(src, dst)?;
            // How far the values moved, for the report and the sRGB-under-another-name check.
            Ok(decoded
                .iter()
                .zip(dst.iter())
                .fold((0u32, 0u64), |(m, s), (&a, &b)| {
                    let d = (a as i32 - b as i32).unsigned_abs();
                    (m.max(d), s + d as u64)
                }))
        })
        .collect();
    let (max, sum) = match done {
        Ok(v) => v
            .into_iter()
            .fold((0, 0), |(m, s), (bm, bs)| (m.max(bm), s + bs)),
        Err(e) => return not_applied(&format!("the transform failed: {e:?}")),
    };
    // A profile that is sRGB under another name moves values by rounding only: keep the decoded
    // pixels untouched then, so that such files score exactly as they did before.
    let mean = sum as f64 / out.len().max(1) as f64;
    if max <= 2 && mean < 0.5 {
        return ColourProfile {
            description: description.clone(),
            converted: false,
            srgb_equivalent: true,
            note: format!("ICC profile '{description}': the same as sRGB, left as decoded"),
        };
    }
    rgb.copy_from_slice(&out);
    ColourProfile {
        description: description.clone(),
        converted: true,
        srgb_equivalent: false,
        note: format!(
            "ICC profile '{description}' converted to sRGB before the analysis (values moved by up to {max} levels, {mean:.1} on average)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saturated() -> RgbImage {
        RgbImage::from_fn(16, 8, |x, y| {
            image::Rgb([(x * 16) as u8, (y * 32) as u8, if x > 8 { 250 } else { 10 }])
        })
    }

    #[test]
    fn display_p3_is_converted_and_srgb_is_left_alone() {
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let mut img = saturated();
        let before = img.clone();
        let c = apply_icc(&mut img, &p3, "Rgb8");
        assert!(c.converted, "{c:?}");
        assert!(c.needs_notice());
        assert!(c.note.contains("converted to sRGB"), "{}", c.note);
        // P3's red is outside sRGB: a saturated P3 red maps to (clipped) pure red, and a P3
        // mid-red becomes a more saturated sRGB red.
        assert_ne!(img, before);
        let mut red = RgbImage::from_pixel(2, 2, image::Rgb([200, 30, 30]));
        apply_icc(&mut red, &p3, "Rgb8");
        let p = red.get_pixel(0, 0).0;
        assert!(p[0] > 200 && p[1] < 30, "{p:?}");

        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let mut img = saturated();
        let c = apply_icc(&mut img, &srgb, "Rgb8");
        assert!(!c.converted && !c.needs_notice(), "{c:?}");
        assert_eq!(img, saturated());
    }

    #[test]
    fn a_grey_profile_is_applied_to_a_grey_image() {
        let ramp = || RgbImage::from_fn(64, 4, |x, _| image::Rgb([(x * 4) as u8; 3]));
        // Gamma 1.8 (the old Mac grey) encodes mid-tones darker than sRGB does: converting
        // lifts the middle of the ramp (128 becomes about 145) and keeps the ends.
        let g18 = ColorProfile::new_gray_with_gamma(1.8).encode().unwrap();
        let mut img = ramp();
        let c = apply_icc(&mut img, &g18, "L8");
        assert!(c.converted, "{c:?}");
        for p in img.pixels() {
            assert!(p[0] == p[1] && p[1] == p[2], "still grey: {p:?}");
        }
        assert_eq!(img.get_pixel(0, 0)[0], 0);
        assert!(img.get_pixel(63, 0)[0] >= 250);
        assert!(img.get_pixel(32, 0)[0] > 135, "{:?}", img.get_pixel(32, 0));
        // A grey profile on an RGB image is not applied.
        let mut img = ramp();
        let c = apply_icc(&mut img, &g18, "Rgb8");
        assert!(
            !c.converted && c.note.contains("the image is Rgb8"),
            "{}",
            c.note
        );
        assert_eq!(img, ramp());
    }

    #[test]
    fn unusable_profiles_are_named_and_not_applied() {
        let mut img = saturated();
        let c = apply_icc(&mut img, b"not an ICC profile at all", "Rgb8");
        assert!(!c.converted && c.needs_notice());
        assert!(c.note.contains("could not be read"), "{}", c.note);
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let c = apply_icc(&mut img, &p3, "L8");
        assert!(
            !c.converted && c.note.contains("the image is L8"),
            "{}",
            c.note
        );
        assert_eq!(img, saturated());
    }
}
