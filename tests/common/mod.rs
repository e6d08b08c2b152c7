//! Helpers shared by the integration tests.

use candle_core::Tensor;
use std::path::{Path, PathBuf};

/// Largest absolute element-wise difference between two tensors of the same shape.
#[allow(dead_code)]
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Whether the real ViT-B/16 weights are installed; with FAUXSCOPE_REQUIRE_REAL=1 (CI) their
/// absence is a failure instead of a skip.
#[allow(dead_code)]
pub fn real_model_available() -> bool {
    let required = std::env::var("FAUXSCOPE_REQUIRE_REAL").is_ok_and(|v| v == "1");
    let ok = fauxscope::model::store::model_info("clip-vit-base-patch16").is_ok();
    assert!(
        ok || !required,
        "FAUXSCOPE_REQUIRE_REAL=1 but the real model is missing"
    );
    ok
}

/// `n` smooth gradients in `real/` and `n` grey checkerboards in `fake/` (48 px PNGs).
#[allow(dead_code)]
pub fn make_data(dir: &Path, n: u32) -> (PathBuf, PathBuf) {
    let (real, fake) = (dir.join("real"), dir.join("fake"));
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    for i in 0..n {
        image::RgbImage::from_fn(48, 48, |x, y| {
            image::Rgb([(x * 5 + i) as u8, (y * 5) as u8, 120])
        })
        .save(real.join(format!("r{i}.png")))
        .unwrap();
        image::RgbImage::from_fn(48, 48, |x, y| {
            let v = if (x / 2 + y / 2 + i) % 2 == 0 {
                220
            } else {
                30
            };
            image::Rgb([v, v, v])
        })
        .save(fake.join(format!("f{i}.png")))
        .unwrap();
    }
    (real, fake)
}

/// A 256x192 JPEG made here, intact, and a copy with 48 bytes of its compressed data overwritten
/// (which the decoder reads past, as viewers do): (intact, damaged).
#[allow(dead_code)]
pub fn intact_and_damaged_jpeg() -> (Vec<u8>, Vec<u8>) {
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(256, 192, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    }))
    .write_to(&mut jpeg, image::ImageFormat::Jpeg)
    .unwrap();
    let good = jpeg.into_inner();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for (i, b) in bad[mid..mid + 48].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(97) ^ 0x3c;
    }
    (good, bad)
}
