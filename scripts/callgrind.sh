#!/usr/bin/env bash
# Instruction counts of the benchmark pairs (benches/pairs.rs) under
# `valgrind --tool=callgrind`: repeatable run to run, whatever the machine's
# load, where wall time on a shared 2-core machine moves by tens of percent.
# Each side runs at N and 2N iterations; the difference over N is the cost of
# one iteration, with process start and set-up subtracted out.
#
#   scripts/callgrind.sh            # every pair
#   scripts/callgrind.sh warm spawn # some pairs
#   PAIRS_TRACING=span scripts/callgrind.sh spawn  # under a subscriber, in a span
#   PAIRS_BIN=/tmp/pairs-before scripts/callgrind.sh spawn  # a binary built earlier
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
if [ -n "${PAIRS_BIN:-}" ]; then
    bin="$PAIRS_BIN"
else
    cargo bench --bench pairs --no-run --quiet 2>/dev/null
    bin="$(ls -t ${CARGO_TARGET_DIR:-target}/release/deps/pairs-* | grep -v '\.d$' | head -1)"
fi
declare -A iters=([cold]=20 [cold_no_sigint]=20 [warm]=200 [warm_no_sigint]=200
                  [spawn_local]=5 [spawn]=5 [self_wake]=5 [detached]=5 [spawn_mt]=5
                  [spawn_local_debug]=5 [self_wake_debug]=5 [get]=2000 [set]=2000 [copy]=2000)
declare -A per=([spawn_local]=1000 [spawn]=1000 [self_wake]=1000 [detached]=1000 [spawn_mt]=1000
                [spawn_local_debug]=1000 [self_wake_debug]=1000)
workloads=("$@")
[ ${#workloads[@]} -eq 0 ] && workloads=(cold cold_no_sigint warm warm_no_sigint spawn_local spawn self_wake detached spawn_mt spawn_local_debug self_wake_debug get set copy)
count() { # workload side iterations -> instructions
    local out
    out="$(mktemp)"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>"$out" >/dev/null
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
    rm -f "$out"
}
printf '%-16s %14s %14s %8s\n' workload runner tokio ratio
for w in "${workloads[@]}"; do
    n=${iters[$w]}
    unit=${per[$w]:-1}
    line=()
    for side in runner tokio; do
        a=$(count "$w" "$side" "$n")
        b=$(count "$w" "$side" $((2 * n)))
        line+=("$(python3 -c "print(f'{($b - $a) / ($n * $unit):.1f}')")")
    done
    ratio=$(python3 -c "r, t = ${line[0]}, ${line[1]}; print(f'{r / t:.2f}x' if t > 0 else '-')")
    printf '%-16s %14s %14s %8s\n' "$w" "${line[0]}" "${line[1]}" "$ratio"
done
echo "(instructions per iteration; spawn and self_wake rows per task / per wake)"
