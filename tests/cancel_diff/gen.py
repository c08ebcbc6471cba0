#!/usr/bin/env python3
"""Generates random programs over task groups and cancellation, runs them on
CPython's `asyncio` (3.11: `asyncio.TaskGroup`, `Task.cancel()`,
`asyncio.Runner`), and writes each program with what CPython observed to
`programs.jsonl`, which `tests/cancel_diff.rs` replays on `runner` and must
observe the same.

Regenerate (python3 3.11; fixed seed, so the output is stable):

    python3 tests/cancel_diff/gen.py > tests/cancel_diff/programs.jsonl

`python3 tests/cancel_diff/gen.py --stats` prints, instead, how many
programs exercise each feature and why candidates were rejected.

# Program format

One JSON object a line: {"id", "main": task, "features": [...], "expect"}.
The main task never fails on its own, has no handler and is never cancelled;
its "k" means nothing.

A task is {"id": "t<n>" (the main task: "main"), "k": "l" | "s", "do":
[action...], "end": end, "on_cancel": handler}, "end" and "on_cancel"
left out when they are "ok" and null:

    "k"          how it is spawned: "l" runner::spawn_local /
                 TaskGroup::spawn_local, "s" runner::spawn / TaskGroup::spawn
                 (Python: create_task either way)
    "end"        how it ends once `do` is done: "ok" (return), ["err", "e<n>"]
                 (Python: raise AppError; Rust: return Err), ["panic", "p<n>"]
                 (Python: raise Panic, a dedicated exception class; Rust:
                 panic!)
    "on_cancel"  null: no handler (Python: none; Rust: the task does not ask
                 about its cancellation, so a request drops it at once, until
                 it awaits a join, which listens)
                 "ignore": `except CancelledError: pass` around each await,
                 the first time (Rust: it listens, and an await that sees the
                 request is abandoned; the next action follows)
                 {"cleanup": [["sleep", n]...], "then": end | "reraise"}:
                 `try: do; except CancelledError: cleanup; then` (Rust: it
                 listens from its first poll; an await that sees the request
                 goes to the cleanup; "reraise" is Python's `raise`, in Rust
                 the task returns: a group child `Ok(())`, a plain task a
                 value meaning "cancelled")

Actions (every await is a cancellation point: Python raises CancelledError
there; Rust races it with `runner::task::cancelled()` once the task listens):

    ["sleep", n]                 asyncio.sleep(n) / tokio::time::sleep(n * 10 ms)
    ["spawn", task]              a plain task: create_task / runner::spawn(_local)
    ["await", "t<n>"]            await one's own plain task (Python:
                                 `asyncio.wait([t])`, so that cancelling the
                                 awaiter does not cancel it, as dropping a
                                 JoinHandle does not); logs its outcome
    ["cancel", "t<n>"]           t.cancel() / CancelHandle::cancel on any task
                                 spawned so far (nothing if it is not spawned yet)
    ["group", "g<n>", [task...], catch]
                                 `async with TaskGroup() as tg:` spawning the
                                 children, nothing else in its body (Rust:
                                 TaskGroup::new, spawn each, join); logs its
                                 outcome; an error or panic propagates unless
                                 `catch` (Python: `except BaseExceptionGroup:`
                                 and go on; Rust: go on after the `Err`, or
                                 after the panic, caught with catch_unwind
                                 around `join`). After a join that ended `Ok`,
                                 a task whose cancellation was requested
                                 raises it (Python: `__aexit__` re-raises
                                 CancelledError); a join that ended with
                                 errors consumed the request (Python: errors
                                 take priority over the CancelledError).

Outcomes are written "ok", "cancelled", "err:<fail>" with <fail> an error
label or "[<fail>,...]" (a group's errors in the order the children ended,
nested groups nested), or "panic:<label>": a group whose children panicked
reports the first panicking child by end order (runner resumes that panic
from `join`; CPython puts every Panic in the ExceptionGroup, so its outcome
is its first member that is, or contains, a Panic).

A task logs, each event stamped with the virtual time: "start"; "slept n"
after each completed sleep; "cancelled" when its handler begins; "cleaned n"
after each cleanup sleep; "ignored"; "end ok" / "end err:e1" / "end
panic:p1" / "end cancelled" when it ends by its own `end` or `then`;
"<gid>=<outcome>" after each join; "t<n>=<outcome>" after each await;
"cancel t<n>" before each cancel. A task dropped or interrupted by a request
it does not handle logs nothing more. The main task's result is logged by
neither side: it is "result".

"expect" is {"result": the main task's outcome, "log": {task: its events in
order}, "at": {task: the instant of each of its events}}, the instants
numbered 0, 1, ... in time order. The replay compares all three: each task's
own events in order, and every event's place among the others wherever
CPython's order is determined (events of distinct instants; within one
instant the order depends on scheduling, so it is not compared, except each
task's own).

"features" says what the program exercised when CPython ran it: "nested
group" (a group joined by a group child), "group error", "caught group
error", "panic", "group cancels child" (a group asked a child still running
to cancel: a failure, or its joiner's request), "cancel child" / "cancel
task" / "cancel joiner" (a `cancel` reached a running group child / plain
task / task awaiting a join), "async cleanup" (a cleanup slept), "ignore",
"leftover" (a task still running when the main task returned), "close
cancels leftover", "cleanup at close" (a handler began during close).

# Time

Both sides run on virtual time: CPython on an event loop whose clock jumps to
the next timer when nothing is ready (`VirtualLoop`; a sleep of n is n
seconds of it), runner on a current-thread runtime with Tokio's paused clock
(n * 10 ms). Events at distinct instants are then ordered by time on both.

# Keeping the order determined

By construction:

  - a group's body only spawns, so a child's failure never interrupts the
    body (asyncio cancels the parent task for that; runner does not);
  - a failing end and a `cancel` come right after a sleep, so the step that
    fails or cancels is woken by its own timer, and a failure never races the
    first step of a task spawned in the same instant (asyncio runs the
    siblings' first steps before the group hears of the failure; runner's
    group cancels them before they ever run);
  - cleanups only sleep (nothing spawned during close);
  - the main task ends with a sleep (unless a group error ends it), so
    nothing else is pending at the instant it returns;
  - in the subtree of a task left over at close, group children have
    cleanups that do not await: asyncio's close cancels every task and each
    joiner then cancels its children again, in an order that depends on a
    set, and a second cancel interrupts an awaiting cleanup (runner's second
    request is a no-op).

And by rejecting the candidates whose CPython run shows (counted by
`--stats`):

  - two timers firing at the same instant ("tie");
  - a second request reaching a task that already handled one and is still
    running ("second request": asyncio raises CancelledError again, runner's
    request is made once);
  - a group started by a task that already handled a request (ignored it,
    or caught the group error that took priority over it): runner's request
    stays made, so the new join passes it to the new children at once, where
    asyncio runs them ("group after a handled request"; a disagreement, not
    a deliberate difference);
  - two failures in one group at the same instant ("failures tie": their
    order depends on scheduling), unless there are two, the first being the
    group's first failure and not a handler failing upon a request (the
    other is then caused by it);
  - a task still running GRACE ticks after its first request (runner would
    drop it at its cancel grace);
  - a task spawned after the main task returned, an awaiting cleanup in a
    group child still alive at close, or work still pending when the main
    task returns (see above);
  - a different outcome when CPython runs the program a second time.

Known, deliberate difference kept out: a task that never listens is dropped
by runner at once (its Drop is its cleanup), while asyncio interrupts it and
runs its `finally:` at the loop's next step; so no task has a `finally:`
(a task without a handler logs nothing once cancelled).
"""

