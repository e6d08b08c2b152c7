//! Inference GEMM for `y = x W^T + b` on x86-64 with AVX2 and FMA, with W packed once.
//!
//! A linear layer's weight never changes at inference, so it is rearranged once into panels of
//! 16 output columns (each panel K rows of 16 contiguous floats). A 6 x 16 register-blocked
//! kernel then streams a panel and six rows of x per step: 12 accumulators, two panel loads and
//! six broadcasts per k. Nothing is packed per call, unlike a general GEMM. The panels are split
//! into chunks taken by the rayon threads. Without AVX2 + FMA (or off x86-64) [`available`] is false and callers
//! keep their general path.

use std::fmt;

const NR: usize = 16;
const MR: usize = 6;
/// Rows per block (see matmul_bias).
const MB: usize = 256;

/// Whether this CPU can run the kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix W [n, k] packed into panels of 16 output columns (the last one zero-padded).
pub struct PackedWeight {
    n: usize,
    k: usize,
    panels: Vec<f32>,
}

impl fmt::Debug for PackedWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PackedWeight[{} x {}]", self.n, self.k)
    }
}

impl PackedWeight {
    /// Packs a row-major W [n, k].
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(
            w.len(),
            n * k,
            "weight has {} values, not {n} x {k}",
            w.len()
        );
        let count = n.div_ceil(NR);
        let mut panels = vec![0f32; count * k * NR];
        for p in 0..count {
            let cols = NR.min(n - p * NR);
            let panel = &mut panels[p * k * NR..(p + 1) * k * NR];
            for j in 0..cols {
                let row = &w[(p * NR + j) * k..(p * NR + j + 1) * k];
                for (kk, v) in row.iter().enumerate() {
                    panel[kk * NR + j] = *v;
                }
            }
        }
        Self { n, k, panels }
    }

    pub fn out_dim(&self) -> usize {
        self.n
    }
    pub fn in_dim(&self) -> usize {
        self.k
    }

    /// y [m, n] = x [m, k] W^T + bias [n]. Panics when the kernel is not [`available`].
    pub fn matmul_bias(&self, x: &[f32], m: usize, bias: &[f32], y: &mut [f32]) {
        self.matmul(x, m, bias, None, Epilogue::None, y)
    }

    /// y [m, n] = act(x [m, k] W^T + bias [n]) + residual [m, n], y written once: the kernel
    /// starts its accumulators from the bias, adds the residual rows after its loop and applies
    /// the activation before the store, so y is never read. (With both, the activation would see
    /// the residual: callers pass one or the other.) Panics when the kernel is not [`available`].
    pub fn matmul(
        &self,
        x: &[f32],
        m: usize,
        bias: &[f32],
        residual: Option<&[f32]>,
        epilogue: Epilogue,
        y: &mut [f32],
    ) {
        assert!(y.len() == m * self.n, "output shape");
        // SAFETY: y holds m * n values.
        unsafe { self.compute(x, m, bias, residual, epilogue, y.as_mut_ptr()) }
    }

    /// As [`PackedWeight::matmul`], into a new buffer that is written once (no zeroing first).
    pub fn matmul_new(
        &self,
        x: &[f32],
        m: usize,
        bias: &[f32],
        residual: Option<&[f32]>,
        epilogue: Epilogue,
    ) -> Vec<f32> {
        let len = m * self.n;
        let mut y: Vec<f32> = Vec::with_capacity(len);
        // SAFETY: the capacity holds m * n values; compute writes every one of them (each row
        // of every panel, partial panels through a buffer), so they are initialised before
        // set_len.
        unsafe {
            self.compute(x, m, bias, residual, epilogue, y.as_mut_ptr());
            y.set_len(len);
        }
        y
    }

    /// Writes y = act(x W^T + bias) + residual to all m * n values at `y`.
    ///
    /// # Safety
    /// `y` must be valid for writes of m * n values.
    unsafe fn compute(
        &self,
        x: &[f32],
        m: usize,
        bias: &[f32],
        residual: Option<&[f32]>,
        epilogue: Epilogue,
        y: *mut f32,
    ) {
        let (n, k) = (self.n, self.k);
        assert!(available(), "packed GEMM needs AVX2 and FMA");
        assert!(x.len() == m * k && bias.len() == n, "input or bias shape");
        assert!(
            residual.is_none() || epilogue == Epilogue::None,
            "an activation would apply to the residual"
        );
        if let Some(r) = residual {
            assert_eq!(r.len(), m * n, "residual shape");
        }
        let count = n.div_ceil(NR);
        // Rows in blocks of MB (one block for a single image's 197 tokens), so a batch's rows
        // are not streamed from memory once per panel; within a block, a few chunks of panels
        // per thread, taken by work stealing: on a shared host one descheduled thread must not
        // leave the others waiting on a fixed half of the work.
        let threads = rayon::current_num_threads().max(1);
        let per_block = if threads == 1 {
            1
        } else {
            (threads * 4).min(count)
        };
        let per = count.div_ceil(per_block);
        let blocks = m.div_ceil(MB);
        let chunks = blocks * per_block;
        let out = SendPtr(y);
        let work = |t: usize| {
            let out = &out;
            let (block, c) = (t / per_block, t % per_block);
            let (m0, m1) = (block * MB, ((block + 1) * MB).min(m));
            for p in c * per..((c + 1) * per).min(count) {
                let panel = &self.panels[p * k * NR..(p + 1) * k * NR];
                let cols = NR.min(n - p * NR);
                let mut r0 = m0;
                while r0 < m1 {
                    let rows = MR.min(m1 - r0);
                    // SAFETY: chunk t writes only rows [m0, m1) of columns [p*16, p*16+cols)
                    // of its own panels: in bounds of y, disjoint between chunks; x, the panel,
                    // the bias and the residual are read in bounds (rows * k, k * 16, cols and
                    // rows x cols values).
                    unsafe {
                        tile(
                            rows,
                            cols,
                            k,
                            x.as_ptr().add(r0 * k),
                            panel.as_ptr(),
                            bias.as_ptr().add(p * NR),
                            residual.map(|r| (r.as_ptr().add(r0 * n + p * NR), n)),
                            out.0.add(r0 * n + p * NR),
                            n,
                            epilogue,
                        );
                    }
                    r0 += rows;
                }
            }
        };
        if chunks == 1 {
            work(0);
        } else {
            use rayon::prelude::*;
            (0..chunks).into_par_iter().for_each(work);
        }
    }
}

