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
        let (n, k) = (self.n, self.k);
        assert!(available(), "packed GEMM needs AVX2 and FMA");
        assert!(x.len() == m * k && bias.len() == n && y.len() == m * n);
        for row in y.chunks_exact_mut(n) {
            row.copy_from_slice(bias);
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
        let out = SendPtr(y.as_mut_ptr());
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
                    // of its own panels: in bounds of y, disjoint between chunks; x and the
                    // panel are read in bounds (rows * k and k * 16 values).
                    unsafe {
                        tile(
                            rows,
                            cols,
                            k,
                            x.as_ptr().add(r0 * k),
                            panel.as_ptr(),
                            out.0.add(r0 * n + p * NR),
                            n,
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

struct SendPtr(*mut f32);
// SAFETY: the threads write disjoint regions (see matmul_bias).
unsafe impl Sync for SendPtr {}

/// One tile: `rows` (<= 6) rows of x times one panel, accumulated into y (already holding the
/// bias). A partial panel (`cols` < 16) goes through a local buffer.
unsafe fn tile(
    rows: usize,
    cols: usize,
    k: usize,
    x: *const f32,
    panel: *const f32,
    y: *mut f32,
    ldy: usize,
) {
    if cols == NR {
        return kernel_dispatch(rows, k, x, k, panel, y, ldy);
    }
    let mut buf = [0f32; MR * NR];
    for r in 0..rows {
        for c in 0..cols {
            buf[r * NR + c] = *y.add(r * ldy + c);
        }
    }
    kernel_dispatch(rows, k, x, k, panel, buf.as_mut_ptr(), NR);
    for r in 0..rows {
        for c in 0..cols {
            *y.add(r * ldy + c) = buf[r * NR + c];
        }
    }
}

unsafe fn kernel_dispatch(
    rows: usize,
    k: usize,
    x: *const f32,
    ldx: usize,
    panel: *const f32,
    y: *mut f32,
    ldy: usize,
) {
    #[cfg(target_arch = "x86_64")]
    match rows {
        6 => avx2::kernel::<6>(k, x, ldx, panel, y, ldy),
        5 => avx2::kernel::<5>(k, x, ldx, panel, y, ldy),
        4 => avx2::kernel::<4>(k, x, ldx, panel, y, ldy),
        3 => avx2::kernel::<3>(k, x, ldx, panel, y, ldy),
        2 => avx2::kernel::<2>(k, x, ldx, panel, y, ldy),
        1 => avx2::kernel::<1>(k, x, ldx, panel, y, ldy),
        _ => unreachable!("tiles have 1 to 6 rows"),
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (rows, k, x, ldx, panel, y, ldy);
        unreachable!("available() is false off x86-64")
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// y[r, 0..16] += sum_p x[r, p] * panel[p, 0..16] for r < R.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel<const R: usize>(
        k: usize,
        x: *const f32,
        ldx: usize,
        panel: *const f32,
        y: *mut f32,
        ldy: usize,
    ) {
        let mut lo = [_mm256_setzero_ps(); MR];
        let mut hi = [_mm256_setzero_ps(); MR];
        for r in 0..R {
            lo[r] = _mm256_loadu_ps(y.add(r * ldy));
            hi[r] = _mm256_loadu_ps(y.add(r * ldy + 8));
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
            _mm256_storeu_ps(y.add(r * ldy), lo[r]);
            _mm256_storeu_ps(y.add(r * ldy + 8), hi[r]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_plain_loop_on_awkward_shapes() {
        if !available() {
            return;
        }
        let mut seed = 1u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
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
}