import asyncio
import json
import random
import selectors
import sys
from collections import Counter

SEED = 6022
PROGRAMS = 400
# A request is always handled well within runner's default cancel grace
# (30 s = 3000 ticks of 10 ms).
GRACE = 1000
MAX_DEPTH = 3


class AppError(Exception):
    """A child's error: `Err(label)` in Rust."""

    def __init__(self, label):
        super().__init__(label)
        self.label = label


class Panic(Exception):
    """A child's panic: `panic!` in Rust."""

    def __init__(self, label):
        super().__init__(label)
        self.label = label


class Reject(Exception):
    """The candidate's order is not determined (see the module doc)."""


# --- outcomes -----------------------------------------------------------------


def fail_text(exc):
    if isinstance(exc, AppError):
        return exc.label
    if isinstance(exc, BaseExceptionGroup):
        return "[" + ",".join(fail_text(e) for e in exc.exceptions) + "]"
    raise exc


def first_panic(exc):
    if isinstance(exc, Panic):
        return exc.label
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            label = first_panic(e)
            if label is not None:
                return label
    return None


def outcome(exc):
    label = first_panic(exc)
    if label is not None:
        return "panic:" + label
    return "err:" + fail_text(exc)


def task_outcome(task):
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return "ok" if exc is None else outcome(exc)


