//! The `tmnet` binary: parse, run, print one line on failure, exit with its status.

use std::process::ExitCode;

fn main() -> ExitCode {
    let result = tmnet::cli::Cli::parse_from_os(std::env::args_os())
        .and_then(|cli| tmnet::run(&cli, &|name| std::env::var(name).ok()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tmnet: error: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
