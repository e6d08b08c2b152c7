//! Helpers shared by the integration tests.

use candle_core::Tensor;

/// Largest absolute element-wise difference between two tensors of the same shape.
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
