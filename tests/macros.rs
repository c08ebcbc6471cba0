//! The attributes' compile-time contract: every argument compiles where it
//! applies, and every misuse gives the error pinned in `tests/ui/fail/*.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test --test macros`, then read
//! each file).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