# --- a virtual-time loop ------------------------------------------------------


class VirtualSelector(selectors.SelectSelector):
    """Never blocks: a wait for the next timer moves the clock to it."""

    loop = None

    def select(self, timeout=None):
        if timeout is None:
            raise RuntimeError("the program waits forever")
        if timeout > 0:
            self.loop.now += timeout
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        selector = VirtualSelector()
        self.now = 0
        self.fired = []  # the instant of every timer that fired
        super().__init__(selector)
        selector.loop = self
        self.set_task_factory(lambda loop, coro, **kw: Task(coro, loop=loop, **kw))
        # Unretrieved exceptions of tasks left behind are not observed.
        self.set_exception_handler(lambda loop, context: None)

    def time(self):
        return self.now

    def call_at(self, when, callback, *args, context=None):
        def fire(*args):
            self.fired.append(self.now)
            callback(*args)

        return super().call_at(when, fire, *args, context=context)


RUN = None  # the Run being executed


class Task(asyncio.Task):
    """Sees every request: ours, a TaskGroup's, asyncio.run's."""

    def cancel(self, msg=None):
        if RUN is not None and not self.done():
            RUN.requested(self, sys._getframe(1).f_code.co_name)
        return super().cancel(msg)


# --- execution on CPython -----------------------------------------------------


class Info:
    def __init__(self, spec, gid):
        self.spec = spec
        self.gid = gid  # the group it is a child of
        # It handled a request: its handler caught the CancelledError, or
        # a group's errors took priority over it.
        self.handled = False
        self.requests = []
        self.ended = None
        self.joining = 0
        # It failed in its handler at the instant of the request.
        self.immediate = False


def awaiting_handler(spec):
    handler = spec.get("on_cancel")
    return handler == "ignore" or (isinstance(handler, dict) and handler["cleanup"])


