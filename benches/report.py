#!/usr/bin/env python3
"""Runs the criterion benches and the asyncio baseline, prints one table.

    python3 benches/report.py            # run everything, then print
    python3 benches/report.py --no-bench # print from the last saved results

Criterion keeps each result in <target>/criterion/<group>/<bench>/new/
estimates.json; the mean point estimate is used. The target directory is
$CARGO_TARGET_DIR, else what `cargo metadata` says. Plain Python 3, no
dependencies.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHES = ["run", "tasks", "context"]

# (workload, runner bench, raw tokio bench or None, asyncio name or None)
ROWS = [
    ("`run(noop)` cold", "run_cold/runner", "run_cold/tokio", "run_cold"),
    ("`run(noop)` cold, `handle_sigint(false)`", "run_cold/runner_no_sigint", "run_cold/tokio", None),
    ("`Runner::run(noop)` warm", "run_warm/runner", "run_warm/tokio", "run_warm"),
    ("`Runner::run(noop)` warm, `handle_sigint(false)`", "run_warm/runner_no_sigint", "run_warm/tokio", None),
    ("spawn+await 100k: `spawn_local` vs `spawn_local`", "spawn_await_100k/runner_spawn_local",
     "spawn_await_100k/tokio_spawn_local", "spawn_await_100k"),
    ("spawn+await 100k: `spawn` vs `spawn_local`", "spawn_await_100k/runner_spawn",
     "spawn_await_100k/tokio_spawn_local", "spawn_await_100k"),
    ("spawn+await 100k: `spawn` vs `tokio::spawn`", "spawn_await_100k/runner_spawn",
     "spawn_await_100k/tokio_spawn", "spawn_await_100k"),
    ("spawn+await 100k: `spawn_local`, debug on", "spawn_await_100k/runner_spawn_local_debug",
     "spawn_await_100k/tokio_spawn_local", "spawn_await_100k"),
    ("spawn+await 100k: `spawn`, debug on", "spawn_await_100k/runner_spawn_debug",
     "spawn_await_100k/tokio_spawn", "spawn_await_100k"),
    ("100k detached `spawn_local` (handles dropped at once), each yields once",
     "detached_100k/runner_spawn_local", "detached_100k/tokio_spawn_local", None),
    ("spawn+await 100k on two workers: `spawn` vs `tokio::spawn`",
     "spawn_await_2workers_100k/runner_spawn", "spawn_await_2workers_100k/tokio_spawn", None),
    ("one task, 100k `yield_now`", "yield_100k/runner", "yield_100k/tokio", "yield_100k"),
    ("one task, 100k `yield_now`, debug on", "yield_100k/runner_debug", "yield_100k/tokio", "yield_100k"),
    ("one task, 100k self-wakes", "self_wake_100k/runner", "self_wake_100k/tokio", None),
    ("one task, 100k self-wakes, debug on", "self_wake_100k/runner_debug", "self_wake_100k/tokio", None),
    ("`ContextVar::get`, 1 var (tokio: `task_local!` get)", "contextvar/get_1",
     "contextvar/task_local_get", "contextvar/get_1"),
    ("`ContextVar::get`, 1000 vars", "contextvar/get_1000", None, "contextvar/get_1000"),
    ("`ContextVar::set`, 1 var", "contextvar/set_1", None, "contextvar/set_1"),
    ("`ContextVar::set`, 1000 vars", "contextvar/set_1000", None, "contextvar/set_1000"),
    ("`copy_context`, 1 var", "contextvar/copy_context_1", None, "contextvar/copy_context_1"),
    ("`copy_context`, 1000 vars", "contextvar/copy_context_1000", None, "contextvar/copy_context_1000"),
]

# The performance targets (README, "Performance"): (what, check(results) -> (value, ok)).
def targets(r):
    def ratio(a, b):
        return r[a] / r[b] if a in r and b in r else None

    def absolute(a):
        return r.get(a)

    out = [
        ("`run(noop)` cold <= 1.2x raw", ratio("run_cold/runner", "run_cold/tokio"), 1.2, "x"),
        ("`run(noop)` cold, no SIGINT <= 1.2x raw",
         ratio("run_cold/runner_no_sigint", "run_cold/tokio"), 1.2, "x"),
        ("`Runner::run(noop)` warm <= 2x raw", ratio("run_warm/runner", "run_warm/tokio"), 2.0, "x"),
        ("`Runner::run(noop)` warm, no SIGINT <= 2x raw",
         ratio("run_warm/runner_no_sigint", "run_warm/tokio"), 2.0, "x"),
        ("spawn+await 100k `runner::spawn` <= 1.3x raw `spawn_local`",
         ratio("spawn_await_100k/runner_spawn", "spawn_await_100k/tokio_spawn_local"), 1.3, "x"),
        ("spawn+await 100k `runner::spawn_local` <= 1.3x raw `spawn_local`",
         ratio("spawn_await_100k/runner_spawn_local", "spawn_await_100k/tokio_spawn_local"), 1.3, "x"),
        ("100k detached spawns <= 1.3x raw `spawn_local`",
         ratio("detached_100k/runner_spawn_local", "detached_100k/tokio_spawn_local"), 1.3, "x"),
        ("spawn+await on two workers <= 1.3x raw `tokio::spawn`",
         ratio("spawn_await_2workers_100k/runner_spawn", "spawn_await_2workers_100k/tokio_spawn"), 1.3, "x"),
        ("debug mode: spawn+await <= 2x debug off",
         ratio("spawn_await_100k/runner_spawn_local_debug", "spawn_await_100k/runner_spawn_local"), 2.0, "x"),
        ("debug mode: self-waking poll <= 1.5x debug off",
         ratio("self_wake_100k/runner_debug", "self_wake_100k/runner"), 1.5, "x"),
        ("`ContextVar::get` <= 10 ns (1 var)", absolute("contextvar/get_1"), 10.0, "ns"),
        ("`ContextVar::get` <= 10 ns (1000 vars)", absolute("contextvar/get_1000"), 10.0, "ns"),
        ("`ContextVar::set` <= 30 ns (1 var)", absolute("contextvar/set_1"), 30.0, "ns"),
        ("`ContextVar::set` <= 30 ns (1000 vars)", absolute("contextvar/set_1000"), 30.0, "ns"),
        ("`copy_context` <= 15 ns (1 var)", absolute("contextvar/copy_context_1"), 15.0, "ns"),
        ("`copy_context` 1000 vars within 1.5x of 1 var",
         ratio("contextvar/copy_context_1000", "contextvar/copy_context_1"), 1.5, "x"),
    ]
    return out


def target_dir():
    if os.environ.get("CARGO_TARGET_DIR"):
        return pathlib.Path(os.environ["CARGO_TARGET_DIR"])
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return pathlib.Path(json.loads(meta.stdout)["target_directory"])


def criterion_results(target):
    results = {}
    base = target / "criterion"
    for estimates in base.glob("*/*/new/estimates.json"):
        bench = estimates.parent.parent
        with open(estimates) as f:
            results[f"{bench.parent.name}/{bench.name}"] = json.load(f)["mean"]["point_estimate"]
    return results


def fmt_time(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-bench", action="store_true", help="reuse saved criterion results")
    parser.add_argument("--no-asyncio", action="store_true", help="skip the asyncio baseline")
    args = parser.parse_args()

    if not args.no_bench:
        cmd = ["cargo", "bench", "--quiet"]
        for b in BENCHES:
            cmd += ["--bench", b]
        print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=sys.stderr)

    asyncio_results, loop = {}, "asyncio"
    if not args.no_asyncio:
        cmd = [sys.executable, str(ROOT / "benches" / "asyncio_baseline.py")]
        print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            row = json.loads(line)
            asyncio_results[row["name"]] = row["ns"]
            loop = row["loop"]

    results = criterion_results(target_dir())
    print(f"| workload | runner | raw tokio | runner/tokio | {loop} | {loop}/runner |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ours, raw, py in ROWS:
        r, t = results.get(ours), results.get(raw) if raw else None
        a = asyncio_results.get(py) if py else None
        print(f"| {name} | {fmt_time(r)} | {fmt_time(t)} | {fmt_ratio(r, t)} | {fmt_time(a)} | {fmt_ratio(a, r)} |")

    print()
    print("Targets:")
    for what, value, limit, unit in targets(results):
        if value is None:
            print(f"- {what}: not measured")
            continue
        shown = f"{value:.2f}x" if unit == "x" else fmt_time(value)
        print(f"- {what}: {shown} {'met' if value <= limit else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
