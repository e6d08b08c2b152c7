//! GFLOP/s of the packed inference GEMM on ViT-B/16's batch-1 shapes (197 tokens).
//!   cargo run --release --example gemm_bench [ITERS]
use fauxscope::model::packed_gemm::{available, PackedWeight};
use std::time::Instant;

fn main() {
    if !available() {
        eprintln!("no AVX2 + FMA");
        return;
    }
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let m = 197;
    let mut total = 0.0;
    for (name, k, n) in [
        ("qkv", 768, 2304),
        ("out", 768, 768),
        ("fc1", 768, 3072),
        ("fc2", 3072, 768),
    ] {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let b = vec![0.1f32; n];
        let pw = PackedWeight::pack(&w, n, k);
        let mut y = vec![0f32; m * n];
        pw.matmul_bias(&x, m, &b, &mut y);
        let mut times = Vec::new();
        for _ in 0..iters {
            let t = Instant::now();
            pw.matmul_bias(&x, m, &b, &mut y);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = times[iters / 2];
        let gf = 2.0 * (m * k * n) as f64 / med / 1e9;
        total += med;
        println!(
            "{name:4} {m}x{k}x{n}: median {:.3} ms, best {:.3} ms, {gf:.1} GFLOP/s",
            med * 1e3,
            times[0] * 1e3
        );
    }
    println!(
        "per layer (median sum): {:.2} ms, x12 = {:.1} ms",
        total * 1e3,
        total * 12e3
    );
}
