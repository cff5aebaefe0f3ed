//! The whole suite, once per strategy. `cargo test` runs this binary with
//! the default strategy; this test runs the same binary again for each
//! other strategy this build serves, so every test above is a test of every
//! strategy without being written twice.

use std::process::Command;

use crate::support::text;

const OTHER_STRATEGIES: [&str; 3] = ["stateful-jwt", "access-refresh", "auto-refresh"];

#[test]
fn the_suite_passes_in_every_strategy() {
    if std::env::var_os("LATCHKEY_E2E_STRATEGY").is_some() {
        return; // Already a per-strategy run: do not recurse.
    }
    let me = std::env::current_exe().expect("test binary");
    for strategy in OTHER_STRATEGIES {
        let out = Command::new(&me)
            .env("LATCHKEY_E2E_STRATEGY", strategy)
            .args(["--skip", "strategies::", "--test-threads", "8"])
            .output()
            .expect("run the suite");
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "suite failed with --strategy {strategy}:\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains("test result: ok"), "{stdout}");
    }
}
