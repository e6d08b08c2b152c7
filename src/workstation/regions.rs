//! The region map: one detector's calibrated probability on every native-resolution tile of the
//! image, for large images of which a detector's own crops read only a small part. It is a map
//! to look at, not a verdict: the verdict stays the detector's own, calibrated on its own crops.

use super::Engine;
use crate::detect::Detector;
use crate::imageio::LoadedImage;
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use crate::model::preprocess::{
    covered_fraction, crop_rects, preprocess_rects, CropMode, CropRect,
};
use anyhow::{bail, Result};
use serde::Serialize;

/// The most tiles a region map reads unless told otherwise: a 4480 x 4480 px image (20 MP) is
/// covered whole; a larger one gets this many tiles spread over it.
pub const DEFAULT_MAX_TILES: usize = 400;

/// Tiles per forward pass.
const BATCH: usize = 16;

/// One tile's reading.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RegionTile {
    pub rect: CropRect,
    pub score: f32,
    pub probability: f32,
    /// Above the detector's threshold.
    pub flagged: bool,
}

/// One detector's reading of every tile.
#[derive(Debug, Clone, Serialize)]
pub struct RegionMap {
    pub detector: String,
    pub threshold: f32,
    /// The detector's calibration target: the share of real photos' crops it flags.
    pub target_fpr: f64,
    /// How the detector was calibrated: on one crop (`center`) or on the mean of several.
    pub calibrated_on: CropMode,
    pub tiles: Vec<RegionTile>,
    /// Share of the image the tiles cover (1 unless the tile cap was reached).
    pub coverage: f64,
}

/// A region map as `scan --json` and the report sidecar give it: counts, the summary line, and
/// every tile under `map`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub detector: String,
    pub summary: String,
    pub tiles: usize,
    pub flagged: usize,
    pub coverage: f64,
    pub threshold: f32,
    pub map: Vec<RegionTile>,
}

impl RegionReport {
    /// "3 of 9 tiles flagged", for summary tables.
    pub fn flagged_count(&self) -> String {
        format!("{} of {} tiles flagged", self.flagged, self.tiles)
    }
}

impl From<RegionMap> for RegionReport {
    fn from(m: RegionMap) -> Self {
        Self {
            summary: m.summary(),
            tiles: m.tiles.len(),
            flagged: m.flagged(),
            coverage: m.coverage,
            threshold: m.threshold,
            detector: m.detector,
            map: m.tiles,
        }
    }
}

/// Refuses a region map with a detector that reads a resized copy of the image (`clip`): its
/// threshold does not hold for native-resolution tiles.
pub fn check_detector(m: &crate::detect::DetectorMeta) -> Result<()> {
    if m.crop == CropMode::Clip {
        bail!(
            "{} reads a resized copy of the image (crop mode clip), so its threshold does not hold for native-resolution tiles; a region map needs a detector that reads native crops (mpft, pin, probe-blocks)",
            m.name
        );
    }
    Ok(())
}

impl RegionMap {
    pub fn flagged(&self) -> usize {
        self.tiles.iter().filter(|t| t.flagged).count()
    }

    /// The tile with the highest score.
    pub fn max(&self) -> Option<&RegionTile> {
        self.tiles.iter().max_by(|a, b| a.score.total_cmp(&b.score))
    }

    /// A partition of the image into one cell per tile, for drawing: tiles overlap, and each
    /// cell is the part of the image nearer to its tile's centre than to its neighbours'. None
    /// when the tiles do not form a full grid (the tile cap was reached).
    pub fn cells(&self, w: u32, h: u32) -> Option<Vec<CropRect>> {
        let axis = |pos: Vec<u32>, size: u32, len: u32| -> Vec<(u32, u32, u32)> {
            // (tile start, cell start, cell end) along one axis.
            let mut p = pos;
            p.sort_unstable();
            p.dedup();
            let mid = |a: u32, b: u32| (a + b + size) / 2;
            (0..p.len())
                .map(|i| {
                    let lo = if i == 0 { 0 } else { mid(p[i - 1], p[i]) };
                    let hi = if i + 1 == p.len() {
                        len
                    } else {
                        mid(p[i], p[i + 1])
                    };
                    (p[i], lo, hi.max(lo))
                })
                .collect()
        };
        let first = self.tiles.first()?.rect;
        let xs = axis(self.tiles.iter().map(|t| t.rect.x).collect(), first.w, w);
        let ys = axis(self.tiles.iter().map(|t| t.rect.y).collect(), first.h, h);
        if xs.len() * ys.len() != self.tiles.len() {
            return None;
        }
        self.tiles
            .iter()
            .map(|t| {
                let (_, x0, x1) = *xs.iter().find(|a| a.0 == t.rect.x)?;
                let (_, y0, y1) = *ys.iter().find(|a| a.0 == t.rect.y)?;
                Some(CropRect {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                })
            })
            .collect()
    }

