//! Our CLIP vision transformer (HF `CLIPVisionModelWithProjection` tensor names), with the hooks the
//! detectors and visualisations need: token keep-masks, hidden-state hooks, attention capture.

use super::config::ClipVisionConfig;
use super::ops;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

const INIT_STD: f64 = 0.02;

fn randn(vb: &VarBuilder, shape: impl Into<candle_core::Shape>, name: &str) -> Result<Tensor> {
    vb.get_with_hints(
        shape,
        name,
        Init::Randn {
            mean: 0.0,
            stdev: INIT_STD,
        },
    )
}

/// A dense layer `y = x W^T + b` with an optional low-rank adapter added by fine-tuning code.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    /// Low-rank update `(x A^T) B^T * scale`, set by parameter-efficient fine-tuning.
    pub lora: Option<LoraDelta>,
    /// The weight packed for the CPU inference kernel, keyed by the weight tensor's id so a
    /// replaced weight (e.g. a merged adapter) is packed again.
    packed: PackedCache,
}

type PackedCache = std::sync::Arc<
    std::sync::Mutex<
        Option<(
            candle_core::TensorId,
            candle_core::TensorId,
            std::sync::Arc<PackedLinear>,
        )>,
    >,
>;

impl Clone for Linear {
    /// A clone gets its own packed-weight cache (holding the same packed weight until its weight
    /// is replaced), so a tuned copy never makes the original pack its weight again.
    fn clone(&self) -> Self {
        let current = self.packed.lock().expect("packed weight cache").clone();
        Self {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            lora: self.lora.clone(),
            packed: std::sync::Arc::new(std::sync::Mutex::new(current)),
        }
    }
}

/// Low-rank update attached to a [`Linear`]: A is [r, in], B is [out, r].
#[derive(Debug, Clone)]
pub struct LoraDelta {
    pub a: Tensor,
    pub b: Tensor,
    pub scale: f64,
}

/// A packed weight with its bias, for [`Linear::packed_forward`].
#[derive(Debug)]
struct PackedLinear {
    weight: super::packed_gemm::PackedWeight,
    bias: Vec<f32>,
}

impl Linear {
    fn new(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = randn(&vb, (out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(Self {
            weight,
            bias,
            lora: None,
            packed: Default::default(),
        })
    }

    /// A plain biased layer from its tensors.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight,
            bias,
            lora: None,
            packed: Default::default(),
        }
    }

    /// Packs the weight for the CPU inference kernel now instead of on first use (no-op when
    /// the kernel does not apply).
    pub fn prepare(&self) -> Result<()> {
        if let (None, Some(b)) = (&self.lora, &self.bias) {
            self.packed(b)?;
        }
        Ok(())
    }

    /// The packed weight and bias for the CPU kernel, when it applies: f32 CPU tensors that are
    /// not trainable variables (a variable changes in place, under the same id), on a CPU with
    /// AVX2 + FMA.
    fn packed(&self, b: &Tensor) -> Result<Option<std::sync::Arc<PackedLinear>>> {
        let w = &self.weight;
        if !matches!(w.device(), Device::Cpu)
            || w.dtype() != DType::F32
            || b.dtype() != DType::F32
            || w.is_variable()
            || b.is_variable()
            || !super::packed_gemm::available()
        {
            return Ok(None);
        }
        let mut cache = self.packed.lock().expect("packed weight cache");
        if let Some((wid, bid, p)) = cache.as_ref() {
            if *wid == w.id() && *bid == b.id() {
                return Ok(Some(p.clone()));
            }
        }
        let (n, k) = w.dims2()?;
        let values: Vec<f32> = w.flatten_all()?.to_vec1()?;
        let p = std::sync::Arc::new(PackedLinear {
            weight: super::packed_gemm::PackedWeight::pack(&values, n, k),
            bias: b.to_vec1()?,
        });
        *cache = Some((w.id(), b.id(), p.clone()));
        Ok(Some(p))
    }
}

