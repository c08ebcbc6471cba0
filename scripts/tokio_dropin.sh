#!/usr/bin/env bash
# Drop-in proof for #[runner::test]: runs some of tokio's own integration test
# files with `tokio::test` replaced by `runner::test` and nothing else changed.
#
# The files are copied at run time from the tokio package in the local cargo
# registry (they are not part of this repository) into a scratch crate that
# depends on this runner by path, then `cargo test` runs them.
#
# Usage: scripts/tokio_dropin.sh [FILE.rs ...]   (default: the list below)
# Needs network access once, for the helper crates tokio's tests use
# (tokio-test, tokio-stream, rand).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(sync_mutex.rs sync_oneshot.rs sync_rwlock.rs sync_semaphore.rs sync_mpsc.rs
           sync_mpsc_weak.rs sync_broadcast_weak.rs sync_watch.rs
           time_sleep.rs time_interval.rs time_timeout.rs time_pause.rs test_clock.rs
           rt_time_start_paused.rs task_local_set.rs task_local.rs task_join_set.rs
           macros_select.rs macros_join.rs macros_try_join.rs macros_test.rs)
fi
tokio_version="$(cargo metadata --format-version 1 --manifest-path "$repo/Cargo.toml" \
    | grep -o '"name":"tokio","version":"[^"]*"' | head -1 | sed 's/.*"version":"\([^"]*\)"/\1/')"
src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"tokio-$tokio_version" | head -1)"
[ -d "$src/tests" ] || { echo "tokio $tokio_version sources not found in the cargo registry" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/tests"
cp -r "$src/tests/support" "$work/tests/support"
touch "$work/src/lib.rs"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "tokio-dropin"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

# tokio's test files are gated on tokio's own feature names.
[features]
default = ["full"]
full = ["sync", "macros", "rt", "rt-multi-thread", "time", "net", "io-util", "fs", "process", "signal", "test-util"]
sync = []
macros = []
rt = []
rt-multi-thread = []
time = []
net = []
io-util = []
fs = []
process = []
signal = []
test-util = []

[dev-dependencies]
runner = { package = "asyncio-runner", path = "$repo" }
tokio = { version = "=$tokio_version", features = ["full", "test-util"] }
tokio-test = "0.4"
tokio-stream = "0.1"
futures = { version = "0.3", features = ["async-await"] }
rand = "0.9"
TOML
cp "$repo/Cargo.lock" "$work/Cargo.lock"
for f in "${files[@]}"; do
    # Only the attribute changes: `#[tokio::test]` and `use tokio::test as ...`.
    sed 's/\btokio::test\b/runner::test/g' "$src/tests/$f" > "$work/tests/$f"
    echo "$f: $(grep -c 'runner::test' "$work/tests/$f") attribute line(s) changed"
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}/tokio-dropin"
cd "$work"
keep="${KEEP_LOG:-}"; [ -z "$keep" ] || trap 'cp "$work/log" "$keep"; rm -rf "$work"' EXIT
# Tests that assert tokio behaviour runner changes on purpose, skipped by name:
# - spawn_local::panic_in_multi_thread_runtime (task_join_set.rs) expects
#   `spawn_local` to panic under `flavor = "multi_thread"`; a runner's main
#   task always runs in a `LocalSet`, whatever the flavour (see DESIGN.md), so
#   `spawn_local` works there.
skips=(--skip spawn_local::panic_in_multi_thread_runtime)
echo "skipped on purpose: ${skips[*]}"
cargo test --tests --no-fail-fast -- "${skips[@]}" 2>&1 | tee "$work/log" | grep -E "^(     Running|test result|error)" || true
! grep -q '^test result: FAILED' "$work/log"
