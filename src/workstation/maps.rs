//! Explanation maps as pictures: the colour map, smooth upsampling of patch maps, and overlays
//! composited onto the image (for reports; the window draws the same maps as textures).

use super::analyze::{Analysis, PatchMap};
use super::regions::RegionMap;
use super::settings::{OverlayKind, OverlaySettings};
use anyhow::{bail, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// The maps an overlay setting selects from an analysis (none for the original and for the
/// region map, which is drawn from its own tiles).
pub fn selected_maps<'a>(a: &'a Analysis, o: &OverlaySettings) -> Vec<&'a PatchMap> {
    match o.kind {
        OverlayKind::None | OverlayKind::Regions => vec![],
        OverlayKind::Tam => a.tam.iter().map(|t| &t.scores).collect(),
        OverlayKind::Attention => {
            let last = a.rollout.len().saturating_sub(1);
            let l = o.layer.unwrap_or(last).min(last);
            a.rollout
                .get(l)
                .map(|v| v.iter().collect())
                .unwrap_or_default()
        }
    }
}

/// `img` scaled down (never up) to at most `max_side` px on its longer side, and the scale.
pub fn downscaled(img: &RgbImage, max_side: u32) -> (RgbImage, f32) {
    let (w, h) = img.dimensions();
    let scale = (max_side as f32 / w.max(h).max(1) as f32).min(1.0);
    if scale >= 1.0 {
        return (img.clone(), 1.0);
    }
    let small = image::imageops::resize(
        img,
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
        image::imageops::FilterType::Triangle,
    );
    (small, scale)
}

/// The picture the viewer shows for `a`, the analysis of the file at `path`, as one image to
/// copy or save: the upright picture at up to `max_side` px with the overlay `o` selects
/// composited at its opacity (the analysed region framed, a colour bar below), or the picture
/// alone for the original. The file is read again (read-only) and must still be the one that
/// was analysed.
pub fn view_picture(
    path: &Path,
    a: &Analysis,
    o: &OverlaySettings,
    regions: Option<&RegionMap>,
    max_side: u32,
) -> Result<RgbImage> {
    let img = crate::imageio::load_image(path, &Default::default())?;
    if img.facts.sha256 != a.facts.sha256 {
        bail!(
            "{}: the file changed since it was analysed (SHA-256 {} then, {} now): analyse it again",
            path.display(),
            a.facts.sha256,
            img.facts.sha256
        );
    }
    let (small, scale) = downscaled(&img.rgb, max_side);
    Ok(match o.kind {
        OverlayKind::None => small,
        OverlayKind::Regions => match regions {
            Some(m) => region_picture(&small, m, scale, o.opacity),
            None => bail!("no region map has been made for this image yet"),
        },
        OverlayKind::Tam | OverlayKind::Attention => {
            composite(&small, &selected_maps(a, o), scale, o.opacity)
        }
    })
}

