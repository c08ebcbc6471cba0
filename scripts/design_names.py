#!/usr/bin/env python3
"""DESIGN.md names only what exists.

Every code name DESIGN.md writes in backticks (outside fenced code blocks)
must still be in the code of src/ or macros/ (comments left out), or be a
file or folder of the repository. So removing or renaming something fails
CI (`.ci/run`) until DESIGN.md changes with it.

What counts, per backticked span:

- a file or folder (`src/x.rs`, `x.rs`, `signal/`, `.ci/run`): some tracked
  file's path ends with it (a folder: some tracked file is under it);
- a path (`a::b::c`, `Type::method`, `#[runner::main]`): if `a` is one of
  the crate's modules (a file `a.rs` or a folder `a/` under src/ or
  macros/src/), every later segment must be in that module's code;
  otherwise every segment must be in the code. A leading `runner::` (the
  library's own name) is dropped;
- any other identifier in the span (`LoopGuard`, `Cell<u64>`,
  `{ id, vars, inner }`): in the code.

Left out: shell commands and flags (`cargo ...`, `--flag`), commit hashes,
numbers, names rooted in another crate or language (`std::`, `tokio::`,
`asyncio.`), and the few names in ALLOWED, each with its reason. So a name
from elsewhere is written with its root (`asyncio.CancelledError`,
`tokio::task::Id`), or goes in ALLOWED with the reason it is there.

Usage: python3 scripts/design_names.py   (from anywhere; exit 1 on a stale name)
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = "DESIGN.md"

# Names rooted in other crates or languages: not this repository's to check.
EXTERNAL_ROOTS = {
    "std", "core", "alloc", "tokio", "tokio_util", "futures", "tracing",
    "libc", "windows_sys", "syn", "quote", "proc_macro2", "pin_project_lite",
    "asyncio", "contextvars",
}

# Names DESIGN.md may use although the code does not contain them.
ALLOWED = {
    "LocalRuntime": "Tokio's type: DESIGN.md says why the loop does not use it",
    "task_local": "Tokio's `task_local!`, the benchmarks' reference figure",
}

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+")
FILE = re.compile(r"^[\w.-]+\.(?:rs|py|sh|md|toml|jsonl|yml|json)$")
COMMIT = re.compile(r"^(?=.*[0-9])[0-9a-f]{7,40}$")


def is_file(span):
    """`src/x.rs`, `x.rs`, `signal/`, `.ci/run`: a file or folder name."""
    if any(c.isspace() for c in span) or "::" in span or "(" in span:
        return False
    return "/" in span or FILE.match(span) is not None


def tracked_files():
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line]


def strip_comments(source):
    """Rust source without its comments (doc comments included), so that a
    name that survives only in a comment does not count as existing."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    lines = []
    for line in source.splitlines():
        if line.lstrip().startswith("//"):
            continue
        # A trailing comment: `//` after code, outside a string literal.
        for match in re.finditer(r"\s//", line):
            if line[: match.start()].count('"') % 2 == 0:
                line = line[: match.start()]
                break
        lines.append(line)
    return "\n".join(lines)


def code_words(files):
    words = set()
    for path in files:
        words.update(IDENT.findall(strip_comments((ROOT / path).read_text())))
    return words


def spans(markdown):
    """The inline code spans outside fenced code blocks."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    text = text.replace("\n", " ")
    return [m.group(2) for m in re.finditer(r"(`+)(.+?)\1", text)]


def main():
    files = tracked_files()
    rust = [f for f in files if f.endswith(".rs") and f.startswith(("src/", "macros/src/"))]
    words = code_words(rust)

    def module_files(name):
        found = []
        for f in rust:
            parts = pathlib.PurePosixPath(f).parts
            if pathlib.PurePosixPath(f).stem == name or name in parts[:-1]:
                found.append(f)
        return found

    def exists(word):
        if word in ALLOWED or word in words:
            return True
        # A fragment such as `_set` (of `hot_loop_set`).
        return word.startswith("_") and any(word in w for w in words)

    def file_exists(name):
        name = name.lstrip("./") if name.startswith("./") else name
        if name.endswith("/"):
            return any(f.startswith(name) or ("/" + name) in f for f in files)
        return any(f == name or f.endswith("/" + name) for f in files)

    def check_path(path):
        segments = path.split("::")
        if segments[0] == "runner":
            segments = segments[1:]
        if not segments or segments[0] in EXTERNAL_ROOTS:
            return []
        module = module_files(segments[0]) if len(segments) > 1 else []
        if module:
            here = code_words(module)
            return [s for s in segments[1:] if s not in here and s not in ALLOWED]
        return [s for s in segments if not exists(s)]

    stale = []
    for span in spans((ROOT / DOC).read_text()):
        span = span.strip()
        if not span or span.startswith(("-", "cargo ", "python3 ")) or COMMIT.match(span):
            continue
        if is_file(span):
            if not file_exists(span):
                stale.append((span, span))
            continue
        if span.split(".")[0] in EXTERNAL_ROOTS:
            continue
        rest = span
        for path in PATH.findall(span):
            stale.extend((span, f"{path}: {s}") for s in check_path(path))
            rest = rest.replace(path, " ")
        for word in IDENT.findall(rest):
            if word in EXTERNAL_ROOTS or exists(word):
                continue
            stale.append((span, word))

    if stale:
        print(
            f"{DOC} names what the code does not have: fix the doc, or the name; a name "
            "from another crate or language takes its root (`tokio::`, `asyncio.`) or an "
            "entry in ALLOWED (scripts/design_names.py)"
        )
        for span, what in dict.fromkeys(stale):
            print(f"  `{span}`: {what}")
        return 1
    print(f"{DOC}: every code name it mentions exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
