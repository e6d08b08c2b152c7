//! Dumps per-layer features of a frozen base model for a list of images, for offline analysis of
//! which layers separate real from generated images (docs/METHODS.md, "Head input").
//!
//!   cargo run --release --example layer_features -- LIST OUT [MODEL] [CROP] [TRANSFORM]
//!
//! TRANSFORM (default `none`) is applied to each decoded image first: `fake` makes the simulated
//! upsampling fake that `train --synthetic-fakes` trains on (`train::synthetic`), `fake2` the
//! fake of `--synthetic-kind varied`, `fake2-nobilinear` the same with transposed-kernel doubling
//! in place of bilinear (drawn with probability 2/3, repetition 1/3), `smooth`
//! makes the low-passed real of `train --low-passed-reals` (no upsampling trace), `npr` replaces the
//! image by its neighbouring-pixel residual (each pixel minus the top-left pixel of its 2×2 cell,
//! times 2, around mid-grey), `flip` mirrors it left to right, `blur:S` is the evaluation's
//! `blur:S` perturbation. The
//! random transforms are seeded by the image's line number. A `+zoom2` suffix (`fake+zoom2`,
//! `none+zoom2`, `blur:0.7+zoom2`) then keeps the central (model size / 2)-px square at native
//! resolution and repeats each pixel 2×2, so that each 16-px patch reads 8×8 image pixels.
//!
//! LIST has one image path per line. OUT receives, per image, little-endian f32 values:
//! for each hidden state (index 0 after `pre_layrnorm`, i+1 after layer i) the class token, then
//! the mean of the patch tokens, each of the model width. Images that fail to load are reported
//! on stderr and written as NaN rows, so rows stay aligned with LIST. With PATCH_STAT=std in the
//! environment, the per-channel standard deviation of the patch tokens replaces their mean (the
//! spread of a block's patch tokens over the image, docs/EVALUATION.md "Patch-token spread"). With PER_CROP=1 in the
//! environment, each crop of CROP (`tiles:N` gives several) gets its own row in place of their
//! mean, and OUT.crops lists each image's number of crops, one per line (0 for a failed image).
//! With INPUT_NOISE=SIGMA in the environment, Gaussian noise of standard deviation SIGMA (in the
//! model's normalised pixel units, seeded by the image's line number) is added to the model input
//! (bench/rigid_check.sh, docs/EVALUATION.md "Perturbation sensitivity").
use anyhow::{Context, Result};
use candle_core::{DType, Device, D};
use fauxscope::imageio::{load_image, LoadLimits};
use fauxscope::model::preprocess::{batch_tensor, preprocess, CropMode};
use fauxscope::model::store::load_model;
use fauxscope::model::vit::ForwardOptions;
use std::io::Write;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        anyhow::bail!("usage: layer_features LIST OUT [MODEL] [CROP]");
    }
    let list = std::fs::read_to_string(&args[1]).with_context(|| args[1].clone())?;
    let model = args
        .get(3)
        .map(String::as_str)
        .unwrap_or("clip-vit-base-patch16");
    let crop: CropMode = args
        .get(4)
        .map(String::as_str)
        .unwrap_or("center")
        .parse()
        .map_err(anyhow::Error::msg)?;
    let transform = args
        .get(5)
        .map(String::as_str)
        .unwrap_or("none")
        .to_string();
    let (transform, zoom) = match transform.strip_suffix("+zoom2") {
        Some(t) => (t.to_string(), true),
        None => (transform, false),
    };
    if ![
        "none",
        "fake",
        "fake2",
        "fake2-nobilinear",
        "smooth",
        "npr",
        "flip",
    ]
    .contains(&transform.as_str())
    {
        transform
            .parse::<fauxscope::eval::perturb::Perturbation>()
            .map_err(|e| anyhow::anyhow!("TRANSFORM: {e}"))?;
    }
    let base = load_model(model, &Device::Cpu, DType::F32)?;
    base.vision.prepare_inference()?;
    let size = base.info.config.image_size;
    let width = base.info.config.hidden_size;
    let states = base.info.config.num_hidden_layers + 1;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[2])?);
    let paths: Vec<&str> = list.lines().filter(|l| !l.trim().is_empty()).collect();
    let per_crop = std::env::var("PER_CROP").is_ok_and(|v| v == "1");
    let patch_std = match std::env::var("PATCH_STAT").as_deref() {
        Ok("std") => true,
        Ok("mean") | Err(_) => false,
        Ok(other) => anyhow::bail!("PATCH_STAT: expected mean or std, got {other}"),
    };
    let view = View {
        size,
        crop,
        transform,
        zoom,
        per_crop,
        patch_std,
        input_noise: match std::env::var("INPUT_NOISE") {
            Ok(v) => Some(v.parse().context("INPUT_NOISE: expected a number")?),
            Err(_) => None,
        },
    };
    let mut counts = String::new();
    let started = std::time::Instant::now();
    for (n, path) in paths.iter().enumerate() {
        let rows = match features(&base, path, &view, n as u64) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e:#}");
                if per_crop {
                    Vec::new()
                } else {
                    vec![vec![f32::NAN; states * 2 * width]]
                }
            }
        };
        counts += &format!("{}\n", rows.len());
        for v in rows.into_iter().flatten() {
            out.write_all(&v.to_le_bytes())?;
        }
        if n % 50 == 49 {
            eprintln!(
                "{}/{} images, {:.1} s",
                n + 1,
                paths.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    out.flush()?;
    if per_crop {
        std::fs::write(format!("{}.crops", args[2]), counts)?;
    }
    Ok(())
}

/// How each image becomes model input, and whether its crops are written one by one.
struct View {
    size: usize,
    crop: CropMode,
    transform: String,
    zoom: bool,
    per_crop: bool,
    /// The patch tokens' per-channel standard deviation in place of their mean.
    patch_std: bool,
    /// INPUT_NOISE: Gaussian noise of this standard deviation added to the model input.
    input_noise: Option<f64>,
}

fn features(
    base: &fauxscope::model::store::BaseModel,
    path: &str,
    view: &View,
    line: u64,
) -> Result<Vec<Vec<f32>>> {
    let View {
        size,
        crop,
        ref transform,
        zoom,
        per_crop,
        patch_std,
        input_noise,
    } = *view;
    use fauxscope::eval::perturb::Perturbation;
    let img = load_image(std::path::Path::new(path), &LoadLimits::default())?.rgb;
    let mut rng = fauxscope::rng::Rng::new(0x51A7 ^ line);
    let img = match transform.as_str() {
        "none" => img,
        "fake" => fauxscope::train::synthetic::upsampling_fake(&img, &mut rng),
        "fake2" => fauxscope::train::synthetic::Made::VariedFake.make(&img, 0, 1.0, &mut rng),
        "fake2-nobilinear" => {
            use fauxscope::train::synthetic::{jpeg_save, varied_trace_from, Upsampler};
            let ups = [
                Upsampler::Nearest,
                Upsampler::Transposed,
                Upsampler::Transposed,
            ];
            jpeg_save(varied_trace_from(&img, ups, &mut rng), 1.0, &mut rng)
        }
        "smooth" => fauxscope::train::synthetic::low_passed_real(&img, line, &mut rng),
        "npr" => npr(&img),
        "flip" => image::imageops::flip_horizontal(&img),
        other => match other.parse::<Perturbation>() {
            Ok(p) => p.apply(&img),
            Err(e) => anyhow::bail!("TRANSFORM: {e}"),
        },
    };
    let img = if zoom {
        zoom2(&img, size as u32 / 2)
    } else {
        img
    };
    let crops = preprocess(&img, size as u32, crop);
    let x = batch_tensor(&crops, size, &Device::Cpu, DType::F32)?;
    let x = match input_noise {
        Some(sigma) => {
            let mut noise_rng = fauxscope::rng::Rng::new(0x7015E ^ line);
            let eps: Vec<f32> = (0..x.elem_count())
                .map(|_| noise_rng.normal() as f32)
                .collect();
            let eps = candle_core::Tensor::from_vec(eps, x.dims(), &Device::Cpu)?;
            (x + (eps * sigma)?)?
        }
        None => x,
    };
    let out = base.vision.forward_with(
        &x,
        ForwardOptions {
            hidden_states: true,
            ..Default::default()
        },
    )?;
    let crops = if per_crop { crops.len() } else { 1 };
    let mut rows = vec![Vec::new(); crops];
    for h in &out.hidden_states {
        let n = h.dim(1)?;
        let cls = h.narrow(1, 0, 1)?.squeeze(1)?;
        let tokens = h.narrow(1, 1, n - 1)?;
        let patches = if patch_std {
            let centred = tokens.broadcast_sub(&tokens.mean_keepdim(D::Minus2)?)?;
            centred.sqr()?.mean(D::Minus2)?.sqrt()?
        } else {
            tokens.mean(D::Minus2)?
        };
        // Without PER_CROP, the mean over the crops of one image (one crop unless CROP is tiles:N).
        let (cls, patches) = if per_crop {
            (cls, patches)
        } else {
            (cls.mean_keepdim(0)?, patches.mean_keepdim(0)?)
        };
        for (row, (c, p)) in rows.iter_mut().zip(
            cls.to_vec2::<f32>()?
                .into_iter()
                .zip(patches.to_vec2::<f32>()?),
        ) {
            row.extend(c);
            row.extend(p);
        }
    }
    Ok(rows)
}

/// The neighbouring-pixel residual: each pixel minus the top-left pixel of its 2×2 cell, the trace
/// that 2× upsampling leaves, doubled and shown around mid-grey.
fn npr(img: &image::RgbImage) -> image::RgbImage {
    image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let q = img.get_pixel(x & !1, y & !1).0;
        image::Rgb(std::array::from_fn(|c| {
            (128.0 + 2.0 * (p[c] as f32 - q[c] as f32)).clamp(0.0, 255.0) as u8
        }))
    })
}

/// The central `side`-px square (or less, for a smaller image) at native resolution, each pixel
/// repeated 2×2.
fn zoom2(img: &image::RgbImage, side: u32) -> image::RgbImage {
    let (w, h) = (img.width().min(side), img.height().min(side));
    let (x0, y0) = ((img.width() - w) / 2, (img.height() - h) / 2);
    image::RgbImage::from_fn(2 * w, 2 * h, |x, y| *img.get_pixel(x0 + x / 2, y0 + y / 2))
}
