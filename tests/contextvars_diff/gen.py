#!/usr/bin/env python3
"""Generates random programs over context variables, runs them on CPython's
`contextvars` and `asyncio`, and writes each program with what CPython
observed to `programs.jsonl`, which `tests/contextvars_diff.rs` replays on
`runner` and must observe the same.

Regenerate (python3 3.11 or later; fixed seed, so the output is stable):

    python3 tests/contextvars_diff/gen.py > tests/contextvars_diff/programs.jsonl

Programs are lists of ops, each a JSON array (variables are 0 = `a`,
1 = `b` with default 100, 2 = `c`; contexts and tokens are numbered):

    ["g", v]             var.get()                      logs the value or null
    ["s", v, x, t]       token t = var.set(x)           logs token.old_value (MISSING: null)
    ["r", v, t]          var.reset(token t)             logs "ok", "wrong_var" or "wrong_ctx"
    ["cp"]               ctxs.append(copy_context())
    ["new"]              ctxs.append(Context())
    ["al", i]            ctxs.append(ctxs[i])           a second handle (Rust: clone)
    ["cc", i]            ctxs.append(ctxs[i].copy())
    ["cg", i, v]         ctxs[i].get(var)               logs the value or null
    ["ci", i, v]         ctxs[i][var]                   logs the value or "KeyError"
    ["len", i]           len(ctxs[i])                   logs the length
    ["in", i, v]         var in ctxs[i]                 logs true or false
    ["run", i, body]     ctxs[i].run(body)              logs "ran", or "entered" (RuntimeError)

and, in async programs only:

    ["sp", kind, id, body]  create_task(body): kind "l" replays as runner::spawn_local,
                            "s" as runner::spawn; its log is "t<id>"
    ["aw", id]              await the task
    ["y"]                   await asyncio.sleep(0)
    ["th", body]            await asyncio.to_thread(body)   (runner::spawn_blocking);
                            it never names the awaiting task's own context, which
                            is still entered on the loop's thread as the worker
                            starts (a race in both)

A sync program is {"id", "sync": body, "expect": log}. An async program is
{"id", "async": [step...], "expect": {log name: log}} where a step is
["top", body] (sync ops on the calling thread, log "top") or
["run", ctx, body] (one asyncio.Runner, reused by every step, runs body as
its main task, in ctxs[ctx] if ctx is not null: log "r<step>").
`"needs_local_runtime": true` tags a program where a `runner::spawn` task
spawns a local task (asyncio's create_task works from any task): the case a
loop needs `spawn_local` from every task for. Every program is replayed.

A task's body may read only what it owns: it starts with no contexts (so
what it observes cannot depend on how tasks interleave), sees the tokens
made before it was spawned, and awaits its unawaited children at its end.
"""

import asyncio
import contextvars
import json
import random
import sys

SEED = 567
SYNC_PROGRAMS = 400
ASYNC_PROGRAMS = 420

VARS = [
    contextvars.ContextVar("a"),
    contextvars.ContextVar("b", default=100),
    contextvars.ContextVar("c"),
]


# --- generation ---------------------------------------------------------------


