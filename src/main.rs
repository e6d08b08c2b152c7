use clap::Parser;

/// mimalloc (MIT) instead of glibc malloc, measured (docs/BENCHMARKS.md): with glibc the window's
/// UI thread stalled for 160-230 ms during and after training, blocked on a malloc arena lock
/// while another thread trimmed that arena, or trimming it itself in `brk()`. mimalloc frees
/// across threads without such locks and returns memory on the owning thread. It is also a
/// little faster for inference than glibc tuned with mallopt.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = fauxscope::cli::Cli::parse();
    match fauxscope::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