/// What the kernel applies to its accumulators before storing them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    None,
    /// CLIP's quick_gelu, v * sigmoid(1.702 v).
    QuickGelu,
}

/// Multi-head self-attention for inference, straight from a fused Q/K/V projection.
///
/// `qkv` is [batch, n, 3 d] (Q, K and V side by side, d = heads * hd), `out` is [batch, n, d]
/// in the layout out_proj reads (heads side by side), and `probs`, when given, receives the
/// attention probabilities [batch, heads, n, n]. One task per (sample, head), spread over the
/// rayon threads. Per task, K and V are packed into panels and both products run through the
/// same kernel as the linear layers, reading Q and writing the output in place with strides, so
/// nothing is transposed or copied per head; the softmax (with `scale` folded in) uses the
/// vectorised exp. Needs [`available`] and `hd` a multiple of 16.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    qkv: &[f32],
    batch: usize,
    n: usize,
    heads: usize,
    hd: usize,
    scale: f32,
    out: &mut [f32],
    probs: Option<&mut [f32]>,
) {
    assert!(available(), "packed GEMM needs AVX2 and FMA");
    assert!(
        hd.is_multiple_of(NR),
        "head width {hd} is not a multiple of {NR}"
    );
    let d = heads * hd;
    assert_eq!(qkv.len(), batch * n * 3 * d, "qkv shape");
    assert_eq!(out.len(), batch * n * d, "output shape");
    if let Some(p) = &probs {
        assert_eq!(p.len(), batch * heads * n * n, "probabilities shape");
    }
    let ld_qkv = 3 * d;
    // Scores are n x lds: n columns padded to whole panels (the padding is zeroed before P V).
    let kpanels = n.div_ceil(NR);
    let lds = kpanels * NR;
    let out_ptr = SendPtr(out.as_mut_ptr());
    let probs_ptr = probs.map(|p| SendPtr(p.as_mut_ptr()));
    let task = |t: usize| {
        // Capture the wrappers whole (not their raw-pointer fields), so the closure is Sync.
        let (out_ptr, probs_ptr) = (&out_ptr, &probs_ptr);
        let (bi, h) = (t / heads, t % heads);
        let base = bi * n * ld_qkv;
        let q_off = base + h * hd;
        let k_off = base + d + h * hd;
        let v_off = base + 2 * d + h * hd;
        // K_h as the "weight" of S = Q K^T: panel p, row kk holds K[p*16 + j, kk].
        let mut kp = vec![0f32; kpanels * hd * NR];
        for tok in 0..n {
            let (p, j) = (tok / NR, tok % NR);
            let row = &qkv[k_off + tok * ld_qkv..k_off + tok * ld_qkv + hd];
            for (kk, v) in row.iter().enumerate() {
                kp[p * hd * NR + kk * NR + j] = *v;
            }
        }
        // V_h^T as the "weight" of O = P V: panel p, row tok holds V[tok, p*16 .. p*16 + 16].
        let vpanels = hd / NR;
        let mut vp = vec![0f32; vpanels * n * NR];
        for tok in 0..n {
            let row = &qkv[v_off + tok * ld_qkv..v_off + tok * ld_qkv + hd];
            for p in 0..vpanels {
                vp[p * n * NR + tok * NR..p * n * NR + (tok + 1) * NR]
                    .copy_from_slice(&row[p * NR..(p + 1) * NR]);
            }
        }
        // Written whole by `product` (every row, every padded column) before it is read.
        let mut s: Vec<f32> = Vec::with_capacity(n * lds);
        // SAFETY: rows of Q (stride 3d, hd values each) are in bounds of qkv; kp holds kpanels
        // panels of hd * 16 values; s has capacity for n rows of lds = kpanels * 16 columns.
        unsafe {
            product(
                n,
                hd,
                qkv.as_ptr().add(q_off),
                ld_qkv,
                kp.as_ptr(),
                kpanels,
                s.as_mut_ptr(),
                lds,
            )
        };
        // SAFETY: product wrote all n * lds values (rows 0..n, kpanels * 16 columns).
        unsafe { s.set_len(n * lds) };
        for (r, row) in s.chunks_exact_mut(lds).enumerate() {
            softmax_row(&mut row[..n], scale);
            row[n..].fill(0.0);
            if let Some(pp) = &probs_ptr {
                // SAFETY: row r of head h of sample bi: n values, in bounds, one task per head.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        row.as_ptr(),
                        pp.0.add(((bi * heads + h) * n + r) * n),
                        n,
                    );
                }
            }
        }
        // SAFETY: P rows (stride lds, n values) are in bounds of s; vp holds vpanels panels of
        // n * 16 values; the output is n rows x hd columns at column h*hd of sample bi's rows:
        // in bounds, and only this task writes head h's columns.
        unsafe {
            product(
                n,
                n,
                s.as_ptr(),
                lds,
                vp.as_ptr(),
                vpanels,
                out_ptr.0.add(bi * n * d + h * hd),
                d,
            )
        };
    };
    let tasks = batch * heads;
    if rayon::current_num_threads() <= 1 || tasks == 1 {
        (0..tasks).for_each(task);
    } else {
        use rayon::prelude::*;
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// out[r, 16 p + c] = sum_i a[r, i] panel_p[i, c] for r < m, p < count: plain products (no bias,
/// no residual, no activation) over `count` consecutive panels of k x 16, six rows at a time.
///
/// # Safety
/// `a` must hold m rows of k values at stride `lda`, `panels` count * k * 16 values, and `out` m
/// rows of count * 16 writable values at stride `ldo`.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    m: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    panels: *const f32,
    count: usize,
    out: *mut f32,
    ldo: usize,
) {
    let mut r0 = 0;
    while r0 < m {
        let rows = MR.min(m - r0);
        for p in 0..count {
            kernel_dispatch(
                rows,
                k,
                a.add(r0 * lda),
                lda,
                panels.add(p * k * NR),
                std::ptr::null(),
                None,
                out.add(r0 * ldo + p * NR),
                ldo,
                Epilogue::None,
            );
        }
        r0 += rows;
    }
}