class Ns:
    """What a body can name: contexts (with an identity each, so that the
    generator knows which `run` must fail) and visible tokens."""

    def __init__(self, idents, tokens):
        self.idents = list(idents)  # identity of ctxs[i]
        self.tokens = tokens  # shared list of token ids visible here

    def fork_tokens(self):
        return list(self.tokens)


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.next_ident = 0
        self.next_token = 0
        self.used_tokens = set()
        self.next_task = 0
        # Contexts a worker thread must not touch: the awaiting task's own,
        # entered on the loop's thread while the thread starts (reading it
        # from the thread would race with that poll).
        self.hidden = set()

    def ident(self):
        self.next_ident += 1
        return self.next_ident

    def sync_op(self, ns, entered, depth, size):
        """`entered`: the identities of the contexts entered, innermost last."""
        r = self.rng
        kinds = ["g", "s", "s", "r", "cp", "new", "al", "cc", "cg", "ci", "len", "in", "run", "run", "run"]
        while True:
            k = r.choice(kinds)
            visible = [i for i, ident in enumerate(ns.idents) if ident not in self.hidden]
            if k in ("al", "cc", "cg", "ci", "len", "in", "run") and not visible:
                continue
            if k == "run" and (depth >= 3 or size[0] <= 0):
                continue
            break
        v = r.randrange(3)
        if k == "g":
            return ["g", v]
        if k == "s":
            t = self.next_token
            self.next_token += 1
            ns.tokens.append(t)
            return ["s", v, r.randrange(10), t]
        if k == "r":
            free = [t for t in ns.tokens if t not in self.used_tokens]
            if not free:
                return ["g", v]
            t = r.choice(free)
            self.used_tokens.add(t)
            return ["r", v, t]
        if k in ("cp", "new"):
            ns.idents.append(self.ident())
            return [k]
        i = r.choice(visible)
        # Most reads (and copies, and re-entry attempts) inside a nested run
        # name a context entered around it, shadowed by the current one.
        current = entered[-1] if entered else None
        outer = [j for j in visible if ns.idents[j] in entered and ns.idents[j] != current]
        if outer and k not in ("al", "run") and r.random() < 0.6:
            i = r.choice(outer)
        # Most runs enter a context that is not entered yet, so runs nest.
        idle = [j for j in visible if ns.idents[j] not in entered]
        if k == "run" and idle and r.random() < 0.8:
            i = r.choice(idle)
        if k == "al":
            ns.idents.append(ns.idents[i])
            return ["al", i]
        if k == "cc":
            ns.idents.append(self.ident())
            return ["cc", i]
        if k in ("cg", "ci", "in"):
            return [k, i, v]
        if k == "len":
            return ["len", i]
        # run: the body runs only if the context is not entered already
        if ns.idents[i] in entered:
            return ["run", i, []]
        body = self.sync_body(ns, entered + [ns.idents[i]], depth + 1, size)
        return ["run", i, body]

    def sync_body(self, ns, entered, depth, size):
        n = self.rng.randint(2, 10 if depth == 0 else 6)
        body = []
        for _ in range(n):
            if size[0] <= 0:
                break
            size[0] -= 1
            body.append(self.sync_op(ns, entered, depth, size))
        return body

    def async_body(self, ns, entered, depth, size, in_send):
        """A task's body. Returns (body, needs_local_runtime)."""
        r = self.rng
        body = []
        needs = False
        children = []
        for _ in range(r.randint(2, 9)):
            if size[0] <= 0:
                break
            size[0] -= 1
            roll = r.random()
            if roll < 0.18 and depth < 3:
                kind = r.choice("ls")
                tid = self.next_task
                self.next_task += 1
                child_ns = Ns([], ns.fork_tokens())
                child, child_needs = self.async_body(child_ns, [], depth + 1, size, kind == "s")
                needs = needs or child_needs or (in_send and kind == "l")
                body.append(["sp", kind, tid, child])
                children.append(tid)
            elif roll < 0.26 and children:
                tid = r.choice(children)
                children.remove(tid)
                body.append(["aw", tid])
            elif roll < 0.33:
                body.append(["y"])
            elif roll < 0.40:
                # A worker thread: a copy of the context, the task's
                # contexts by handle (none of them entered there), new
                # contexts its own.
                thread_ns = Ns(ns.idents, ns.tokens)
                self.hidden = set(entered)
                body.append(["th", self.sync_body(thread_ns, [], 1, size)])
                self.hidden = set()
            else:
                body.append(self.sync_op(ns, entered, 0, size))
        for tid in children:
            body.append(["aw", tid])
        return body, needs

    def sync_program(self, pid):
        ns = Ns([], [])
        return {"id": pid, "sync": self.sync_body(ns, [], 0, [self.rng.randint(10, 40)])}

    def async_program(self, pid):
        r = self.rng
        ns = Ns([], [])
        steps = []
        needs = False
        for _ in range(r.randint(1, 4)):
            if r.random() < 0.35:
                steps.append(["top", self.sync_body(ns, [], 1, [r.randint(1, 6)])])
                continue
            ctx = None
            entered = []
            if ns.idents and r.random() < 0.5:
                ctx = r.randrange(len(ns.idents))
                entered = [ns.idents[ctx]]
            # The main task shares the caller's names (runs are sequential);
            # the tokens it makes stay visible to later steps.
            body, body_needs = self.async_body(ns, entered, 0, [r.randint(4, 22)], False)
            needs = needs or body_needs
            steps.append(["run", ctx, body])
        program = {"id": pid, "async": steps}
        if needs:
            program["needs_local_runtime"] = True
        return program