class Run:
    def __init__(self, loop):
        self.loop = loop
        self.events = []
        self.tasks = {}  # id -> Task
        self.info = {}  # Task -> Info
        self.failures = {}  # gid -> instants of its children's failures, in order
        self.main_done = False
        self.features = set()
        self.rejected = None

    def reject(self, why):
        # Raised inside asyncio's machinery (a TaskGroup's callback, close)
        # an exception would be swallowed: kept, and raised by `check`.
        if self.rejected is None:
            self.rejected = why

    def now(self):
        return self.loop.now

    def log(self, tid, what):
        self.events.append((self.now(), tid, what))

    def register(self, task, spec, gid):
        if self.main_done:
            self.reject("spawned during close")
        self.tasks[spec["id"]] = task
        self.info[task] = Info(spec, gid)

    def requested(self, task, caller):
        info = self.info.get(task)
        if info is None or caller == "_on_task_done":
            # A TaskGroup cancels its parent task at the first failure; its
            # own __aexit__ absorbs that (runner's join needs no request).
            return
        if info.handled:
            self.reject("second request")
        info.requests.append(self.now())
        if caller == "_abort" and not self.main_done:
            self.features.add("group cancels child")
        if self.main_done:
            self.features.add("close cancels leftover")

    async def run_task(self, spec):
        info = self.info[asyncio.current_task()]
        tid = spec["id"]
        handler = spec.get("on_cancel")
        self.log(tid, "start")
        try:
            try:
                await self.run_do(spec, info)
            except asyncio.CancelledError:
                if not isinstance(handler, dict):
                    raise
                info.handled = True
                self.log(tid, "cancelled")
                if self.main_done:
                    self.features.add("cleanup at close")
                info.immediate = not handler["cleanup"]
                for _, n in handler["cleanup"]:
                    await asyncio.sleep(n)
                    self.log(tid, "cleaned %d" % n)
                    self.features.add("async cleanup")
                return self.finish(tid, handler["then"])
            return self.finish(tid, spec.get("end", "ok"))
        finally:
            info.ended = self.now()

    def finish(self, tid, end):
        if end == "ok":
            self.log(tid, "end ok")
            return "ok"
        if end == "reraise":
            self.log(tid, "end cancelled")
            raise asyncio.CancelledError()
        kind, label = end
        self.log(tid, "end %s:%s" % (kind, label))
        if kind == "err":
            raise AppError(label)
        self.features.add("panic")
        raise Panic(label)

    async def run_do(self, spec, info):
        tid = spec["id"]
        spawned = {}
        for action in spec["do"]:
            try:
                await self.act(action, spec, info, spawned)
            except asyncio.CancelledError:
                if spec.get("on_cancel") == "ignore" and not info.handled:
                    info.handled = True
                    self.log(tid, "ignored")
                    self.features.add("ignore")
                    continue
                raise

    async def act(self, action, spec, info, spawned):
        tid = spec["id"]
        kind = action[0]
        if kind == "sleep":
            await asyncio.sleep(action[1])
            self.log(tid, "slept %d" % action[1])
        elif kind == "spawn":
            child = action[1]
            task = self.loop.create_task(self.run_task(child))
            self.register(task, child, None)
            spawned[child["id"]] = task
        elif kind == "await":
            task = spawned.pop(action[1])
            await asyncio.wait([task])
            self.log(tid, "%s=%s" % (action[1], task_outcome(task)))
        elif kind == "cancel":
            self.log(tid, "cancel " + action[1])
            task = self.tasks.get(action[1])
            if task is not None and not task.done():
                target = self.info[task]
                if target.joining:
                    self.features.add("cancel joiner")
                elif target.gid is not None:
                    self.features.add("cancel child")
                else:
                    self.features.add("cancel task")
                task.cancel()
        elif kind == "group":
            await self.group(action, tid, info)
        else:
            raise ValueError(action)

    async def child(self, spec, gid):
        try:
            return await self.run_task(spec)
        except asyncio.CancelledError:
            raise
        except BaseException:
            info = self.info[asyncio.current_task()]
            self.failures[gid].append((self.now(), info.immediate))
            raise

    async def group(self, action, tid, info):
        _, gid, children, catch = action
        if info.handled:
            # runner: the request is made once and stays made, so this
            # join would pass it to the new children at once; asyncio,
            # the CancelledError handled, runs them.
            self.reject("group after a handled request")
        self.failures[gid] = []
        if self.info[asyncio.current_task()].gid is not None:
            self.features.add("nested group")
        info.joining += 1
        asked = len(info.requests)
        try:
            async with asyncio.TaskGroup() as tg:
                for child in children:
                    task = tg.create_task(self.child(child, gid))
                    self.register(task, child, gid)
        except BaseExceptionGroup as eg:
            self.log(tid, "%s=%s" % (gid, outcome(eg)))
            if len(info.requests) > asked:
                # The errors took priority: the CancelledError is swallowed,
                # and a request after this one would be a second.
                info.handled = True
            self.features.add("group error")
            if catch:
                self.features.add("caught group error")
                return
            raise
        except asyncio.CancelledError:
            self.log(tid, "%s=cancelled" % gid)
            raise
        else:
            self.log(tid, "%s=ok" % gid)
        finally:
            info.joining -= 1

    async def main(self, spec):
        self.register(asyncio.current_task(), spec, None)
        try:
            await self.run_task(spec)
            result = "ok"
        except BaseException as exc:
            result = outcome(exc)
        if any(not h._cancelled for h in self.loop._ready):
            self.reject("pending at return")
        return result

    def close_check(self):
        self.main_done = True
        for task, info in self.info.items():
            if task.done():
                continue
            self.features.add("leftover")
            if info.gid is not None and awaiting_handler(info.spec):
                self.reject("awaiting cleanup of a child at close")

    def check(self):
        fired = Counter(self.loop.fired)
        if any(n > 1 for n in fired.values()):
            raise Reject("tie")
        if self.rejected is not None:
            raise Reject(self.rejected)
        for failures in self.failures.values():
            # Two failures of a group at one instant: ordered only if the
            # first is the group's first failure, caused by its own timer or
            # a nested group (not a handler failing at once upon a request),
            # and the other a handler failing upon the abort it caused.
            at = Counter(when for when, _ in failures)
            for i, (when, immediate) in enumerate(failures):
                if at[when] == 1:
                    continue
                if at[when] > 2 or i != 0 or immediate:
                    raise Reject("failures tie")
                at[when] = 1
        for info in self.info.values():
            if info.requests and info.ended is not None and info.ended - info.requests[0] > GRACE:
                raise Reject("grace")