/// The f32 values of a contiguous CPU tensor, read in place, or `None` for any other tensor.
fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)), Some((a, b))) => {
            Some(f(&v[a..b]))
        }
        _ => None,
    }
}

impl Linear {
    /// Whether [`Linear::packed_forward`] applies: a plain biased f32 layer on the CPU, not a
    /// trainable variable, on a CPU with the packed kernel.
    fn can_pack(&self) -> bool {
        let w = &self.weight;
        self.lora.is_none()
            && self.bias.as_ref().is_some_and(|b| {
                b.dtype() == DType::F32 && !b.is_variable() && matches!(b.device(), Device::Cpu)
            })
            && w.dtype() == DType::F32
            && !w.is_variable()
            && matches!(w.device(), Device::Cpu)
            && super::packed_gemm::available()
    }

    /// Inference through the packed kernel: `act(x W^T + b) + residual`, where `residual` has
    /// the output's shape. `None` when the kernel does not apply (see [`Linear::can_pack`]) or
    /// the input is not an f32 CPU tensor.
    fn packed_forward(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
        epilogue: super::packed_gemm::Epilogue,
    ) -> Result<Option<Tensor>> {
        let Some(b) = self.bias.as_ref().filter(|_| self.can_pack()) else {
            return Ok(None);
        };
        if x.dtype() != DType::F32 || !matches!(x.device(), Device::Cpu) {
            return Ok(None);
        }
        let Some(p) = self.packed(b)? else {
            return Ok(None);
        };
        let mut dims = x.dims().to_vec();
        let in_dim = *dims.last().expect("rank >= 1");
        if in_dim != p.weight.in_dim() {
            candle_core::bail!(
                "linear layer: input width {in_dim}, weight {}",
                p.weight.in_dim()
            );
        }
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let n = p.weight.out_dim();
        *dims.last_mut().expect("rank") = n;
        let x = x.contiguous()?;
        let residual = match residual {
            Some(r) if r.dims() != dims.as_slice() => {
                candle_core::bail!("residual {:?} for output {:?}", r.dims(), dims)
            }
            Some(r) if r.dtype() != DType::F32 || !matches!(r.device(), Device::Cpu) => {
                return Ok(None)
            }
            Some(r) => Some(r.contiguous()?),
            None => None,
        };
        let y = with_cpu_f32(&x, |xs| match &residual {
            Some(r) => with_cpu_f32(r, |rs| {
                p.weight.matmul_new(xs, rows, &p.bias, Some(rs), epilogue)
            }),
            None => Some(p.weight.matmul_new(xs, rows, &p.bias, None, epilogue)),
        })
        .flatten();
        let Some(y) = y else {
            return Ok(None);
        };
        Ok(Some(Tensor::from_vec(y, dims, x.device())?))
    }

    /// Forward; without gradients, plain biased layers take the fused CPU kernel.
    pub fn forward_t(&self, x: &Tensor, diff: bool) -> Result<Tensor> {
        if !diff && self.lora.is_none() {
            if let Some(b) = &self.bias {
                let dims = x.dims().to_vec();
                let in_dim = *dims.last().expect("rank >= 1");
                let rows: usize = dims[..dims.len() - 1].iter().product();
                if let Some(y) = self.packed_forward(x, None, super::packed_gemm::Epilogue::None)? {
                    return Ok(y);
                }
                if let Some(y) =
                    super::cpu_linear::fused_linear(&x.reshape((rows, in_dim))?, &self.weight, b)?
                {
                    let mut out = dims;
                    *out.last_mut().expect("rank") = self.weight.dim(0)?;
                    return y.reshape(out);
                }
            }
        }
        self.forward(x)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = *dims.last().expect("rank >= 1");
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let x2 = x.reshape((rows, in_dim))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some(l) = &self.lora {
            let d = x2.matmul(&l.a.t()?)?.matmul(&l.b.t()?)?;
            y = (y + (d * l.scale)?)?;
        }
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        let mut out = dims;
        *out.last_mut().expect("rank") = self.weight.dim(0)?;
        y.reshape(out)
    }
}

