//! The trybuild suite of `#[recorded_task]`: every misuse in `ui/*.rs` must fail to
//! compile with the committed `.stderr`, and every case in `ui/pass/` must compile and
//! run. Regenerate the `.stderr` files with `TRYBUILD=overwrite`.
#![forbid(unsafe_code)]

/// Catches a change in what the macro accepts or in the diagnostics it gives for a misuse.
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/*.rs");
}
