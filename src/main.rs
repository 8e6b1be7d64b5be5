//! The `tmnet` binary: parse, run, print one line on failure, exit with its status.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = tmnet::cli::Cli::parse_from_os(std::env::args_os());
    match tmnet::run(&cli, &|name| std::env::var(name).ok()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tmnet: error: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