/// Layer normalisation with learnable scale and shift.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn new(vb: VarBuilder, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
            eps,
        })
    }
    pub fn forward(&self, x: &Tensor, differentiable: bool) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, self.eps, differentiable)
    }
}

/// Patch, class and position embeddings.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub class_embedding: Tensor,
    pub patch_embedding: Tensor,
    pub position_embedding: Tensor,
    patch: usize,
    grid: usize,
    channels: usize,
}

impl Embeddings {
    fn new(vb: VarBuilder, c: &ClipVisionConfig) -> Result<Self> {
        let n = c.num_patches() + 1;
        Ok(Self {
            class_embedding: randn(&vb, c.hidden_size, "class_embedding")?,
            patch_embedding: randn(
                &vb.pp("patch_embedding"),
                (c.hidden_size, c.num_channels, c.patch_size, c.patch_size),
                "weight",
            )?,
            position_embedding: randn(&vb.pp("position_embedding"), (n, c.hidden_size), "weight")?,
            patch: c.patch_size,
            grid: c.grid_size(),
            channels: c.num_channels,
        })
    }

    /// pixels [B, C, H, W] -> tokens [B, 1 + K, D]; `keep` [B, K] (u32 patch indices) drops the
    /// other patch tokens after their position embedding has been added.
    fn forward(&self, pixels: &Tensor, keep: Option<&Tensor>) -> Result<Tensor> {
        let (b, c, h, w) = pixels.dims4()?;
        let (p, g) = (self.patch, self.grid);
        if c != self.channels || h != p * g || w != p * g {
            candle_core::bail!(
                "pixel tensor {:?} does not match the model input [B, {}, {}, {}]",
                pixels.dims(),
                self.channels,
                p * g,
                p * g
            );
        }
        let d = self.class_embedding.dim(0)?;
        // Patchify as a matmul (same as the strided convolution, cheaper on CPU, differentiable).
        let patches = pixels
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b * g * g, c * p * p))?;
        let wmat = self.patch_embedding.reshape((d, c * p * p))?;
        let tokens = patches.matmul(&wmat.t()?)?.reshape((b, g * g, d))?;
        let pos_patch = self.position_embedding.narrow(0, 1, g * g)?;
        let mut tokens = tokens.broadcast_add(&pos_patch)?;
        if let Some(idx) = keep {
            let (kb, k) = idx.dims2()?;
            if kb != b {
                candle_core::bail!("keep-mask batch {kb} differs from pixel batch {b}");
            }
            let idx = idx.unsqueeze(2)?.broadcast_as((b, k, d))?.contiguous()?;
            tokens = tokens.gather(&idx, 1)?;
        }
        let cls = (&self.class_embedding + self.position_embedding.get(0)?)?
            .reshape((1, 1, d))?
            .broadcast_as((b, 1, d))?;
        Tensor::cat(&[&cls, &tokens], 1)
    }
}

#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    heads: usize,
    scale: f64,
    /// Q, K and V weights stacked [3D, D] (and biases) for one GEMM at inference, built on first use.
    fused_qkv: std::sync::Arc<std::sync::OnceLock<Linear>>,
}

impl Attention {
    fn new(vb: VarBuilder, c: &ClipVisionConfig) -> Result<Self> {
        let d = c.hidden_size;
        Ok(Self {
            q_proj: Linear::new(vb.pp("q_proj"), d, d, true)?,
            k_proj: Linear::new(vb.pp("k_proj"), d, d, true)?,
            v_proj: Linear::new(vb.pp("v_proj"), d, d, true)?,
            out_proj: Linear::new(vb.pp("out_proj"), d, d, true)?,
            heads: c.num_attention_heads,
            scale: (c.head_dim() as f64).powf(-0.5),
            fused_qkv: Default::default(),
        })
    }

