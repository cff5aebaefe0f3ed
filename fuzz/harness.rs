//! The proptest side of the fuzz targets, shared by
//! `crates/latchkey-core/tests/fuzz.rs` and `crates/latchkey-http/tests/fuzz.rs`
//! (included with `#[path]`, so the two cannot drift apart).
//!
//! A target is a function from one input to a verdict. [`check`] feeds it
//! generated inputs, [`check_corpus`] every file of `fuzz/corpus/<target>/`.
//!
//! - `LATCHKEY_FUZZ_CASES=N`: cases per property (default: each property's
//!   own, small enough for CI).
//! - `LATCHKEY_FUZZ_SEED=N` or `random`: the base seed (default: fixed, so
//!   CI runs are deterministic). Each target mixes its name into it.
//!
//! A failing case's seed is saved to `fuzz/regressions/<target>.txt` and
//! replayed first on every later run: commit that file with the fix.

use std::{
    fmt::Debug,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    time::Instant,
};

use proptest::{
    strategy::Strategy,
    test_runner::{
        Config, FileFailurePersistence, RngSeed, TestCaseError, TestCaseResult, TestError,
        TestRunner,
    },
};

/// The base seed of CI runs.
const DEFAULT_SEED: u64 = 0x6c61_7463_686b_6579; // "latchkey"

/// The repository's `fuzz/` folder.
pub(crate) fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The base seed: `LATCHKEY_FUZZ_SEED`, a fresh one for `random`, or
/// [`DEFAULT_SEED`].
fn base_seed() -> u64 {
    match env_var("LATCHKEY_FUZZ_SEED").as_deref() {
        None => DEFAULT_SEED,
        Some("random") => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        }
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("LATCHKEY_FUZZ_SEED={v:?}: expected a number or `random`")),
    }
}

/// FNV-1a, to give every target its own stream from one base seed.
fn mix(target: &str, base: u64) -> u64 {
    target
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64 ^ base, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Cases for a property: `LATCHKEY_FUZZ_CASES`, or its CI default.
pub(crate) fn cases(default: u32) -> u32 {
    env_var("LATCHKEY_FUZZ_CASES").map_or(default, |v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("LATCHKEY_FUZZ_CASES={v:?}: expected a number"))
    })
}

fn config(target: &'static str, cases: u32, seed: u64) -> Config {
    let regressions = fuzz_dir().join("regressions").join(format!("{target}.txt"));
    let regressions: &'static str = Box::leak(regressions.display().to_string().into_boxed_str());
    Config {
        cases,
        rng_seed: RngSeed::Fixed(mix(target, seed)),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        test_name: Some(target),
        // Most properties reject nothing; the few that filter do so rarely.
        max_global_rejects: cases.saturating_mul(4).max(1024),
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Runs `test` on `cases(default_cases)` inputs drawn from `strategy`.
pub(crate) fn check<S>(
    target: &'static str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases(default_cases);
    let seed = base_seed();
    let mut runner = TestRunner::new(config(target, cases, seed));
    let started = Instant::now();
    let result = runner.run(&strategy, test);
    eprintln!(
        "fuzz {target}: {cases} cases, seed {seed}, {:.2?}",
        started.elapsed()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!(
            "fuzz target `{target}` failed: {why}\n\
             minimal failing input: {input:#?}\n\
             reproduce: LATCHKEY_FUZZ_SEED={seed} LATCHKEY_FUZZ_CASES={cases} \
             (the seed is also saved in fuzz/regressions/{target}.txt)"
        ),
        Err(TestError::Abort(why)) => panic!("fuzz target `{target}` aborted: {why}"),
    }
}

/// The files of `fuzz/corpus/<target>/`, by name. A target without a
/// corpus is a mistake (a renamed folder), not a pass.
pub(crate) fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, bytes)
        })
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

/// Runs `test` on every corpus file of `target`; a panic counts as a
/// failure of that file.
pub(crate) fn check_corpus(target: &str, test: impl Fn(&[u8]) -> TestCaseResult) {
    let files = corpus(target);
    let started = Instant::now();
    let mut failures = Vec::new();
    for (name, bytes) in &files {
        let verdict = catch_unwind(AssertUnwindSafe(|| test(bytes))).unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panicked: {text}")))
        });
        // A file the target declines (`prop_assume!`) passes.
        if let Err(TestCaseError::Fail(why)) = verdict {
            failures.push(format!("fuzz/corpus/{target}/{name}: {why}"));
        }
    }
    eprintln!(
        "fuzz corpus {target}: {} files, {:.2?}",
        files.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
