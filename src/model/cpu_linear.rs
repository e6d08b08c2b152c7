//! A fused CPU kernel for inference: y = x W^T + b in one GEMM call, with the bias pre-filled in
//! the destination (`read_dst`), so there is no separate bias pass over the output. It has no
//! backward pass: the differentiable path never uses it.

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor};

struct FusedLinear;

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused_linear needs contiguous inputs".into()))?;
    match s {
        CpuStorage::F32(v) => Ok(&v[a..b]),
        _ => candle_core::bail!("fused_linear supports f32 only"),
    }
}

impl CustomOp3 for FusedLinear {
    fn name(&self) -> &'static str {
        "fused_linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 || l3.shape().dims1()? != n {
            candle_core::bail!(
                "fused_linear: shapes {:?} x {:?} + {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let mut y = Vec::with_capacity(m * n);
        for _ in 0..m {
            y.extend_from_slice(b);
        }
        let threads = rayon::current_num_threads().max(1);
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the pointers and strides describe valid, in-bounds row-major matrices:
        // y [m, n] (row stride n), x [m, k] (row stride k), and W^T read from w [n, k].
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                y.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                par,
            );
        }
        Ok((CpuStorage::F32(y), Shape::from_dims(&[m, n])))
    }
}

/// `x [M, K] @ w [N, K]^T + b [N]` through the fused kernel when it applies (CPU, f32), else `None`.
pub fn fused_linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    if !matches!(x.device(), Device::Cpu) || x.dtype() != DType::F32 || w.dtype() != DType::F32 {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    let b = b.contiguous()?;
    Ok(Some(x.apply_op3_no_bwd(&w, &b, &FusedLinear)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_matmul_plus_bias() {
        let d = Device::Cpu;
        for (m, k, n) in [(1, 3, 5), (7, 33, 70), (197, 64, 130)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &d).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &d).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &d).unwrap();
            let want = x
                .matmul(&w.t().unwrap())
                .unwrap()
                .broadcast_add(&b)
                .unwrap();
            let got = fused_linear(&x, &w, &b).unwrap().unwrap();
            let diff = (want - got)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-3, "{m}x{k}x{n}: {diff}");
        }
    }
}