/// In place: row = softmax(scale * row), scale > 0.
fn softmax_row(row: &mut [f32], scale: f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only called when available() (checked by `attention`); loads and stores stay
    // within row.
    unsafe {
        avx2::exp_scaled_inplace(row, max, scale)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (max, scale);
}

struct SendPtr(*mut f32);
// SAFETY: the threads write disjoint regions (see matmul_bias).
unsafe impl Sync for SendPtr {}

/// One tile: `rows` (<= 6) rows of x times one panel, plus the bias (`cols` values, or none)
/// and the rows of `add` (`(pointer, stride)`, or none), written to y. A partial panel
/// (`cols` < 16) goes through local buffers.
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    rows: usize,
    cols: usize,
    k: usize,
    x: *const f32,
    panel: *const f32,
    bias: *const f32,
    add: Option<(*const f32, usize)>,
    y: *mut f32,
    ldy: usize,
    epilogue: Epilogue,
) {
    if cols == NR {
        return kernel_dispatch(rows, k, x, k, panel, bias, add, y, ldy, epilogue);
    }
    let mut b = [0f32; NR];
    if !bias.is_null() {
        for (c, v) in b.iter_mut().enumerate().take(cols) {
            *v = *bias.add(c);
        }
    }
    let mut a = [0f32; MR * NR];
    if let Some((ap, lda)) = add {
        for r in 0..rows {
            for c in 0..cols {
                a[r * NR + c] = *ap.add(r * lda + c);
            }
        }
    }
    let mut buf = [0f32; MR * NR];
    kernel_dispatch(
        rows,
        k,
        x,
        k,
        panel,
        b.as_ptr(),
        add.map(|_| (a.as_ptr(), NR)),
        buf.as_mut_ptr(),
        NR,
        epilogue,
    );
    for r in 0..rows {
        for c in 0..cols {
            *y.add(r * ldy + c) = buf[r * NR + c];
        }
    }
}

