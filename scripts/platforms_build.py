"""Reads `cargo --message-format=json` output (scripts/platforms.sh's
cross builds): prints every diagnostic about this repository's code to
stderr and the test binaries it built to stdout, as "name path" lines.
Exits 1 if there was a warning or an error: the cross builds must be as
clean as the host's, where `-D warnings` cannot be used because it would
reach the std that -Z build-std compiles too."""

import json
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
dirty = 0
with open(sys.argv[1], encoding="utf-8") as messages:
    for line in messages:
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        reason = msg.get("reason")
        ours = msg.get("manifest_path", "").startswith(root + os.sep)
        if reason == "compiler-message" and ours:
            diag = msg["message"]
            if diag["level"] in ("warning", "error"):
                dirty += 1
            sys.stderr.write(diag.get("rendered") or diag["message"] + "\n")
        elif reason == "compiler-artifact" and ours and msg.get("executable"):
            if msg["profile"]["test"]:
                target = msg["target"]
                kind = "" if "test" in target["kind"] else "-" + target["kind"][0]
                print(target["name"] + kind, msg["executable"])
if dirty:
    sys.stderr.write(f"{dirty} warning(s) or error(s) in this repository's code\n")
    sys.exit(1)