    /// The projection named `q_proj`, `k_proj`, `v_proj` or `out_proj`.
    pub fn proj_mut(&mut self, name: &str) -> Option<&mut Linear> {
        match name {
            "q_proj" => Some(&mut self.q_proj),
            "k_proj" => Some(&mut self.k_proj),
            "v_proj" => Some(&mut self.v_proj),
            "out_proj" => Some(&mut self.out_proj),
            _ => None,
        }
    }

    /// Forgets the stacked Q/K/V weights (after the weights or adapters changed).
    pub fn reset_fused(&mut self) {
        self.fused_qkv = Default::default();
    }

    /// True when q, k, v are plain (no adapter), so one stacked GEMM computes all three.
    fn can_fuse(&self) -> bool {
        [&self.q_proj, &self.k_proj, &self.v_proj]
            .iter()
            .all(|l| l.lora.is_none() && l.bias.is_some())
    }

    /// The stacked Q/K/V layer, built on first use.
    fn fused_linear(&self) -> Result<&Linear> {
        Ok(match self.fused_qkv.get() {
            Some(l) => l,
            None => {
                let w = Tensor::cat(
                    &[
                        &self.q_proj.weight,
                        &self.k_proj.weight,
                        &self.v_proj.weight,
                    ],
                    0,
                )?;
                let bias = |l: &Linear| l.bias.clone().expect("checked by can_fuse");
                let b = Tensor::cat(
                    &[bias(&self.q_proj), bias(&self.k_proj), bias(&self.v_proj)],
                    0,
                )?;
                let _ = self.fused_qkv.set(Linear::from_tensors(w, Some(b)));
                self.fused_qkv.get().expect("just set")
            }
        })
    }

    /// Packs the inference weights now (see [`ClipVision::prepare_inference`]).
    fn prepare(&self) -> Result<()> {
        if self.can_fuse() {
            self.fused_linear()?.prepare()?;
        } else {
            for l in [&self.q_proj, &self.k_proj, &self.v_proj] {
                l.prepare()?;
            }
        }
        self.out_proj.prepare()
    }

    fn qkv_fused(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let lin = self.fused_linear()?;
        let d = x.dim(2)?;
        let y = lin.forward_t(x, false)?;
        Ok((
            y.narrow(2, 0, d)?,
            y.narrow(2, d, d)?,
            y.narrow(2, 2 * d, d)?,
        ))
    }

    /// Inference on the CPU in three steps, all through the packed kernel: the stacked Q/K/V
    /// projection, [`super::packed_gemm::attention`], and out_proj with the residual added in
    /// its epilogue. Returns `residual + attention(x)` and, when asked, the probabilities, or
    /// `None` when the packed path does not apply.
    fn forward_packed(
        &self,
        x: &Tensor,
        residual: &Tensor,
        want_probs: bool,
    ) -> Result<Option<(Tensor, Option<Tensor>)>> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        if !self.can_fuse()
            || !self.out_proj.can_pack()
            || !hd.is_multiple_of(16)
            || hd * self.heads != d
        {
            return Ok(None);
        }
        let lin = self.fused_linear()?;
        let Some(qkv) = lin.packed_forward(x, None, super::packed_gemm::Epilogue::None)? else {
            return Ok(None);
        };
        let mut out = vec![0f32; b * n * d];
        let mut probs = want_probs.then(|| vec![0f32; b * self.heads * n * n]);
        let scale = self.scale as f32;
        let done = with_cpu_f32(&qkv, |q| {
            super::packed_gemm::attention(
                q,
                b,
                n,
                self.heads,
                hd,
                scale,
                &mut out,
                probs.as_deref_mut(),
            )
        });
        if done.is_none() {
            return Ok(None);
        }
        let dev = x.device();
        let out = Tensor::from_vec(out, (b, n, d), dev)?;
        let Some(y) = self.out_proj.packed_forward(
            &out,
            Some(residual),
            super::packed_gemm::Epilogue::None,
        )?
        else {
            return Ok(None);
        };
        let probs = match probs {
            Some(p) => Some(Tensor::from_vec(p, (b, self.heads, n, n), dev)?),
            None => None,
        };
        Ok(Some((y, probs)))
    }

    /// Returns the output and, when asked, the attention probabilities [B, H, N, N].
    fn forward(
        &self,
        x: &Tensor,
        want_probs: bool,
        diff: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = if !diff && self.can_fuse() {
            self.qkv_fused(x)?
        } else {
            (
                self.q_proj.forward_t(x, diff)?,
                self.k_proj.forward_t(x, diff)?,
                self.v_proj.forward_t(x, diff)?,
            )
        };
        let q = split((q * self.scale)?)?;
        let k = split(k)?;
        let v = split(v)?;
        let scores = q.matmul(&k.t()?)?;
        let probs = ops::softmax_last_dim(&scores, diff)?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        let out = self.out_proj.forward_t(&out, diff)?;
        Ok((out, want_probs.then_some(probs)))
    }
}