/// y = act(x panel + bias + add) for one tile of `rows` rows; a null `bias` is zero.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_dispatch(
    rows: usize,
    k: usize,
    x: *const f32,
    ldx: usize,
    panel: *const f32,
    bias: *const f32,
    add: Option<(*const f32, usize)>,
    y: *mut f32,
    ldy: usize,
    epilogue: Epilogue,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use avx2::kernel as kern;
        let g = epilogue == Epilogue::QuickGelu;
        let (ap, lda) = add.unwrap_or((std::ptr::null(), 0));
        match (rows, g) {
            (6, false) => kern::<6, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (5, false) => kern::<5, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (4, false) => kern::<4, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (3, false) => kern::<3, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (2, false) => kern::<2, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (1, false) => kern::<1, false>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (6, true) => kern::<6, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (5, true) => kern::<5, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (4, true) => kern::<4, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (3, true) => kern::<3, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (2, true) => kern::<2, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            (1, true) => kern::<1, true>(k, x, ldx, panel, bias, ap, lda, y, ldy),
            _ => unreachable!("tiles have 1 to 6 rows"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, k, x, ldx, panel, bias, add, y, ldy, epilogue);
        unreachable!("available() is false off x86-64")
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// e^x for 8 lanes: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-7 polynomial (the
    /// Taylor coefficients), 2^n through the exponent bits. Relative error below 2e-7 over
    /// [-87, 88]; inputs are clamped to that range, so very negative inputs give ~1e-38, not 0.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp(x: __m256) -> __m256 {
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-87.0)),
            _mm256_set1_ps(88.0),
        );
        let n = _mm256_round_ps(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        // ln 2 split in two so that n * LN2_HI is exact.
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let bits = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
            23,
        );
        _mm256_mul_ps(p, _mm256_castsi256_ps(bits))
    }

    /// row = exp(scale (row - max)) / sum, in place.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_scaled_inplace(row: &mut [f32], max: f32, scale: f32) {
        let (vm, vs) = (_mm256_set1_ps(max), _mm256_set1_ps(scale));
        let mut acc = _mm256_setzero_ps();
        let mut chunks = row.chunks_exact_mut(8);
        for c in &mut chunks {
            let e = exp(_mm256_mul_ps(
                _mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), vm),
                vs,
            ));
            acc = _mm256_add_ps(acc, e);
            _mm256_storeu_ps(c.as_mut_ptr(), e);
        }
        let rest = chunks.into_remainder();
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        let mut sum: f32 = lanes.iter().sum();
        if !rest.is_empty() {
            let mut buf = [f32::NEG_INFINITY; 8];
            buf[..rest.len()].copy_from_slice(rest);
            let e = exp(_mm256_mul_ps(
                _mm256_sub_ps(_mm256_loadu_ps(buf.as_ptr()), vm),
                vs,
            ));
            _mm256_storeu_ps(buf.as_mut_ptr(), e);
            for (o, v) in rest.iter_mut().zip(&buf) {
                *o = *v;
                sum += v;
            }
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }

    /// v * sigmoid(1.702 v) for 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn quick_gelu(v: __m256) -> __m256 {
        let e = exp(_mm256_mul_ps(v, _mm256_set1_ps(-1.702)));
        _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0), e))
    }

    /// y[r, 0..16] = bias[0..16] + sum_p x[r, p] * panel[p, 0..16] + add[r, 0..16] for r < R,
    /// through quick_gelu when `G`. A null `bias` or `add` counts as zero. y is only written:
    /// the accumulators start from the bias (16 values, in cache), and `add` (a residual, most
    /// likely not in cache) is prefetched here and added after the loop, so a cache miss never
    /// holds the FMA chain.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel<const R: usize, const G: bool>(
        k: usize,
        x: *const f32,
        ldx: usize,
        panel: *const f32,
        bias: *const f32,
        add: *const f32,
        lda: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        let (b0, b1) = if bias.is_null() {
            (_mm256_setzero_ps(), _mm256_setzero_ps())
        } else {
            (_mm256_loadu_ps(bias), _mm256_loadu_ps(bias.add(8)))
        };
        let mut lo = [b0; MR];
        let mut hi = [b1; MR];
        if !add.is_null() {
            for r in 0..R {
                _mm_prefetch::<_MM_HINT_T0>(add.add(r * lda) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(add.add(r * lda + NR - 1) as *const i8);
            }
        }
        for p in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(p * NR));
            let b1 = _mm256_loadu_ps(panel.add(p * NR + 8));
            for r in 0..R {
                let a = _mm256_broadcast_ss(&*x.add(r * ldx + p));
                lo[r] = _mm256_fmadd_ps(a, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(a, b1, hi[r]);
            }
        }
        for r in 0..R {
            if !add.is_null() {
                lo[r] = _mm256_add_ps(lo[r], _mm256_loadu_ps(add.add(r * lda)));
                hi[r] = _mm256_add_ps(hi[r], _mm256_loadu_ps(add.add(r * lda + 8)));
            }
            if G {
                lo[r] = quick_gelu(lo[r]);
                hi[r] = quick_gelu(hi[r]);
            }
            _mm256_storeu_ps(y.add(r * ldy), lo[r]);
            _mm256_storeu_ps(y.add(r * ldy + 8), hi[r]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn matches_a_plain_loop_on_awkward_shapes() {
        if !available() {
            return;
        }
        let mut rng = Rng::new(1);
        let mut rnd = || rng.range(-0.5, 0.5) as f32;
        for (m, k, n) in [
            (1, 1, 1),
            (5, 7, 15),
            (6, 16, 16),
            (7, 33, 17),
            (197, 64, 48),
            (13, 5, 40),
        ] {
            let x: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let mut y = vec![f32::NAN; m * n];
            PackedWeight::pack(&w, n, k).matmul_bias(&x, m, &b, &mut y);
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = b[j] + (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum::<f32>();
                    let got = y[i * n + j];
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// `len` values uniform in [-0.5, 0.5).
    fn rnd_vec(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.range(-0.5, 0.5) as f32).collect()
    }

    #[test]
    fn epilogue_and_residual_match_plain_arithmetic() {
        if !available() {
            return;
        }
        let mut seed = Rng::new(7);
        let (m, k, n) = (13, 40, 37);
        let x: Vec<f32> = rnd_vec(&mut seed, m * k).iter().map(|v| v * 8.0).collect();
        let w = rnd_vec(&mut seed, n * k);
        let b = rnd_vec(&mut seed, n);
        let res = rnd_vec(&mut seed, m * n);
        let pw = PackedWeight::pack(&w, n, k);
        let (mut g, mut r) = (vec![0f32; m * n], vec![0f32; m * n]);
        pw.matmul(&x, m, &b, None, Epilogue::QuickGelu, &mut g);
        pw.matmul(&x, m, &b, Some(&res), Epilogue::None, &mut r);
        let mut big = 0usize;
        for i in 0..m {
            for j in 0..n {
                let v: f32 = b[j] + (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum::<f32>();
                big += usize::from(v.abs() > 3.0);
                let gelu = v / (1.0 + (-1.702 * v).exp());
                assert!(
                    (g[i * n + j] - gelu).abs() < 1e-4,
                    "gelu({v}) = {}",
                    g[i * n + j]
                );
                assert!((r[i * n + j] - (v + res[i * n + j])).abs() < 1e-4);
            }
        }
        assert!(big > 10, "the test must reach the activation's tails");
        // The write-once variant fills every value of its fresh buffer alike.
        assert_eq!(pw.matmul_new(&x, m, &b, None, Epilogue::QuickGelu), g);
        assert_eq!(pw.matmul_new(&x, m, &b, Some(&res), Epilogue::None), r);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn vector_exp_is_accurate_over_its_range() {
        use std::arch::x86_64::{_mm256_loadu_ps, _mm256_storeu_ps};
        if !available() {
            return;
        }
        for i in 0..2000 {
            let xs: [f32; 8] = std::array::from_fn(|l| -87.0 + (i * 8 + l) as f32 * 0.0109);
            let mut ys = [0f32; 8];
            // SAFETY: available() was checked; the arrays hold 8 values each.
            unsafe { _mm256_storeu_ps(ys.as_mut_ptr(), avx2::exp(_mm256_loadu_ps(xs.as_ptr()))) };
            for (x, y) in xs.iter().zip(&ys) {
                let want = (*x as f64).exp();
                let rel = ((*y as f64) - want).abs() / want;
                assert!(rel < 1e-6, "exp({x}) = {y}: relative error {rel}");
            }
        }
        // The softmax row: sums to 1, in order, with the tail (not a multiple of 8) included.
        let mut row: Vec<f32> = (0..21).map(|i| i as f32 * 0.3).collect();
        // SAFETY: available() was checked.
        unsafe { avx2::exp_scaled_inplace(&mut row, 6.0, 2.0) };
        let z: f64 = (0..21).map(|i| ((i as f64 * 0.3 - 6.0) * 2.0).exp()).sum();
        for (i, v) in row.iter().enumerate() {
            let want = ((i as f64 * 0.3 - 6.0) * 2.0).exp() / z;
            assert!(
                (*v as f64 - want).abs() < 1e-6,
                "softmax[{i}] = {v}, want {want}"
            );
        }
    }

    /// Plain attention for one sample: softmax(scale Q K^T) V per head.
    fn reference_attention(
        qkv: &[f32],
        n: usize,
        heads: usize,
        hd: usize,
        scale: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let d = heads * hd;
        let (mut out, mut probs) = (vec![0f32; n * d], vec![0f32; heads * n * n]);
        for h in 0..heads {
            for i in 0..n {
                let q = &qkv[i * 3 * d + h * hd..][..hd];
                let s: Vec<f32> = (0..n)
                    .map(|j| {
                        let kk = &qkv[j * 3 * d + d + h * hd..][..hd];
                        scale * q.iter().zip(kk).map(|(a, b)| a * b).sum::<f32>()
                    })
                    .collect();
                let mx = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = s.iter().map(|v| (v - mx).exp()).collect();
                let z: f32 = e.iter().sum();
                for j in 0..n {
                    let pj = e[j] / z;
                    probs[(h * n + i) * n + j] = pj;
                    let v = &qkv[j * 3 * d + 2 * d + h * hd..][..hd];
                    for c in 0..hd {
                        out[i * d + h * hd + c] += pj * v[c];
                    }
                }
            }
        }
        (out, probs)
    }

    #[test]
    fn attention_matches_the_plain_formula() {
        if !available() {
            return;
        }
        let mut seed = Rng::new(3);
        for (batch, n, heads, hd) in [(1, 1, 1, 16), (2, 7, 3, 16), (1, 23, 2, 32), (3, 50, 4, 16)]
        {
            let d = heads * hd;
            let qkv: Vec<f32> = rnd_vec(&mut seed, batch * n * 3 * d)
                .iter()
                .map(|v| v * 6.0)
                .collect();
            let scale = (hd as f32).powf(-0.5);
            let mut out = vec![f32::NAN; batch * n * d];
            let mut probs = vec![f32::NAN; batch * heads * n * n];
            attention(&qkv, batch, n, heads, hd, scale, &mut out, Some(&mut probs));
            for b in 0..batch {
                let (o, p) = reference_attention(
                    &qkv[b * n * 3 * d..(b + 1) * n * 3 * d],
                    n,
                    heads,
                    hd,
                    scale,
                );
                for (got, want) in out[b * n * d..(b + 1) * n * d].iter().zip(&o) {
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{batch}x{n}x{heads}x{hd}: {got} vs {want}"
                    );
                }
                let pb = &probs[b * heads * n * n..(b + 1) * heads * n * n];
                for (got, want) in pb.iter().zip(&p) {
                    assert!((got - want).abs() < 1e-5, "probability {got} vs {want}");
                }
            }
        }
    }
}