def execute(program):
    """Runs `program` on CPython: (expect, features)."""
    global RUN
    runner = asyncio.Runner(loop_factory=VirtualLoop)
    loop = runner.get_loop()
    run = Run(loop)
    RUN = run
    try:
        # asyncio.run: a Runner's run, then its close, which cancels the
        # tasks left over and awaits them.
        result = runner.run(run.main(program["main"]))
        run.close_check()
        runner.close()
        run.check()
    finally:
        RUN = None
        runner.close()
    log = {}
    at = {}
    instants = sorted(set(when for when, _, _ in run.events))
    for when, tid, what in run.events:
        log.setdefault(tid, []).append(what)
        at.setdefault(tid, []).append(instants.index(when))
    return {"result": result, "log": log, "at": at}, run.features


# --- generation ---------------------------------------------------------------


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.n_task = 0
        self.n_group = 0
        self.n_label = 0
        self.budget = 0

    def tid(self):
        self.n_task += 1
        return "t%d" % self.n_task

    def label(self, kind):
        self.n_label += 1
        return "%s%d" % (kind, self.n_label)

    def sleep(self, lo=1, hi=40):
        return ["sleep", self.rng.randint(lo, hi)]

    def end(self, ok_weight):
        r = self.rng.random()
        if r < ok_weight:
            return "ok"
        if r < ok_weight + (1 - ok_weight) * 0.7:
            return ["err", self.label("e")]
        return ["panic", self.label("p")]

    def handler(self, quiet):
        """`quiet`: a cleanup that does not await (children left over at close)."""
        r = self.rng.random()
        if r < 0.3:
            return None
        if r < 0.42 and not quiet:
            return "ignore"
        n = 0 if quiet else self.rng.choice([0, 1, 1, 2])
        then = self.rng.choice(["reraise", "reraise", "ok", "err", "err", "panic"])
        if then in ("err", "panic"):
            then = [then, self.label("e" if then == "err" else "p")]
        return {"cleanup": [self.sleep() for _ in range(n)], "then": then}

    def task(self, depth, child, leftover, fail_weight=0.45):
        tid = self.tid()
        r = self.rng
        do = []
        spawned = []
        for _ in range(r.randint(1, 4)):
            roll = r.random()
            if roll < 0.3 and depth < MAX_DEPTH and self.budget > 0:
                do.append(self.group(depth + 1, leftover))
            elif roll < 0.4 and depth < MAX_DEPTH and self.budget > 0:
                self.budget -= 1
                sub = self.task(depth + 1, False, leftover)
                do.append(["spawn", sub])
                spawned.append(sub["id"])
            else:
                do.append(self.sleep())
            if spawned and r.random() < 0.4:
                do.append(["await", spawned.pop(0)])
        for sub in spawned:
            do.append(["await", sub])
        end = self.end(1 - fail_weight)
        if end != "ok" and do[-1][0] != "sleep":
            do.append(self.sleep())
        spec = {"id": tid, "k": r.choice("ls"), "do": do}
        if end != "ok":
            spec["end"] = end
        handler = self.handler(child and leftover)
        if handler is not None:
            spec["on_cancel"] = handler
        return spec

    def group(self, depth, leftover):
        self.n_group += 1
        gid = "g%d" % self.n_group
        n = self.rng.randint(1, 4)
        self.budget -= n
        children = [self.task(depth, True, leftover) for _ in range(n)]
        return ["group", gid, children, self.rng.random() < 0.4]

    # Nominal schedule: when each task starts and ends, and its joins, if
    # nothing fails and nothing is cancelled. Only aims the cancels.

    def schedule(self, spec, t, out):
        start = t
        joins = []
        ends = {}
        for action in spec["do"]:
            kind = action[0]
            if kind == "sleep":
                t += action[1]
            elif kind == "spawn":
                ends[action[1]["id"]] = self.schedule(action[1], t, out)
            elif kind == "await":
                t = max(t, ends[action[1]])
            elif kind == "group":
                end = t
                for child in action[2]:
                    end = max(end, self.schedule(child, t, out))
                joins.append((t, end, action))
                t = end
        out[spec["id"]] = (start, t, joins, spec)
        return t

    def program(self, pid):
        r = self.rng
        self.budget = r.randint(3, 12)
        main = {"id": "main", "k": "l", "do": []}
        for _ in range(r.randint(1, 3)):
            if r.random() < 0.65 and self.budget > 0:
                main["do"].append(self.group(1, False))
            elif self.budget > 0:
                self.budget -= 1
                sub = self.task(1, False, False)
                main["do"].append(["spawn", sub])
                main["do"].append(["await", sub["id"]])
            else:
                main["do"].append(self.sleep())
        # Cancels, aimed with the nominal schedule.
        sched = {}
        self.schedule(main, 0, sched)
        targets = [tid for tid in sched if tid != "main"]
        cancellers = []
        for _ in range(r.choice([0, 1, 1, 2, 2, 3])):
            if not targets:
                break
            target = r.choice(targets)
            start, end, joins, spec = sched[target]
            lo, hi = start, end
            if joins and r.random() < 0.6:
                lo, hi, _ = r.choice(joins)
            if hi - lo < 2:
                continue
            at = r.randint(lo + 1, hi - 1)
            cancellers.append((at, target))
        for at, target in cancellers:
            canceller = {
                "id": self.tid(),
                "k": r.choice("ls"),
                "do": [["sleep", at], ["cancel", target]],
            }
            main["do"].insert(0, ["spawn", canceller])
            main["do"].append(["await", canceller["id"]])
        main["do"].append(self.sleep(1, 30))
        # Tasks left over at close: spawned first, still running when the
        # main task returns (nominally), some of them joining a group then.
        sched = {}
        main_end = self.schedule(main, 0, sched)
        for _ in range(r.choice([0, 0, 1, 1, 2])):
            self.budget = r.randint(1, 5)
            left = self.task(1, False, True, fail_weight=0.2)
            # Nominally still running at close: close comes `x` after its
            # start, preferably while it joins a group.
            out = {}
            length = self.schedule(left, 0, out)
            joins = out[left["id"]][2]
            lo, hi = 0, length
            if joins and r.random() < 0.7:
                lo, hi, _ = r.choice(joins)
            hi = min(hi, main_end)
            x = r.randint(lo, hi - 1) if hi > lo else 0
            pad = max(1, main_end - x)
            left["do"].insert(0, ["sleep", pad])
            main["do"].insert(0, ["spawn", left])
        return {"id": pid, "main": main}


def main():
    stats = "--stats" in sys.argv
    rng = random.Random(SEED)
    rejected = Counter()
    features = Counter()
    pid = 0
    out = sys.stdout
    while pid < PROGRAMS:
        program = Gen(rng).program(pid)
        try:
            expect, feats = execute(program)
            again, _ = execute(program)
            if again != expect:
                raise Reject("not repeatable")
        except Reject as why:
            rejected[str(why)] += 1
            continue
        program["features"] = sorted(feats)
        program["expect"] = expect
        features.update(feats)
        if not stats:
            out.write(json.dumps(program, separators=(",", ":")) + "\n")
        pid += 1
    if stats:
        print("programs:", PROGRAMS)
        for name, n in sorted(features.items()):
            print("  %-24s %d" % (name, n))
        print("rejected:")
        for name, n in sorted(rejected.items()):
            print("  %-40s %d" % (name, n))


if __name__ == "__main__":
    main()