#[derive(Debug, Clone)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
    quick: bool,
}

impl Mlp {
    fn new(vb: VarBuilder, c: &ClipVisionConfig) -> Result<Self> {
        Ok(Self {
            fc1: Linear::new(vb.pp("fc1"), c.hidden_size, c.intermediate_size, true)?,
            fc2: Linear::new(vb.pp("fc2"), c.intermediate_size, c.hidden_size, true)?,
            quick: c.hidden_act == "quick_gelu",
        })
    }
    fn forward(&self, x: &Tensor, diff: bool) -> Result<Tensor> {
        let h = self.fc1.forward_t(x, diff)?;
        let h = if self.quick {
            ops::quick_gelu(&h, diff)?
        } else {
            h.gelu_erf()?
        };
        self.fc2.forward_t(&h, diff)
    }
}

#[derive(Debug, Clone)]
pub struct EncoderLayer {
    pub layer_norm1: LayerNorm,
    pub self_attn: Attention,
    pub layer_norm2: LayerNorm,
    pub mlp: Mlp,
}

impl EncoderLayer {
    fn new(vb: VarBuilder, c: &ClipVisionConfig) -> Result<Self> {
        Ok(Self {
            layer_norm1: LayerNorm::new(vb.pp("layer_norm1"), c.hidden_size, c.layer_norm_eps)?,
            self_attn: Attention::new(vb.pp("self_attn"), c)?,
            layer_norm2: LayerNorm::new(vb.pp("layer_norm2"), c.hidden_size, c.layer_norm_eps)?,
            mlp: Mlp::new(vb.pp("mlp"), c)?,
        })
    }
    /// Inference through the packed CPU kernels: attention with the residual added by
    /// out_proj, fc1 with quick_gelu applied as it stores, fc2 with the residual. `None` when
    /// a layer does not qualify (adapters, trainable weights, another device).
    fn forward_packed(
        &self,
        x: &Tensor,
        want_probs: bool,
    ) -> Result<Option<(Tensor, Option<Tensor>)>> {
        use super::packed_gemm::Epilogue;
        if !self.mlp.fc1.can_pack() || !self.mlp.fc2.can_pack() {
            return Ok(None);
        }
        let h = self.layer_norm1.forward(x, false)?;
        let Some((x1, probs)) = self.self_attn.forward_packed(&h, x, want_probs)? else {
            return Ok(None);
        };
        let h = self.layer_norm2.forward(&x1, false)?;
        let epilogue = if self.mlp.quick {
            Epilogue::QuickGelu
        } else {
            Epilogue::None
        };
        let Some(a) = self.mlp.fc1.packed_forward(&h, None, epilogue)? else {
            return Ok(None);
        };
        let a = if self.mlp.quick { a } else { a.gelu_erf()? };
        let Some(y) = self.mlp.fc2.packed_forward(&a, Some(&x1), Epilogue::None)? else {
            return Ok(None);
        };
        Ok(Some((y, probs)))
    }

