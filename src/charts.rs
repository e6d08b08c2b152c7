//! Charts drawn with plotters into RGB images: training curves (GUI) and the report's score and
//! stability charts. Text uses the Ubuntu Light font from the `epaint_default_fonts` crate
//! (Ubuntu Font Licence 1.0), registered with plotters' ab_glyph backend (no fontconfig needed).

use anyhow::{anyhow, Result};
use image::RgbImage;
use plotters::prelude::*;
use std::sync::Once;

pub const FONT: &str = "sans-serif";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// One line of a line chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: &'a [(f64, f64)],
    pub color: (u8, u8, u8),
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("chart drawing failed: {e:?}")
}

/// A line chart with a legend. `y_range` None fits the data.
pub fn line_chart(
    title: &str,
    x_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
    (w, h): (u32, u32),
) -> Result<RgbImage> {
    register_fonts();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let pts = series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let (y0, y1) = y_range.unwrap_or_else(|| {
            let pad = ((y1 - y0) * 0.05).max(1e-3);
            (y0 - pad, y1 + pad)
        });
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .label_style((FONT, 12))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for s in series {
            let c = RGBColor(s.color.0, s.color.1, s.color.2);
            chart
                .draw_series(LineSeries::new(
                    s.points
                        .iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite()),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
        }
        if !series.is_empty() {
            chart
                .configure_series_labels()
                .label_font((FONT, 12))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("chart buffer has the wrong size"))
}

/// One bar of a probability bar chart.
pub struct Bar {
    pub label: String,
    /// In [0, 1].
    pub value: f64,
}

/// Horizontal bars of probabilities with the 0.5 decision line (report: detectors and stability).
pub fn probability_bars(title: &str, bars: &[Bar], (w, h): (u32, u32)) -> Result<RgbImage> {
    register_fonts();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(0)
            .build_cartesian_2d(0f64..1f64, 0f64..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("calibrated probability of generated")
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        for (i, b) in bars.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let v = b.value.clamp(0.0, 1.0);
            let c = if v > 0.5 {
                RGBColor(200, 60, 50)
            } else {
                RGBColor(60, 130, 190)
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.2), (v, y + 0.8)],
                    c.filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{}  {:.2}", b.label, b.value),
                    (0.01, y + 0.5),
                    (FONT, 13).into_font().color(&BLACK),
                )))
                .map_err(err)?;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.5, 0.0), (0.5, n as f64)],
                BLACK.stroke_width(1),
            )))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("chart buffer has the wrong size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_lines_and_text() {
        let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, (i as f64).sin())).collect();
        let img = line_chart(
            "loss",
            "epoch",
            &[Series {
                name: "loss",
                points: &pts,
                color: (200, 0, 0),
            }],
            None,
            (320, 200),
        )
        .unwrap();
        // Red line pixels exist.
        assert!(img
            .pixels()
            .any(|p| p.0[0] > 150 && p.0[1] < 80 && p.0[2] < 80));
        let bars = probability_bars(
            "stability",
            &[
                Bar {
                    label: "original".into(),
                    value: 0.9,
                },
                Bar {
                    label: "jpeg:75".into(),
                    value: 0.2,
                },
            ],
            (320, 160),
        )
        .unwrap();
        // Dark text pixels (the font rendered) and both bar colours.
        assert!(bars
            .pixels()
            .any(|p| p.0[0] < 60 && p.0[1] < 60 && p.0[2] < 60));
        assert!(bars.pixels().any(|p| *p == image::Rgb([200, 60, 50])));
        assert!(bars.pixels().any(|p| *p == image::Rgb([60, 130, 190])));
    }
}
