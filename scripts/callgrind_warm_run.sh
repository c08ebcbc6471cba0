#!/usr/bin/env bash
# Instructions per warm run, counted by callgrind (repeatable, unlike wall
# time on a shared machine): runs examples/warm_runs.rs with 1,000 and 11,000
# runs for each kind of work and prints (difference / 10,000), so that
# start-up and the first run's set-up cancel out. Needs valgrind.
#   scripts/callgrind_warm_run.sh [WORK...]   (default: tokio runner runner_no_sigint)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example warm_runs --quiet
exe=target/release/examples/warm_runs
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # work runs -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" "$exe" "$1" "$2" \
        2>&1 | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
works=("$@")
[ ${#works[@]} -eq 0 ] && works=(tokio runner runner_no_sigint)
for work in "${works[@]}"; do
    small=$(count "$work" 1000)
    large=$(count "$work" 11000)
    echo "$work: $(( (large - small) / 10000 )) instructions per warm run"
done
