use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = flexroute::cli::Cli::parse();
    flexroute::telemetry::init(cli.log_format);
    flexroute::cli::run(cli)
}
