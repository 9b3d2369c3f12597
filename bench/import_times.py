"""Import time of the same modules in two checkouts, interleaved in one run: a fresh interpreter per import
(`python -X importtime`, cumulative), median of `--repeat`, run from /tmp so that neither checkout's folder is on
the path by accident. Module names may differ between the two (`store` in a flat tree, `data.store` after the
layout issue): give pairs `OLD=NEW`.

    .venv/bin/python bench/import_times.py --before /tmp/old-clone --after . [--repeat 5] [PAIR ...]
"""
import argparse, os, statistics, subprocess, sys
from pathlib import Path

PAIRS = ["workspace=base.workspace", "store=data.store", "registry=models.registry", "score=serving.score",
         "serve=serving.serve", "alerts=monitoring.alerts", "monitor=monitoring.monitor", "retrain=loop.retrain",
         "runs=loop.runs", "cli=app.cli"]


def import_seconds(tree: Path, module: str) -> float:
    "Cumulative seconds to import `mlpuzzle.<module>` from checkout `tree`, in a fresh interpreter."
    env = {"PYTHONPATH": str(tree), "WHYLOGS_NO_ANALYTICS": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import mlpuzzle.{module}"], cwd="/tmp",
                       capture_output=True, text=True, env=env, check=True)
    rows = [line.split("|") for line in p.stderr.splitlines() if line.startswith("import time:")]
    return next(int(r[1]) for r in rows if r[2].strip() == f"mlpuzzle.{module}") / 1e6


def main(a):
    print("| module | before (s) | after (s) | ratio |\n|---|---|---|---|")
    for pair in a.pairs:
        old, new = pair.split("=")
        before, after = [], []
        for _ in range(a.repeat):
            before.append(import_seconds(a.before, old)); after.append(import_seconds(a.after, new))
        b, n = statistics.median(before), statistics.median(after)
        print(f"| {old} -> {new} | {b:.2f} | {n:.2f} | {n / b:.2f} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, required=True, help="the checkout measured first")
    p.add_argument("--after", type=Path, required=True, help="the checkout measured second")
    p.add_argument("--repeat", type=int, default=5, help="imports of each module in each checkout")
    p.add_argument("pairs", nargs="*", default=PAIRS, help="OLD=NEW module names below mlpuzzle")
    a = p.parse_args()
    main(argparse.Namespace(**{**vars(a), "before": a.before.resolve(), "after": a.after.resolve()}))