# --- execution on CPython -----------------------------------------------------


class Run:
    """One program's execution: tokens by id, logs by name."""

    def __init__(self):
        self.tokens = {}
        self.logs = {}

    def log(self, name, value):
        self.logs.setdefault(name, []).append(value)

    def sync_body(self, body, ctxs, log):
        for op in body:
            self.sync_op(op, ctxs, log)

    def sync_op(self, op, ctxs, log):
        k = op[0]
        if k == "g":
            try:
                self.log(log, VARS[op[1]].get())
            except LookupError:
                self.log(log, None)
        elif k == "s":
            token = VARS[op[1]].set(op[2])
            self.tokens[op[3]] = token
            old = token.old_value
            self.log(log, None if old is contextvars.Token.MISSING else old)
        elif k == "r":
            try:
                VARS[op[1]].reset(self.tokens[op[2]])
                self.log(log, "ok")
            except ValueError as err:
                text = str(err)
                if "different ContextVar" in text:
                    self.log(log, "wrong_var")
                elif "different Context" in text:
                    self.log(log, "wrong_ctx")
                else:
                    raise
        elif k == "cp":
            ctxs.append(contextvars.copy_context())
        elif k == "new":
            ctxs.append(contextvars.Context())
        elif k == "al":
            ctxs.append(ctxs[op[1]])
        elif k == "cc":
            ctxs.append(ctxs[op[1]].copy())
        elif k == "cg":
            self.log(log, ctxs[op[1]].get(VARS[op[2]]))
        elif k == "ci":
            try:
                self.log(log, ctxs[op[1]][VARS[op[2]]])
            except KeyError:
                self.log(log, "KeyError")
        elif k == "len":
            self.log(log, len(ctxs[op[1]]))
        elif k == "in":
            self.log(log, VARS[op[2]] in ctxs[op[1]])
        elif k == "run":
            try:
                ctxs[op[1]].run(self.sync_body, op[2], ctxs, log)
                self.log(log, "ran")
            except RuntimeError as err:
                assert "already entered" in str(err), err
                assert not op[2], "the generator expected this run to succeed"
                self.log(log, "entered")
        else:
            raise ValueError(op)

    async def task_body(self, body, ctxs, log):
        tasks = {}
        for op in body:
            k = op[0]
            if k == "sp":
                child = self.task_body(op[3], [], "t%d" % op[2])
                self.logs.setdefault("t%d" % op[2], [])
                tasks[op[2]] = asyncio.get_running_loop().create_task(child)
            elif k == "aw":
                await tasks.pop(op[1])
            elif k == "y":
                await asyncio.sleep(0)
            elif k == "th":
                await asyncio.to_thread(self.sync_body, op[1], list(ctxs), log)
            else:
                self.sync_op(op, ctxs, log)
        assert not tasks, "a task awaits its children"


def run_sync(program):
    run = Run()
    run.logs["main"] = []
    # Each program starts in an empty context of its own.
    contextvars.Context().run(run.sync_body, program["sync"], [], "main")
    return run.logs["main"]


def run_async(program):
    run = Run()

    def steps():
        ctxs = []
        # Not `with`: its `__enter__` would copy the context now, where
        # `runner::Runner` (and a bare `asyncio.Runner`) copy it on first run.
        runner = asyncio.Runner()
        try:
            for i, step in enumerate(program["async"]):
                if step[0] == "top":
                    run.logs.setdefault("top", [])
                    run.sync_body(step[1], ctxs, "top")
                else:
                    name = "r%d" % i
                    run.logs.setdefault(name, [])
                    ctx = None if step[1] is None else ctxs[step[1]]
                    runner.run(run.task_body(step[2], ctxs, name), context=ctx)
        finally:
            runner.close()

    contextvars.Context().run(steps)
    return run.logs


def main():
    rng = random.Random(SEED)
    gen = Gen(rng)
    out = sys.stdout
    for pid in range(SYNC_PROGRAMS):
        program = gen.sync_program(pid)
        program["expect"] = run_sync(program)
        out.write(json.dumps(program, separators=(",", ":")) + "\n")
    for pid in range(SYNC_PROGRAMS, SYNC_PROGRAMS + ASYNC_PROGRAMS):
        program = gen.async_program(pid)
        program["expect"] = run_async(program)
        out.write(json.dumps(program, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
