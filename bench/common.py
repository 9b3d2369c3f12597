"""Helpers the benchmarks share (each benchmark runs as `python bench/NAME.py`, so this directory is on sys.path)."""
import sys, time


def log(msg: str):
    "Progress to stderr, so stdout keeps only the result table."
    print(msg, file=sys.stderr, flush=True)


def timed(fn, *args, **kw) -> tuple:
    "(seconds, result) of `fn(*args, **kw)`."
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out
