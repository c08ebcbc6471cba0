#!/usr/bin/env bash
# Checks the one attribute error trybuild cannot pin: `start_paused = true`
# when the Tokio in the build lacks its `test-util` feature (the trybuild
# project always has it, through runner-macros' dev-dependencies). Builds a
# scratch crate whose tokio has no `test-util` and expects the message from
# runner::__private::NeedsTokioTestUtil at the argument's span.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "start-paused-check"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
runner = { package = "asyncio-runner", path = "$repo" }
tokio = { version = "1.54", features = ["rt", "time"] }
TOML
cp "$repo/Cargo.lock" "$work/Cargo.lock"
cat > "$work/src/main.rs" <<'RS'
#[runner::main(start_paused = true)]
async fn main() {}
RS
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}/start-paused-check"
if out="$(cd "$work" && cargo build --color never 2>&1)"; then
    echo "FAIL: start_paused compiled without tokio's test-util" >&2
    exit 1
fi
for want in "error[E0277]: \`start_paused = true\` needs Tokio's \`test-util\` feature" \
            "src/main.rs:1:31" 'features = ["test-util"]'; do
    grep -qF "$want" <<<"$out" || { echo "FAIL: missing: $want" >&2; echo "$out" >&2; exit 1; }
done
echo "ok: start_paused without test-util gives the test-util error at the argument"
