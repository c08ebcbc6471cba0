#!/usr/bin/env bash
# The dependency floors are true: the workspace builds and its tests pass
# with every direct dependency (of both crates, dev-dependencies included)
# at the lowest version its Cargo.toml allows, as a project whose lock file
# holds old versions would build it. Indirect dependencies take their
# newest compatible versions (`-Z direct-minimal-versions`, nightly only for
# the resolution; the build and the tests use the default toolchain).
#
# Works on a scratch copy of the workspace, so the repository's Cargo.lock
# is never touched. The copy and its own target dir live in
# target/minimal-versions/ and are reused between runs (the copy keeps the
# files' times, so only what changed is rebuilt).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$repo/target/minimal-versions"
copy="$scratch/workspace"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "scripts/minimal_versions.sh: needs a nightly toolchain for" \
        "-Z direct-minimal-versions (rustup toolchain install nightly)" >&2
    exit 1
fi

# The working tree as it is, without the build output and the lock file
# (files deleted since the last run go too).
rm -rf "$copy"
mkdir -p "$copy"
(cd "$repo" && tar --exclude=./target --exclude=./.git --exclude=./Cargo.lock -cf - .) |
    (cd "$copy" && tar -xf -)
cd "$copy"
cargo +nightly update -Z direct-minimal-versions --quiet
export CARGO_TARGET_DIR="$scratch/target"
cargo build --workspace --all-targets --quiet
cargo test --workspace --quiet
# windows-sys's floor: the Windows backend type-checks against it (the cfg
# comes from RUSTFLAGS, hence a target dir of its own; see .ci/run).
RUSTFLAGS="--cfg runner_windows_glue -D warnings" CARGO_TARGET_DIR="$scratch/windows-glue" \
    cargo check --lib --quiet
