// Durations beyond what `Duration::from_nanos(u64)` holds (about 584 years)
// are "too long" in every unit and for every duration argument, never an
// arithmetic overflow inside the macro.
#[runner::main(shutdown_timeout = "999999999999999999999999999999h")]
async fn main() {}

#[runner::main(shutdown_timeout = "99999999999999999999999999999999999999999ns")]
async fn ns() {}

#[runner::main(shutdown_timeout = "99999999999999999999999999999999999us")]
async fn us() {}

#[runner::main(interrupt_grace = "99999999999999999999999999999999ms")]
async fn ms() {}

#[runner::main(interrupt_grace = "999999999999999999999999999999.5s")]
async fn s() {}

#[runner::main(interrupt_grace = "9999999999999999999999999999m")]
async fn m() {}

#[runner::test(timeout = "999999999999999999999999999h")]
async fn test_timeout() {}

#[runner::test(shutdown_timeout = "600000y")]
async fn unknown_unit_still_says_so() {}

#[runner::test(shutdown_timeout = "5124096h")]
async fn just_over_u64_nanoseconds() {}
