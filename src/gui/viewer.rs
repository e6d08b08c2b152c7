//! The central viewer: the image with fit / zoom / pan, and an explanation map (TAM texture or
//! attention rollout) drawn over the analysed region, smoothly upsampled, with a legend.

use crate::model::preprocess::CropRect;
use crate::workstation::analyze::{Analysis, PatchMap};
use crate::workstation::regions::RegionMap;
use crate::workstation::settings::{OverlayKind, OverlaySettings};
use egui::{Color32, ColorImage, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions, Vec2};

pub use crate::workstation::maps::{colormap, selected_maps};

/// A patch map upsampled bilinearly (between patch centres) to `scale` pixels per patch and
/// coloured; alpha is opaque (opacity is applied when drawing).
pub fn overlay_image(map: &PatchMap, scale: usize) -> ColorImage {
    let n = map.grid.max(1) * scale;
    let px = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32 + 0.5, (i / n) as f32 + 0.5);
            let [r, g, b] = colormap(crate::workstation::maps::sample(
                map,
                x / scale as f32,
                y / scale as f32,
            ));
            Color32::from_rgb(r, g, b)
        })
        .collect();
    ColorImage::new([n, n], px)
}

/// Viewer state (zoom and pan); None zoom = fit.
#[derive(Default)]
pub struct ViewState {
    pub zoom: Option<f32>,
    pub pan: Vec2,
}

/// What the viewer draws.
pub struct ViewInput<'a> {
    pub image: &'a TextureHandle,
    /// Full image size (analysis coordinates).
    pub size: [u32; 2],
    pub analysis: Option<&'a Analysis>,
    pub overlays: &'a [TextureHandle],
    pub settings: &'a OverlaySettings,
    /// The region map, drawn when the overlay is `Regions`.
    pub regions: Option<&'a RegionMap>,
}

/// Draws the image and overlay; handles scroll-zoom and drag-pan.
pub fn show(ui: &mut egui::Ui, st: &mut ViewState, v: &ViewInput) {
    // Within what is visible: a toolbar row wider than a narrow window grows the panel's
    // layout rect past its edge, and the picture would be fitted to that.
    let avail = ui.available_rect_before_wrap().intersect(ui.clip_rect());
    let resp = ui.allocate_rect(avail, Sense::click_and_drag());
    let [w, h] = [v.size[0].max(1) as f32, v.size[1].max(1) as f32];
    let fit = (avail.width() / w).min(avail.height() / h);
    let mut zoom = st.zoom.unwrap_or(fit);
    if resp.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let factor = (scroll / 200.0).exp();
            let new = (zoom * factor).clamp(fit.min(0.05), 32.0);
            // Keep the point under the cursor fixed.
            if let Some(p) = resp.hover_pos() {
                let c = avail.center() + st.pan;
                let d = p - c;
                st.pan += d - d * (new / zoom);
            }
            zoom = new;
            st.zoom = Some(zoom);
        }
    }
    if resp.dragged() {
        st.pan += resp.drag_delta();
    }
    if resp.double_clicked() {
        *st = ViewState::default();
        zoom = fit;
    }
    let img_rect = Rect::from_center_size(avail.center() + st.pan, Vec2::new(w, h) * zoom);
    let painter = ui.painter_at(avail);
    painter.rect_filled(avail, 0.0, Color32::from_gray(24));
    let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
    painter.image(v.image.id(), img_rect, uv, Color32::WHITE);
    let Some(a) = v.analysis else {
        return;
    };
    let to_screen = |x: f32, y: f32| img_rect.min + Vec2::new(x, y) * zoom;
    // A rectangle in image pixels, on the screen.
    let screen = |r: CropRect| {
        Rect::from_min_max(
            to_screen(r.x as f32, r.y as f32),
            to_screen((r.x + r.w) as f32, (r.y + r.h) as f32),
        )
    };
    let maps = selected_maps(a, v.settings);
    let alpha = (v.settings.opacity.clamp(0.0, 1.0) * 255.0) as u8;
    for (m, tex) in maps.iter().zip(v.overlays) {
        let rect = screen(m.rect);
        painter.image(tex.id(), rect, uv, Color32::from_white_alpha(alpha));
    }
    if let (OverlayKind::Regions, Some(map)) = (v.settings.kind, v.regions) {
        // Each tile's cell (or the tile itself, when the tiles are not a full grid) filled with
        // its probability's colour; cells above the threshold outlined.
        let rects: Vec<_> = map
            .cells(v.size[0], v.size[1])
            .unwrap_or_else(|| map.tiles.iter().map(|t| t.rect).collect());
        for (t, r) in map.tiles.iter().zip(&rects) {
            let rect = screen(*r);
            let [cr, cg, cb] = colormap(t.probability);
            painter.rect_filled(
                rect.shrink(0.5),
                0.0,
                Color32::from_rgba_unmultiplied(cr, cg, cb, alpha),
            );
        }
        for (_, r) in map.tiles.iter().zip(&rects).filter(|(t, _)| t.flagged) {
            painter.rect_stroke(
                screen(*r).shrink(1.0),
                0.0,
                Stroke::new(1.5, Color32::from_rgb(255, 80, 80)),
                egui::StrokeKind::Inside,
            );
        }
    }
    // The analysed region(s), and the patches TAM would mask.
    for t in &a.tam {
        let rect = screen(t.scores.rect);
        painter.rect_stroke(
            rect,
            0.0,
            Stroke::new(1.5, Color32::from_rgb(255, 200, 0)),
            egui::StrokeKind::Outside,
        );
        if v.settings.show_masked && v.settings.kind != OverlayKind::None {
            let g = t.scores.grid.max(1);
            let cell = rect.width() / g as f32;
            for (i, masked) in t.masked.iter().enumerate() {
                if *masked {
                    let (x, y) = ((i % g) as f32, (i / g) as f32);
                    let c = Rect::from_min_size(
                        rect.min + Vec2::new(x * cell, y * cell),
                        Vec2::splat(cell),
                    )
                    .shrink(1.0);
                    painter.rect_stroke(
                        c,
                        0.0,
                        Stroke::new(1.0, Color32::from_rgb(255, 80, 80)),
                        egui::StrokeKind::Inside,
                    );
                }
            }
        }
    }
}

