//! The whole suite, once per strategy and store backend. `cargo test` runs
//! this binary with the default (`session` on SQLite); this test runs the
//! same binary again for every other combination, so every test above is a
//! test of every strategy on every backend without being written twice.
//! PostgreSQL runs are skipped, with a note, when no server is reachable,
//! except under CI, where that is a failure.

use std::process::Command;

use crate::support::{postgres_admin, postgres_server, text};

const STRATEGIES: [&str; 4] = ["session", "stateful-jwt", "access-refresh", "auto-refresh"];

fn postgres_available() -> bool {
    match postgres_admin("SELECT 1".to_owned()) {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {} is required in CI: {e}", postgres_server())
        }
        Err(e) => {
            eprintln!(
                "skipped: PostgreSQL runs, {} not reachable ({e})",
                postgres_server()
            );
            false
        }
    }
}

#[test]
fn the_suite_passes_in_every_strategy_and_backend() {
    if std::env::var_os("LATCHKEY_E2E_STRATEGY").is_some() {
        return; // Already a per-combination run: do not recurse.
    }
    let me = std::env::current_exe().expect("test binary");
    let mut backends = vec!["sqlite"];
    if postgres_available() {
        backends.push("postgres");
    }
    for backend in backends {
        for strategy in STRATEGIES {
            if (backend, strategy) == ("sqlite", "session") {
                continue; // This run.
            }
            let out = Command::new(&me)
                .env("LATCHKEY_E2E_STRATEGY", strategy)
                .env("LATCHKEY_E2E_BACKEND", backend)
                .args(["--skip", "strategies::", "--test-threads", "8"])
                .output()
                .expect("run the suite");
            let stdout = text(&out.stdout);
            assert!(
                out.status.success(),
                "suite failed with --strategy {strategy} on {backend}:\n{stdout}\n{}",
                text(&out.stderr)
            );
            assert!(stdout.contains("test result: ok"), "{stdout}");
        }
    }
}
