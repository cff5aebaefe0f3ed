//! The `latchkey` binary; everything it does is in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a request allocates and frees
/// dozens of small buffers, and glibc's malloc spent about a third of the
/// per-request CPU on them (see the README's "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    latchkey::run_command_line()
}
