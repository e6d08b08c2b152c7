use clap::Parser;

fn main() {
    fauxscope::tune_allocator();
    let cli = fauxscope::cli::Cli::parse();
    match fauxscope::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