    fn forward(
        &self,
        x: &Tensor,
        want_probs: bool,
        diff: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        if !diff {
            if let Some(out) = self.forward_packed(x, want_probs)? {
                return Ok(out);
            }
        }
        let (a, probs) =
            self.self_attn
                .forward(&self.layer_norm1.forward(x, diff)?, want_probs, diff)?;
        let x = (x + a)?;
        let m = self
            .mlp
            .forward(&self.layer_norm2.forward(&x, diff)?, diff)?;
        Ok(((x + m)?, probs))
    }
}

/// A function called with the hidden states after a layer; what it returns is added to them.
pub type HiddenHook<'a> = &'a dyn Fn(&Tensor) -> Result<Tensor>;

/// What a forward pass should compute and return.
#[derive(Default, Clone, Copy)]
pub struct ForwardOptions<'a> {
    /// Patch indices to keep per sample, [B, K] u32 (None keeps all patches).
    pub keep: Option<&'a Tensor>,
    /// Return the hidden states: index 0 after `pre_layrnorm`, index i+1 after layer i.
    pub hidden_states: bool,
    /// Return every layer's attention probabilities [B, H, N, N].
    pub attentions: bool,
    /// `(k, f)`: after layer k (0-based), hidden += f(hidden).
    pub hook: Option<(usize, HiddenHook<'a>)>,
    /// Use only ops with a backward pass (for training); otherwise fused inference kernels.
    pub differentiable: bool,
}

/// Everything a forward pass produced.
#[derive(Debug)]
pub struct VisionOutput {
    /// `post_layernorm` of the class token, [B, D].
    pub pooled: Tensor,
    /// Projected, unnormalised image embedding, [B, P].
    pub embeds: Tensor,
    pub hidden_states: Vec<Tensor>,
    pub attentions: Vec<Tensor>,
}

/// CLIP ViT image tower with visual projection.
#[derive(Debug, Clone)]
pub struct ClipVision {
    pub config: ClipVisionConfig,
    pub embeddings: Embeddings,
    pub pre_layrnorm: LayerNorm,
    pub layers: Vec<EncoderLayer>,
    pub post_layernorm: LayerNorm,
    pub visual_projection: Linear,
}

