use clap::Parser;

/// mimalloc (MIT) instead of glibc malloc, measured (docs/BENCHMARKS.md): with glibc the window's
/// UI thread stalled for 160-230 ms during and after training, blocked on a malloc arena lock
/// while another thread trimmed that arena, or trimming it itself in `brk()`. mimalloc frees
/// across threads without such locks and returns memory on the owning thread. It is also a
/// little faster for inference than glibc tuned with mallopt.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (libmimalloc-sys names only older ones).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // candle's elementwise thread pool spins for a while after each operation before it sleeps.
    // Between two operations our GEMM runs on rayon's threads, and on a machine with few cores
    // that spinning thread takes a core from it: measured 0.49-0.54 s against 0.42-0.46 s per
    // ViT-B/16 image at batch 1 on 2 cores (docs/BENCHMARKS.md). Set before any thread starts;
    // a value the user exported wins.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0");
    }
    // mimalloc gives freed memory back to the system 10 ms after it is freed (its default). A
    // forward pass frees and re-allocates its activations many times over, so each pass had its
    // pages faulted in and zeroed by the kernel again: 0.58-0.62 s per ViT-B/16 image at batch 1
    // against 0.43-0.47 s with a 10 s delay, for about 20 MB more resident memory
    // (docs/BENCHMARKS.md). Memory idle for 10 s still goes back. MIMALLOC_PURGE_DELAY wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a global allocator option; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
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
