//! Small numeric building blocks. Each has a differentiable form built only from candle ops that
//! have a backward pass, and a fused inference form used when no gradient is needed.

use candle_core::{DType, Result, Tensor, D};

/// Layer normalisation over the last dimension.
pub fn layer_norm(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
    differentiable: bool,
) -> Result<Tensor> {
    if !differentiable {
        return candle_nn::ops::layer_norm(&x.contiguous()?, w, b, eps as f32);
    }
    let in_dtype = x.dtype();
    let x = if in_dtype == DType::F32 {
        x.clone()
    } else {
        x.to_dtype(DType::F32)?
    };
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.to_dtype(in_dtype)?.broadcast_mul(w)?.broadcast_add(b)
}

/// Softmax over the last dimension.
pub fn softmax_last_dim(x: &Tensor, differentiable: bool) -> Result<Tensor> {
    if !differentiable {
        return candle_nn::ops::softmax_last_dim(&x.contiguous()?);
    }
    // The max is subtracted for numerical stability only; its gradient cancels, so detach it.
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// CLIP's `quick_gelu`: x * sigmoid(1.702 x).
pub fn quick_gelu(x: &Tensor, differentiable: bool) -> Result<Tensor> {
    if !differentiable {
        return x * candle_nn::ops::sigmoid(&(x * 1.702)?)?;
    }
    let s = ((x * -1.702)?.exp()? + 1.0)?.recip()?;
    x * s
}

/// Numerically plain sigmoid for host-side scores.
pub fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < tol, "max abs diff {d}");
    }

    #[test]
    fn fused_and_differentiable_forms_agree() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(0f32, 3.0, (2, 5, 7), &dev).unwrap() + 1.0).unwrap();
        let w = Tensor::randn(1f32, 0.1, 7, &dev).unwrap();
        let b = Tensor::randn(0f32, 0.1, 7, &dev).unwrap();
        close(
            &layer_norm(&x, &w, &b, 1e-5, false).unwrap(),
            &layer_norm(&x, &w, &b, 1e-5, true).unwrap(),
            1e-4,
        );
        close(
            &softmax_last_dim(&x, false).unwrap(),
            &softmax_last_dim(&x, true).unwrap(),
            1e-6,
        );
        close(
            &quick_gelu(&x, false).unwrap(),
            &quick_gelu(&x, true).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn differentiable_forms_have_gradients() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::ones(4, DType::F32, &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::zeros(4, DType::F32, &dev).unwrap()).unwrap();
        let target = Tensor::randn(0f32, 1.0, (3, 4), &dev).unwrap();
        let y = layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5, true).unwrap();
        let y = quick_gelu(&softmax_last_dim(&y, true).unwrap(), true).unwrap();
        let loss = (y - &target).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        for v in [&x, &w, &b] {
            let g = grads.get(v.as_tensor()).expect("gradient");
            let n = g
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n > 0.0);
        }
    }

    #[test]
    fn sigmoid_is_stable() {
        assert!((sigmoid_f32(0.0) - 0.5).abs() < 1e-7);
        assert!(sigmoid_f32(-1000.0) >= 0.0 && sigmoid_f32(1000.0) <= 1.0);
    }
}