impl ClipVision {
    /// Builds the model from a VarBuilder whose root holds `vision_model.*` and `visual_projection.*`.
    pub fn new(vb: VarBuilder, config: &ClipVisionConfig) -> Result<Self> {
        config.validate().map_err(candle_core::Error::msg)?;
        let vm = vb.pp("vision_model");
        let layers = (0..config.num_hidden_layers)
            .map(|i| EncoderLayer::new(vm.pp(format!("encoder.layers.{i}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            embeddings: Embeddings::new(vm.pp("embeddings"), config)?,
            pre_layrnorm: LayerNorm::new(
                vm.pp("pre_layrnorm"),
                config.hidden_size,
                config.layer_norm_eps,
            )?,
            layers,
            post_layernorm: LayerNorm::new(
                vm.pp("post_layernorm"),
                config.hidden_size,
                config.layer_norm_eps,
            )?,
            visual_projection: Linear::new(
                vb.pp("visual_projection"),
                config.hidden_size,
                config.projection_dim,
                false,
            )?,
        })
    }

    /// Prepares the inference path ahead of the first image: packs every layer's weights for
    /// the CPU kernel now (a copy of the layer weights, 340 MB for ViT-B/16), so opening the
    /// first image does not pay for it. Detectors call it when they are built.
    pub fn prepare_inference(&self) -> Result<()> {
        for l in &self.layers {
            l.self_attn.prepare()?;
            l.mlp.fc1.prepare()?;
            l.mlp.fc2.prepare()?;
        }
        Ok(())
    }

    pub fn device(&self) -> &Device {
        self.embeddings.class_embedding.device()
    }
    pub fn dtype(&self) -> DType {
        self.embeddings.class_embedding.dtype()
    }

    /// Runs the tower. `pixels` is [B, C, S, S] in the model's dtype and device.
    pub fn forward_with(&self, pixels: &Tensor, opts: ForwardOptions) -> Result<VisionOutput> {
        let diff = opts.differentiable;
        let x = self.embeddings.forward(pixels, opts.keep)?;
        let mut x = self.pre_layrnorm.forward(&x, diff)?;
        let mut hidden_states = Vec::new();
        let mut attentions = Vec::new();
        if opts.hidden_states {
            hidden_states.push(x.clone());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let (y, probs) = layer.forward(&x, opts.attentions, diff)?;
            x = y;
            if let Some((k, hook)) = opts.hook {
                if k == i {
                    let add = hook(&x)?;
                    x = x.broadcast_add(&add)?;
                }
            }
            if let Some(p) = probs {
                attentions.push(p);
            }
            if opts.hidden_states {
                hidden_states.push(x.clone());
            }
        }
        let cls = x.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = self.post_layernorm.forward(&cls, diff)?;
        let embeds = self.visual_projection.forward(&pooled)?;
        Ok(VisionOutput {
            pooled,
            embeds,
            hidden_states,
            attentions,
        })
    }

    /// Projected, unnormalised embeddings [B, P] (inference).
    pub fn embed(&self, pixels: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with(pixels, ForwardOptions::default())?.embeds)
    }
}

/// Turns per-sample boolean keep-masks over the patch grid into the [B, K] index tensor the
/// forward pass takes. Every sample must keep the same number of patches.
pub fn keep_indices(masks: &[Vec<bool>], device: &Device) -> Result<Tensor> {
    let mut idx = Vec::new();
    let mut k0 = None;
    for m in masks {
        let kept: Vec<u32> = m
            .iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(i, _)| i as u32)
            .collect();
        match k0 {
            None => k0 = Some(kept.len()),
            Some(k) if k != kept.len() => {
                candle_core::bail!(
                    "keep-masks keep {k} and {} patches: counts must match",
                    kept.len()
                )
            }
            _ => {}
        }
        idx.extend(kept);
    }
    let k = k0.unwrap_or(0);
    if k == 0 {
        candle_core::bail!("a keep-mask must keep at least one patch");
    }
    Tensor::from_vec(idx, (masks.len(), k), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::D;
    use candle_nn::VarMap;

    fn max_abs(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(D::Minus1)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        max_abs(&(a - b).unwrap())
    }

    /// `len` values uniform in [-1, 1), fixed by `seed`.
    fn uniform_values(seed: u64, len: usize) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..len).map(|_| rng.range(-1.0, 1.0) as f32).collect()
    }

    /// A small model whose heads are 16 wide (the packed attention's unit) and whose MLP width
    /// is not a whole number of panels, with plain (non-variable) weights, as loaded for
    /// inference.
    fn plain_model() -> ClipVision {
        plain_model_as(DType::F32, 8.0)
    }

    /// [`plain_model`]'s weights with matrices `gain` times the initialisation's scale, cast to
    /// `dtype` as they load.
    fn plain_model_as(dtype: DType, gain: f32) -> ClipVision {
        let mut c = ClipVisionConfig::tiny();
        c.hidden_size = 48;
        c.num_attention_heads = 3;
        c.intermediate_size = 72;
        let vm = VarMap::new();
        ClipVision::new(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu), &c).unwrap();
        let plain = vm
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                // Fixed pseudo-random values (the test must not pass or fail by the draw), larger
                // than the initialisation's, so attention is far from uniform.
                let dims = v.as_tensor().dims().to_vec();
                let len: usize = dims.iter().product();
                let seed = k.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
                });
                let u = uniform_values(seed, len);
                let norm = dims.len() == 1 && k.contains("norm");
                let vals: Vec<f32> = if norm && k.ends_with("weight") {
                    u.iter().map(|v| 1.0 + 0.1 * v).collect()
                } else if dims.len() == 1 && k.ends_with("bias") {
                    u.iter().map(|v| 0.1 * v).collect()
                } else {
                    let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
                    let s = gain * (3.0 / fan_in as f32).sqrt();
                    u.iter().map(|v| s * v).collect()
                };
                (
                    k.clone(),
                    Tensor::from_vec(vals, dims, &Device::Cpu).unwrap(),
                )
            })
            .collect();
        ClipVision::new(VarBuilder::from_tensors(plain, dtype, &Device::Cpu), &c).unwrap()
    }

    fn cosine_rows(a: &Tensor, b: &Tensor) -> Vec<f32> {
        let a: Vec<Vec<f32>> = a.to_dtype(DType::F32).unwrap().to_vec2().unwrap();
        let b: Vec<Vec<f32>> = b.to_dtype(DType::F32).unwrap().to_vec2().unwrap();
        a.iter()
            .zip(&b)
            .map(|(x, y)| {
                let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                let n = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
                dot / (n(x) * n(y))
            })
            .collect()
    }

    #[test]
    fn half_precision_forward_matches_f32() {
        let x = Tensor::from_vec(
            uniform_values(11, 3 * 3 * 32 * 32),
            (3, 3, 32, 32),
            &Device::Cpu,
        )
        .unwrap();
        // Gain 2: attention well away from uniform, activations in f16's range and resolution
        // as a real model's are (gain 8 drives hidden states to ~400, where f16 steps by 0.25).
        let full = plain_model_as(DType::F32, 2.0).embed(&x).unwrap();
        for dtype in [DType::F16, DType::BF16] {
            let m = plain_model_as(dtype, 2.0);
            assert_eq!(m.dtype(), dtype);
            let out = m
                .forward_with(
                    &x.to_dtype(dtype).unwrap(),
                    ForwardOptions {
                        attentions: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(out.embeds.dtype(), dtype);
            assert_eq!(out.attentions.len(), 2);
            // bf16's 8-bit mantissa loses more (0.9989 here; 0.9984 on the real ViT-B/16).
            let bound = if dtype == DType::F16 { 0.9999 } else { 0.995 };
            for c in cosine_rows(&out.embeds, &full) {
                assert!(c >= bound, "{dtype:?} embedding cosine {c} against f32");
            }
        }
    }

    #[test]
    fn packed_cpu_layers_match_the_differentiable_path() {
        if !super::super::packed_gemm::available() {
            return;
        }
        let m = plain_model();
        let x = Tensor::from_vec(
            uniform_values(7, 2 * 3 * 32 * 32),
            (2, 3, 32, 32),
            &Device::Cpu,
        )
        .unwrap();
        // The packed path really runs (it is not silently falling back).
        let h = m.embeddings.forward(&x, None).unwrap();
        assert!(m.layers[0].forward_packed(&h, true).unwrap().is_some());
        let half: Vec<Vec<bool>> = vec![(0..16).map(|i| i % 3 != 0).collect(); 2];
        let idx = keep_indices(&half, &Device::Cpu).unwrap();
        for keep in [None, Some(&idx)] {
            let run = |differentiable| {
                m.forward_with(
                    &x,
                    ForwardOptions {
                        keep,
                        hidden_states: true,
                        attentions: true,
                        differentiable,
                        ..Default::default()
                    },
                )
                .unwrap()
            };
            let (a, b) = (run(false), run(true));
            let d = max_diff(&a.embeds, &b.embeds);
            assert!(d < 1e-3, "embeddings differ by {d}");
            for (ha, hb) in a.hidden_states.iter().zip(&b.hidden_states) {
                let scale = max_abs(hb);
                let d = max_diff(ha, hb);
                assert!(
                    d < 1e-4 * scale.max(1.0),
                    "hidden states differ by {d} (scale {scale})"
                );
            }
            assert_eq!(a.attentions.len(), 2);
            for (pa, pb) in a.attentions.iter().zip(&b.attentions) {
                assert_eq!(pa.dims(), pb.dims());
                let d = max_diff(pa, pb);
                assert!(d < 1e-4, "attention maps differ by {d}");
            }
            let peak = a.attentions[0]
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(peak > 0.2, "attention should not be uniform (peak {peak})");
        }
    }
}