/// A horizontal colour bar with end labels.
pub fn legend(ui: &mut egui::Ui, low: &str, high: &str) {
    ui.horizontal(|ui| {
        ui.label(low);
        let (rect, _) = ui.allocate_exact_size(Vec2::new(160.0, 12.0), Sense::hover());
        let p = ui.painter();
        let steps = 32;
        for i in 0..steps {
            let t = i as f32 / (steps - 1) as f32;
            let [r, g, b] = colormap(t);
            let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
            let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
            p.rect_filled(
                Rect::from_min_max(Pos2::new(x0, rect.top()), Pos2::new(x1, rect.bottom())),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        ui.label(high);
    });
}

/// Uploads a map as a smooth texture.
pub fn upload(ctx: &egui::Context, name: &str, map: &PatchMap) -> TextureHandle {
    ctx.load_texture(name, overlay_image(map, 8), TextureOptions::LINEAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preprocess::CropRect;

    #[test]
    fn colormap_ends_and_overlay_follows_values() {
        assert_eq!(colormap(0.0), [68, 1, 84]);
        assert_eq!(colormap(1.0), [253, 231, 37]);
        let map = PatchMap {
            rect: CropRect {
                x: 0,
                y: 0,
                w: 32,
                h: 32,
            },
            grid: 2,
            values: vec![0.0, 1.0, 0.0, 1.0],
        };
        let img = overlay_image(&map, 4);
        assert_eq!(img.size, [8, 8]);
        // Left column dark, right column bright, smooth in between.
        let px = |x: usize, y: usize| img.pixels[y * 8 + x];
        assert_eq!(px(0, 0), Color32::from_rgb(68, 1, 84));
        assert_eq!(px(7, 7), Color32::from_rgb(253, 231, 37));
        // Green rises monotonically along the map.
        assert!(px(3, 0).g() > px(1, 0).g());
        assert!(px(5, 0).g() > px(3, 0).g());
    }
}
