//! The attributes' compile-time contract: every argument compiles where it
//! applies, and every misuse gives the error pinned in `tests/ui/fail/*.stderr`.
//!
//! Regenerate with `TRYBUILD=overwrite cargo test -p asyncio-runner-macros --test ui`,
//! then read each file: the message and the span it points at.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
