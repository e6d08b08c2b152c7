//! Helpers shared by the integration tests.

use candle_core::Tensor;

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
