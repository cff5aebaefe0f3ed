//! `jwt`: the target function of `crates/latchkey-core/tests/fuzz.rs`
//! under libFuzzer. A failed property is a crash.
#![no_main]

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../../crates/latchkey-core/tests/fuzz.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A rejected input (`prop_assume!`) is not a failure.
    if let Err(proptest::test_runner::TestCaseError::Fail(why)) = props::jwt_target(data) {
        panic!("{why}");
    }
});
