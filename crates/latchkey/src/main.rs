//! The `latchkey` binary: parse the command line, run the command, turn any
//! failure into one line on stderr and a non-zero exit.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod config;
mod telemetry;
mod wiring;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates and frees
/// dozens of small buffers, and glibc's malloc spent about a third of the
/// per-request CPU on them (see the README's "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One line: the error and its causes, joined.
fn fail(e: &anyhow::Error) -> ExitCode {
    let line = e
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ");
    eprintln!("latchkey: error: {line}");
    ExitCode::FAILURE
}
