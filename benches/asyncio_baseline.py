#!/usr/bin/env python3
"""The workloads of the criterion benches (benches/*.rs), in CPython asyncio.

Plain CPython, no dependencies; uses uvloop when it is importable (pass
--no-uvloop to stay on the default loop). Prints one JSON object per line:
{"name": ..., "ns": <mean ns per iteration>, "loop": "asyncio"|"uvloop"}.
The names match the criterion ids they are compared with in benches/report.py.
"""

import argparse
import asyncio
import contextvars
import json
import sys
import time

TASKS = 100_000
YIELDS = 100_000


def measure(fn, budget_s=1.0, min_iters=3):
    """Mean ns per call of fn(), after one warm-up call, over ~budget_s."""
    fn()
    iters, elapsed = 0, 0.0
    batch = 1
    while elapsed < budget_s or iters < min_iters:
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        elapsed += (time.perf_counter_ns() - start) / 1e9
        iters += batch
        if elapsed < budget_s / 10:
            batch *= 2
    return elapsed * 1e9 / iters


def measure_loop(fn_of_n, n, budget_s=1.0):
    """Mean ns per call for cheap operations: time a loop of n calls."""
    def run():
        fn_of_n(n)
    return measure(run, budget_s) / n


async def noop():
    return 1


async def spawn_await(n):
    tasks = [asyncio.create_task(noop()) for _ in range(n)]
    total = 0
    for task in tasks:
        total += await task
    return total


async def yields(n):
    for _ in range(n):
        await asyncio.sleep(0)
    return n


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short budgets (smoke test)")
    args = parser.parse_args()

    loop_name = "asyncio"
    loop_factory = None
    if not args.no_uvloop:
        try:
            import uvloop  # type: ignore

            loop_factory = uvloop.new_event_loop
            loop_name = "uvloop"
        except ImportError:
            pass
    budget = 0.2 if args.quick else 1.0
    heavy = 0.5 if args.quick else 3.0

    def emit(name, ns):
        print(json.dumps({"name": name, "ns": ns, "loop": loop_name}), flush=True)

    def asyncio_run(coro):
        if loop_factory is None:
            return asyncio.run(coro)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coro)

    # run_cold: a fresh loop per run, closed after it.
    emit("run_cold", measure(lambda: asyncio_run(noop()), budget))

    # run_warm: one Runner, many runs.
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        emit("run_warm", measure(lambda: runner.run(noop()), budget))

        # spawn_await_100k: create_task + await of TASKS tasks (one context
        # variable set, as in the Rust bench).
        request_id = contextvars.ContextVar("request_id")
        runner.run(_set(request_id, 7))
        emit("spawn_await_100k", measure(lambda: runner.run(spawn_await(TASKS)), heavy, 3))

        # yield_100k: one task that yields YIELDS times.
        async def one_task():
            return await asyncio.create_task(yields(YIELDS))

        emit("yield_100k", measure(lambda: runner.run(one_task()), heavy, 3))

    # Context variables: 1 and 1000 variables set in a fresh context.
    for n in (1, 1000):
        ctx = contextvars.Context()

        def bench_ctx(n=n):
            cvars = [contextvars.ContextVar(f"bench{i}") for i in range(n)]
            for i, var in enumerate(cvars):
                var.set(i)
            var = cvars[n // 2]
            get, set_ = var.get, var.set
            copy = contextvars.copy_context
            count = 200_000

            def loop_get(k):
                for _ in range(k):
                    get()

            def loop_set(k):
                for i in range(k):
                    set_(i)

            def loop_copy(k):
                for _ in range(k):
                    copy()

            def loop_empty(k):
                for _ in range(k):
                    pass

            # Subtract the cost of the Python loop itself.
            base = measure_loop(loop_empty, count, budget)
            emit(f"contextvar/get_{n}", measure_loop(loop_get, count, budget) - base)
            emit(f"contextvar/set_{n}", measure_loop(loop_set, count, budget) - base)
            emit(f"contextvar/copy_context_{n}", measure_loop(loop_copy, count, budget) - base)

        ctx.run(bench_ctx)


async def _set(var, value):
    var.set(value)


if __name__ == "__main__":
    sys.exit(main())