/// Viridis-like colour map (dark purple, blue, teal, green, yellow) through five stops;
/// `t` in [0, 1].
pub fn colormap(t: f32) -> [u8; 3] {
    const STOPS: [(f32, [f32; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in STOPS.windows(2) {
        let (t0, c0) = w[0];
        let (t1, c1) = w[1];
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            return [0, 1, 2].map(|i| (c0[i] + f * (c1[i] - c0[i])).round() as u8);
        }
    }
    [253, 231, 37]
}

/// The map's value at a point given in patch units (bilinear between patch centres).
pub fn sample(map: &PatchMap, fx: f32, fy: f32) -> f32 {
    let g = map.grid.max(1);
    let at = |x: usize, y: usize| map.values.get(y * g + x).copied().unwrap_or(0.0);
    let fx = (fx - 0.5).clamp(0.0, (g - 1) as f32);
    let fy = (fy - 0.5).clamp(0.0, (g - 1) as f32);
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(g - 1), (y0 + 1).min(g - 1));
    let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
    (1.0 - wy) * ((1.0 - wx) * at(x0, y0) + wx * at(x1, y0))
        + wy * ((1.0 - wx) * at(x0, y1) + wx * at(x1, y1))
}

/// `img` (the full upright image, possibly downscaled by `scale` from analysis coordinates)
/// with the maps blended over their regions at `opacity`, each region framed in yellow, and a
/// colour bar along the bottom (low on the left, high on the right).
pub fn composite(img: &RgbImage, maps: &[&PatchMap], scale: f32, opacity: f32) -> RgbImage {
    let bar = 14u32;
    let (w, h) = img.dimensions();
    let mut out = RgbImage::from_pixel(w, h + bar, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, img, 0, 0);
    let a = opacity.clamp(0.0, 1.0);
    for m in maps {
        let r = m.rect;
        let (x0, y0) = ((r.x as f32 * scale) as u32, (r.y as f32 * scale) as u32);
        let (x1, y1) = (
            (((r.x + r.w) as f32 * scale) as u32).min(w),
            (((r.y + r.h) as f32 * scale) as u32).min(h),
        );
        let (rw, rh) = ((x1 - x0).max(1) as f32, (y1 - y0).max(1) as f32);
        let g = m.grid as f32;
        blend(&mut out, (x0, y0, x1, y1), a, |x, y| {
            colormap(sample(
                m,
                (x - x0) as f32 / rw * g,
                (y - y0) as f32 / rh * g,
            ))
        });
        let yellow = Rgb([255, 200, 0]);
        for x in x0..x1 {
            for y in [y0, y1.saturating_sub(1)] {
                out.put_pixel(x, y, yellow);
            }
        }
        for y in y0..y1 {
            for x in [x0, x1.saturating_sub(1)] {
                out.put_pixel(x, y, yellow);
            }
        }
    }
    colour_bar(&mut out, h, bar);
    out
}

/// Blends `colour(x, y)` over the pixels of `(x0, y0, x1, y1)` at opacity `a`.
fn blend(
    out: &mut RgbImage,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    a: f32,
    colour: impl Fn(u32, u32) -> [u8; 3],
) {
    for y in y0..y1 {
        for x in x0..x1 {
            let c = colour(x, y);
            let p = out.get_pixel_mut(x, y);
            for (o, ci) in p.0.iter_mut().zip(c) {
                *o = (*o as f32 * (1.0 - a) + ci as f32 * a).round() as u8;
            }
        }
    }
}

/// The colour bar (low on the left, high on the right) in the `bar` rows below row `h`.
fn colour_bar(out: &mut RgbImage, h: u32, bar: u32) {
    let w = out.width();
    for x in 0..w {
        let c = colormap(x as f32 / (w.max(2) - 1) as f32);
        for y in h + 3..h + bar - 2 {
            out.put_pixel(x, y, Rgb(c));
        }
    }
}

/// `img` (as in [`composite`]) with each tile's cell of a region map filled in its probability's
/// colour at `opacity`, cells above the threshold outlined in red, and the colour bar.
pub fn region_picture(
    img: &RgbImage,
    map: &super::regions::RegionMap,
    scale: f32,
    opacity: f32,
) -> RgbImage {
    let bar = 14u32;
    let (w, h) = img.dimensions();
    let mut out = RgbImage::from_pixel(w, h + bar, Rgb([255, 255, 255]));
    image::imageops::replace(&mut out, img, 0, 0);
    let a = opacity.clamp(0.0, 1.0);
    let (fw, fh) = (
        (w as f32 / scale).round() as u32,
        (h as f32 / scale).round() as u32,
    );
    let rects: Vec<_> = map
        .cells(fw, fh)
        .unwrap_or_else(|| map.tiles.iter().map(|t| t.rect).collect());
    let px = |v: u32, lim: u32| ((v as f32 * scale) as u32).min(lim);
    for (t, r) in map.tiles.iter().zip(&rects) {
        let c = colormap(t.probability);
        let area = (px(r.x, w), px(r.y, h), px(r.x + r.w, w), px(r.y + r.h, h));
        blend(&mut out, area, a, |_, _| c);
    }
    let red = Rgb([255, 60, 60]);
    for (_, r) in map.tiles.iter().zip(&rects).filter(|(t, _)| t.flagged) {
        let (x0, y0, x1, y1) = (px(r.x, w), px(r.y, h), px(r.x + r.w, w), px(r.y + r.h, h));
        if x1 <= x0 + 2 || y1 <= y0 + 2 {
            continue;
        }
        for x in x0 + 1..x1 - 1 {
            out.put_pixel(x, y0 + 1, red);
            out.put_pixel(x, y1 - 2, red);
        }
        for y in y0 + 1..y1 - 1 {
            out.put_pixel(x0 + 1, y, red);
            out.put_pixel(x1 - 2, y, red);
        }
    }
    colour_bar(&mut out, h, bar);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preprocess::CropRect;

    #[test]
    fn composite_blends_inside_the_region_only_and_adds_a_colour_bar() {
        let img = RgbImage::from_pixel(40, 20, Rgb([0, 0, 0]));
        let map = PatchMap {
            rect: CropRect {
                x: 20,
                y: 0,
                w: 20,
                h: 20,
            },
            grid: 2,
            values: vec![1.0; 4],
        };
        let out = composite(&img, &[&map], 1.0, 1.0);
        assert_eq!(out.dimensions(), (40, 34));
        assert_eq!(*out.get_pixel(5, 5), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(30, 10), Rgb(colormap(1.0)));
        assert_eq!(*out.get_pixel(0, 28), Rgb(colormap(0.0)));
        assert_eq!(*out.get_pixel(39, 28), Rgb(colormap(1.0)));
    }
}
