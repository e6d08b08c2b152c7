use clap::Parser;

/// mimalloc (MIT) instead of glibc malloc, measured (docs/BENCHMARKS.md): with glibc the window's
/// UI thread stalled for 160-230 ms during and after training, blocked on a malloc arena lock
/// while another thread trimmed that arena, or trimming it itself in `brk()`. mimalloc frees
/// across threads without such locks and returns memory on the owning thread. It is also a
/// little faster for inference than glibc tuned with mallopt.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // candle's elementwise thread pool spins for a while after each operation before it sleeps.
    // Between two operations our GEMM runs on rayon's threads, and on a machine with few cores
    // that spinning thread takes a core from it: measured 0.49-0.54 s against 0.42-0.46 s per
    // ViT-B/16 image at batch 1 on 2 cores (docs/BENCHMARKS.md). Set before any thread starts;
    // a value the user exported wins.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0");
    }
    let cli = fauxscope::cli::Cli::parse();
    match fauxscope::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
