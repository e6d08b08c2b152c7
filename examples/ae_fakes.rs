//! Learned-generator fakes for the frozen-feature checks (docs/EVALUATION.md, "Autoencoder
//! fakes"). Trains a small convolutional autoencoder on the real photos of LIST, the way Zhang,
//! Karaman and Chang (2019, "AutoGAN") emulate a GAN's generator: two stride-2 convolutions down to
//! a quarter of the resolution, a residual block, and two learned 2× upsamplings back, fitted by L1
//! reconstruction on random crops. Each photo's reconstruction then carries the traces a learned
//! upsampling stack leaves (its content is the photo's), and it is saved through the simulators'
//! JPEG at quality 75-95 as OUT_DIR/NNNN.png, listed in OUT_DIR/list.txt.
//!
//!   cargo run --release --example ae_fakes -- LIST OUT_DIR [UPSAMPLER] [STEPS]
//!
//! UPSAMPLER: `subpixel` (a 3×3 convolution to four times the channels, then a pixel shuffle: the
//! sub-pixel form of a stride-2 transposed convolution, as in CycleGAN's generator; the default)
//! or `nearest` (pixel repetition, then a 3×3 convolution, as in BigGAN's). STEPS: Adam steps on
//! batches of 16 crops of 64 px (default 600). Deterministic for a given LIST.
use anyhow::{Context, Result};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{conv2d, AdamW, Conv2d, Conv2dConfig, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use fauxscope::imageio::{load_image, LoadLimits};
use fauxscope::rng::Rng;
use image::RgbImage;

const CROP: usize = 64;
const BATCH: usize = 16;

struct Autoencoder {
    down: [Conv2d; 3],
    res: [Conv2d; 2],
    up: [Conv2d; 2],
    out: Conv2d,
    subpixel: bool,
}

impl Autoencoder {
    fn new(vb: VarBuilder, subpixel: bool) -> Result<Self> {
        let c = |i, o, k, stride, name: &str| {
            conv2d(
                i,
                o,
                k,
                Conv2dConfig {
                    padding: if k == 4 { 1 } else { k / 2 },
                    stride,
                    ..Default::default()
                },
                vb.pp(name),
            )
        };
        let m = if subpixel { 4 } else { 1 };
        Ok(Self {
            down: [
                c(3, 32, 3, 1, "d0")?,
                c(32, 64, 4, 2, "d1")?,
                c(64, 128, 4, 2, "d2")?,
            ],
            res: [c(128, 128, 3, 1, "r0")?, c(128, 128, 3, 1, "r1")?],
            up: [c(128, 64 * m, 3, 1, "u0")?, c(64, 32 * m, 3, 1, "u1")?],
            out: c(32, 3, 3, 1, "o")?,
            subpixel,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for d in &self.down {
            h = d.forward(&h)?.relu()?;
        }
        let r = self.res[1].forward(&self.res[0].forward(&h)?.relu()?)?;
        h = (h + r)?;
        for u in &self.up {
            h = if self.subpixel {
                pixel_shuffle(&u.forward(&h)?)?
            } else {
                let (_, _, hh, ww) = h.dims4()?;
                u.forward(&h.upsample_nearest2d(2 * hh, 2 * ww)?)?
            }
            .relu()?;
        }
        Ok(self.out.forward(&h)?)
    }
}

/// (n, 4c, h, w) -> (n, c, 2h, 2w): each group of four channels becomes one 2×2 cell.
fn pixel_shuffle(x: &Tensor) -> Result<Tensor> {
    let (n, c4, h, w) = x.dims4()?;
    let c = c4 / 4;
    Ok(x.reshape((n, c, 2, 2, h, w))?
        .permute((0, 1, 4, 2, 5, 3))?
        .reshape((n, c, 2 * h, 2 * w))?)
}

/// The `w`×`h` window of `img` at (`x0`, `y0`) as CHW values in [-1, 1].
fn to_tensor(img: &RgbImage, x0: u32, y0: u32, w: u32, h: u32) -> Vec<f32> {
    let mut v = vec![0f32; 3 * (w * h) as usize];
    for y in 0..h {
        for x in 0..w {
            let p = img.get_pixel(x0 + x, y0 + y).0;
            for c in 0..3 {
                v[(c * h as usize + y as usize) * w as usize + x as usize] =
                    p[c] as f32 / 127.5 - 1.0;
            }
        }
    }
    v
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        anyhow::bail!("usage: ae_fakes LIST OUT_DIR [subpixel|nearest] [STEPS]");
    }
    let list = std::fs::read_to_string(&args[1]).with_context(|| args[1].clone())?;
    let out_dir = std::path::Path::new(&args[2]);
    let subpixel = match args.get(3).map(String::as_str).unwrap_or("subpixel") {
        "subpixel" => true,
        "nearest" => false,
        other => anyhow::bail!("UPSAMPLER must be subpixel or nearest, not {other}"),
    };
    let steps: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(600);
    std::fs::create_dir_all(out_dir)?;
    let paths: Vec<&str> = list.lines().filter(|l| !l.trim().is_empty()).collect();
    let images: Vec<RgbImage> = paths
        .iter()
        .map(|p| Ok(load_image(std::path::Path::new(p), &LoadLimits::default())?.rgb))
        .collect::<Result<_>>()?;
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let ae = Autoencoder::new(VarBuilder::from_varmap(&varmap, DType::F32, &dev), subpixel)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    // Crops come from the photos of at least CROP px a side.
    let big: Vec<&RgbImage> = images
        .iter()
        .filter(|i| i.width() as usize >= CROP && i.height() as usize >= CROP)
        .collect();
    anyhow::ensure!(!big.is_empty(), "no photo of at least {CROP} px a side");
    let mut rng = Rng::new(0xAE);
    let started = std::time::Instant::now();
    for step in 0..steps {
        let mut batch = Vec::with_capacity(BATCH * 3 * CROP * CROP);
        for _ in 0..BATCH {
            let img = big[rng.below(big.len())];
            let x0 = rng.below(img.width() as usize - CROP + 1) as u32;
            let y0 = rng.below(img.height() as usize - CROP + 1) as u32;
            batch.extend(to_tensor(img, x0, y0, CROP as u32, CROP as u32));
        }
        let x = Tensor::from_vec(batch, (BATCH, 3, CROP, CROP), &dev)?;
        let loss = (ae.forward(&x)? - &x)?.abs()?.mean_all()?;
        opt.backward_step(&loss)?;
        if step % 50 == 49 || step + 1 == steps {
            eprintln!(
                "step {}/{steps}: L1 {:.4} ({:.1} s)",
                step + 1,
                loss.to_scalar::<f32>()?,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut listed = String::new();
    for (n, img) in images.iter().enumerate() {
        let (w, h) = (img.width() / 4 * 4, img.height() / 4 * 4);
        let (x0, y0) = ((img.width() - w) / 2, (img.height() - h) / 2);
        let x = Tensor::from_vec(
            to_tensor(img, x0, y0, w, h),
            (1, 3, h as usize, w as usize),
            &dev,
        )?;
        let y = ae.forward(&x)?.squeeze(0)?.to_vec3::<f32>()?;
        let made = RgbImage::from_fn(w, h, |x, yy| {
            image::Rgb(std::array::from_fn(|c| {
                ((y[c][yy as usize][x as usize] + 1.0) * 127.5)
                    .round()
                    .clamp(0.0, 255.0) as u8
            }))
        });
        let mut jrng = Rng::new(0x51A7 ^ n as u64);
        let made = fauxscope::train::synthetic::jpeg_save(made, 1.0, &mut jrng);
        let path = out_dir.join(format!("{n:04}.png"));
        made.save(&path)
            .with_context(|| path.display().to_string())?;
        listed += &format!("{}\n", path.display());
    }
    std::fs::write(out_dir.join("list.txt"), listed)?;
    eprintln!(
        "{} reconstructions in {:.1} s",
        images.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
