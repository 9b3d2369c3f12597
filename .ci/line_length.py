"""Fail when a line of the exported package is over 120 characters, but for the first line of nbdev's `__all__`.

Usage: python .ci/line_length.py [DIR]   (default: mlpuzzle; _modidx.py, which ruff skips too, is left out)
ruff's E501 runs at 130 (pyproject.toml): nbdev_export wraps a module's `__all__` names at 120 characters and then
puts `__all__ = ` before the first line (nbdev/maker.py), so that one line may reach 130 and is not ours to wrap.
This check holds every other line to 120, counting width as ruff does (a wide East Asian character counts two).
"""
import sys, unicodedata
from pathlib import Path

LIMIT = 120

def width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)

def long_lines(root: Path):
    for p in sorted(root.rglob("*.py")):
        if p.name == "_modidx.py": continue
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if width(line) > LIMIT and not line.startswith("__all__ = "): yield p, i, width(line)

def main(root="mlpuzzle"):
    bad = list(long_lines(Path(root)))
    for p, i, w in bad: print(f"{p}:{i}: {w} characters (at most {LIMIT}): wrap it in the notebook, then nbdev_export")
    if bad: sys.exit(1)

if __name__ == "__main__":
    main(*sys.argv[1:])
