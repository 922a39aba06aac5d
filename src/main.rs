use clap::Parser;

/// mimalloc instead of glibc's allocator: request handling and table loading are
/// allocation-heavy (glibc's malloc/free were ~20 % of a cache hit's instructions), and glibc
/// keeps freed memory resident after a large table is parsed, where mimalloc returns it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = flexroute::cli::Cli::parse();
    flexroute::telemetry::init(cli.log_format);
    flexroute::cli::run(cli)
}
