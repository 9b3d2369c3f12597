"""Fail when `nbdev_export` or `nbdev_clean` would change a notebook or a generated module.

Usage: python .ci/sync_check.py BIN_DIR   (BIN_DIR holds nbdev_export and nbdev_clean)
Hashes every file under nbs/ and mlpuzzle/, runs both tools, hashes again and names what changed.
It works on a dirty tree too: only what the tools themselves change counts. The tools' changes are
left in place, so the fix is to look at them and commit.
"""
import hashlib, subprocess, sys
from pathlib import Path

def snapshot(dirs=("nbs", "mlpuzzle")):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in dirs for p in sorted(Path(d).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}

def main(bin_dir):
    before = snapshot()
    for tool in ("nbdev_export", "nbdev_clean"):
        r = subprocess.run([str(Path(bin_dir) / tool)], capture_output=True, text=True)
        if r.returncode: sys.exit(f"{tool} failed:\n{r.stdout}{r.stderr}")
    after = snapshot()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        print("Notebooks and library are out of sync, or notebooks are not clean. nbdev_export/nbdev_clean changed:")
        for c in changed: print("  " + c)
        print("Edit the notebook (never mlpuzzle/*.py), run nbdev_export and nbdev_clean, and commit the result.")
        sys.exit(1)
    print(f"in sync: {len(after)} files under nbs/ and mlpuzzle/ unchanged by nbdev_export and nbdev_clean")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".venv/bin")
