//! Writes two 4032x3024 JPEGs (quality 90) of the same synthetic pattern for the colour-profile
//! benchmark in docs/BENCHMARKS.md: OUT/p3/iphone-p3.jpg with a Display P3 ICC profile embedded
//! (as an iPhone writes one) and OUT/plain/plain.jpg without a profile.
//! Usage: cargo run --release --example icc_jpeg -- OUT
use image::ImageEncoder;

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp".into()));
    let (w, h) = (4032u32, 3024u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x / 8) % 256) as u8,
            ((y / 6) % 256) as u8,
            (((x + y) / 16) % 256) as u8,
        ])
    });
    for (dir, name, icc) in [
        (
            "p3",
            "iphone-p3.jpg",
            Some(moxcms::ColorProfile::new_display_p3().encode()?),
        ),
        ("plain", "plain.jpg", None),
    ] {
        let mut buf = Vec::new();
        let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 90);
        if let Some(icc) = icc {
            e.set_icc_profile(icc)?;
        }
        e.write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)?;
        std::fs::create_dir_all(out.join(dir))?;
        std::fs::write(out.join(dir).join(name), &buf)?;
    }
    Ok(())
}
