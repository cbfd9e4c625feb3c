"""genfiles.py — the write-or-check step shared by the generators (gen-alerts.py, gen-dashboard.py).

Each generator renders the files it owns as {path relative to the repository root: text}; sync() then
either writes the ones that differ from the tree (through PATH.tmp and a rename, so a reader never sees a
half-written file) or, with check, writes nothing and prints a unified diff of each on stderr.
"""
import difflib
import os
import sys


def sync(root, wanted, check):
    """Write (or with check, diff) every file of `wanted` that differs; with check, returns those paths."""
    stale = []
    for rel, new in wanted.items():
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as f:
                old = f.read()
        except FileNotFoundError:
            old = ""
        if old == new:
            continue
        if check:
            stale.append(rel)
            sys.stderr.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       f"{rel} (in the tree)", f"{rel} (generated)", n=1))
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(path + ".tmp", path)
            print(f"wrote {rel}")
    return stale