    /// One line for a table or a report.
    pub fn summary(&self) -> String {
        let max = self
            .max()
            .map(|t| {
                format!(
                    "; highest p {:.2} at x {}, y {}",
                    t.probability, t.rect.x, t.rect.y
                )
            })
            .unwrap_or_default();
        let cover = if self.coverage < 0.999 {
            format!(", covering {:.0}% of the image", self.coverage * 100.0)
        } else {
            String::new()
        };
        format!(
            "{}: {} of {} tiles above the threshold{cover}{max}",
            self.detector,
            self.flagged(),
            self.tiles.len()
        )
    }
}

impl Engine {
    /// Reads every native-resolution tile of `img` (at most `max_tiles`, spread evenly) with `det`.
    /// Refused for a detector that reads a resized image (`clip`): its threshold does not hold
    /// for native tiles.
    pub fn region_map(
        &self,
        img: &LoadedImage,
        det: &dyn Detector,
        max_tiles: usize,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<RegionMap> {
        let m = det.meta();
        check_detector(m)?;
        if max_tiles == 0 {
            bail!("a region map needs at least one tile");
        }
        let size = self.image_size();
        let (w, h) = img.rgb.dimensions();
        let rects = crop_rects(w, h, size, CropMode::Tiles(max_tiles));
        let mut tiles = Vec::with_capacity(rects.len());
        for chunk in rects.chunks(BATCH) {
            if cancel.is_cancelled() {
                bail!("cancelled");
            }
            let crops = preprocess_rects(&img.rgb, size, chunk);
            let refs: Vec<&Vec<f32>> = crops.iter().collect();
            let logits = det.logits(&self.pixels(&refs)?)?;
            for (r, &score) in chunk.iter().zip(&logits) {
                tiles.push(RegionTile {
                    rect: *r,
                    score,
                    probability: m.calibration.probability(score),
                    flagged: score > m.calibration.threshold,
                });
            }
            progress(Progress::new(
                "region map",
                tiles.len(),
                rects.len(),
                img.path.display().to_string(),
            ));
        }
        Ok(RegionMap {
            detector: m.name.clone(),
            threshold: m.calibration.threshold,
            target_fpr: m.calibration.target_fpr as f64,
            calibrated_on: m.crop,
            coverage: covered_fraction(&rects, w, h),
            tiles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(w: u32, h: u32, n: usize) -> RegionMap {
        let tiles = crop_rects(w, h, 224, CropMode::Tiles(n))
            .into_iter()
            .map(|rect| RegionTile {
                rect,
                score: 0.0,
                probability: 0.5,
                flagged: false,
            })
            .collect();
        RegionMap {
            detector: "d".into(),
            threshold: 0.0,
            target_fpr: 0.05,
            calibrated_on: CropMode::Center,
            tiles,
            coverage: 1.0,
        }
    }

    #[test]
    fn cells_partition_the_image_one_per_tile() {
        for (w, h) in [(1000, 700), (4000, 3000), (224, 224), (500, 375)] {
            let m = map(w, h, DEFAULT_MAX_TILES);
            let cells = m.cells(w, h).unwrap();
            assert_eq!(cells.len(), m.tiles.len());
            let area: u64 = cells.iter().map(|c| c.w as u64 * c.h as u64).sum();
            assert_eq!(area, w as u64 * h as u64, "{w}x{h}");
            assert_eq!(covered_fraction(&cells, w, h), 1.0);
            // Each cell lies inside its tile.
            for (c, t) in cells.iter().zip(&m.tiles) {
                let r = t.rect;
                assert!(c.x >= r.x && c.x + c.w <= r.x + r.w, "{c:?} {r:?}");
                assert!(c.y >= r.y && c.y + c.h <= r.y + r.h, "{c:?} {r:?}");
            }
        }
        // Capped: no full grid, no cells.
        assert!(map(4000, 3000, 10).cells(4000, 3000).is_none());
    }
}
