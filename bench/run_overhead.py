"""What a stage costs before and after its own cells, in one run.

1. A trivial stage: `mlpuzzle run` against a bare `papermill` call on the same notebook (pandas and
   scikit-learn imported, a tiny model fitted), interleaved `--repeat` times; medians.
2. Import time of each library module, alone in a fresh interpreter (`python -X importtime`), median of
   `--repeat`, and which heavy libraries (scikit-learn, scipy, whylogs, MLflow, matplotlib) it pulls in.
3. Each real stage (check, ingest, train, score, monitor) on a simulated workspace of 60 days x 300 rows,
   split from the executed notebook's papermill timestamps: before the notebook (command, run record),
   kernel start (to the first cell), the import cell, the other cells, after the notebook (HTML report,
   run record, MLflow attachment).

Results go to bench/results/run_overhead.json under `--label` (e.g. before, after); the labels already
there are kept, and the table compares them.

    .venv/bin/python bench/run_overhead.py [--repeat 5] [--label after]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from datetime import datetime
from pathlib import Path

import nbformat
import yaml

from common import log

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results" / "run_overhead.json"
CODE = """import pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.DataFrame({"x": range(100), "y": [i % 2 for i in range(100)]})
print(LogisticRegression().fit(df[["x"]], df.y).score(df[["x"]], df.y))"""
MODULES = ["base.workspace", "data.sources", "data.store", "data.labels", "models.registry", "serving.score",
           "monitoring.drift", "monitoring.performance", "monitoring.alerts",
           "monitoring.monitor", "loop.retrain", "loop.runs", "serving.serve", "app.cli"]
HEAVY = {"sklearn": "scikit-learn", "scipy": "scipy", "whylogs": "whylogs", "mlflow": "MLflow", "matplotlib": "matplotlib"}
STAGES = ["check", "ingest", "train", "score", "monitor"]


def setup(d: Path):
    (d / "pipeline").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('workspace = ""\nrun_id = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(CODE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, d / "pipeline" / "fit.ipynb")
    spec = {"name": "bench", "problem": "binary", "source": {"kind": "dataframe"}, "columns": {"target": "y"},
            "features": {"x": {"type": "numeric"}}}
    (d / "spec.yml").write_text(yaml.safe_dump(spec))
    subprocess.run([BIN / "mlpuzzle", "init", d / "ws", "--spec", d / "spec.yml"], check=True, capture_output=True)


def timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def trivial(repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); setup(d)
        env = {**os.environ, "MLPUZZLE_PIPELINES": str(d / "pipeline"), "MLPUZZLE_REPORTS": str(d / "reports")}
        nb = d / "pipeline" / "fit.ipynb"
        bare = [BIN / "papermill", nb, d / "out.ipynb", "-p", "workspace", str(d / "ws"), "-p", "run_id", "x", "--no-progress-bar"]
        ours = [BIN / "mlpuzzle", "run", "fit", "-w", d / "ws", "-q"]
        timed(bare, env); timed(ours, env)  # warm the file cache
        res = {"papermill": [], "mlpuzzle run": []}
        for i in range(repeat):
            res["papermill"].append(timed(bare, env))
            res["mlpuzzle run"].append(timed(ours, env))
            log(f"  trivial stage, round {i + 1}/{repeat}: papermill {res['papermill'][-1]:.2f} s, mlpuzzle run {res['mlpuzzle run'][-1]:.2f} s")
    med = {k: statistics.median(v) for k, v in res.items()}
    return {"median_s": med, "overhead_s": med["mlpuzzle run"] - med["papermill"], "samples_s": res}


def import_time(module: str) -> tuple:
    "(seconds to import mlpuzzle.`module` in a fresh interpreter, the heavy libraries it loaded)."
    code = f"import sys, mlpuzzle.{module}; print(','.join(k for k in {list(HEAVY)!r} if k in sys.modules))"
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    total = next(int(line.split("|")[1]) for line in p.stderr.splitlines()
                 if line.startswith("import time:") and line.split("|")[2].strip() == f"mlpuzzle.{module}")
    return total / 1e6, [HEAVY[k] for k in p.stdout.strip().split(",") if k]


def imports(repeat: int) -> dict:
    out = {}
    for m in MODULES:
        runs = [import_time(m) for _ in range(repeat)]
        out[m] = {"s": statistics.median(r[0] for r in runs), "pulls": runs[0][1]}
        log(f"  import mlpuzzle.{m}: {out[m]['s']:.2f} s ({', '.join(out[m]['pulls']) or 'no heavy library'})")
    return out


def _t(s: str) -> float: return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def split(nb_path: Path, t_start: float, t_end: float) -> dict:
    "Where a stage's time went, from papermill's timestamps in its executed notebook."
    nb = json.loads(nb_path.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and c["metadata"].get("papermill", {}).get("start_time")]
    meta = nb["metadata"]["papermill"]
    first = next(i for i, c in enumerate(cells) if not {"parameters", "injected-parameters"} & set(c["metadata"].get("tags", [])))
    t_nb, t_first = _t(meta["start_time"]), _t(cells[0]["metadata"]["papermill"]["start_time"])
    cell_end = [_t(c["metadata"]["papermill"]["end_time"]) for c in cells]
    return {"before notebook": t_nb - t_start, "kernel start": t_first - t_nb,
            "import cell": cells[first]["metadata"]["papermill"]["duration"],
            "other cells": cell_end[-1] - t_first - cells[first]["metadata"]["papermill"]["duration"],
            "after notebook": t_end - cell_end[-1], "total": t_end - t_start}


def stages(repeat: int) -> dict:
    res = {s: [] for s in STAGES}
    with tempfile.TemporaryDirectory() as d:
        ws, reports = Path(d) / "ws", Path(d) / "reports"
        subprocess.run([BIN / "mlpuzzle", "simulate", "-w", ws, "--days", "60", "--rows-per-day", "300"], check=True, capture_output=True)
        env = {**os.environ, "MLPUZZLE_REPORTS": str(reports)}
        for i in range(repeat):
            for s in STAGES:
                extra = ["--no-retrain"] if s == "monitor" else []
                t0 = time.time()
                subprocess.run([BIN / "mlpuzzle", "run", s, "-w", ws, "-q", *extra], check=True, capture_output=True, env=env)
                t1 = time.time()
                nb = max((reports / "runs").glob(f"*-{s}/{s}.ipynb"), key=lambda p: p.stat().st_mtime)
                res[s].append(split(nb, t0, t1))
                log(f"  {s}, round {i + 1}/{repeat}: " + ", ".join(f"{k} {v:.2f} s" for k, v in res[s][-1].items()))
    return {s: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for s, rows in res.items()}


def table(results: dict) -> str:
    labels = list(results)
    lines = ["trivial stage (median s)        " + "".join(f"{lb:>22}" for lb in labels)]
    for k in ("papermill", "mlpuzzle run"):
        lines.append(f"  {k:<30}" + "".join(f"{results[lb]['trivial']['median_s'][k]:>22.2f}" for lb in labels))
    lines.append("import mlpuzzle.MODULE (s)")
    for m in MODULES:
        lines.append(f"  {m:<30}" + "".join(f"{results[lb]['imports'].get(m, {}).get('s', float('nan')):>22.2f}" for lb in labels))
    lines.append("real stages (median s)")
    for s in STAGES:
        for k in ("before notebook", "kernel start", "import cell", "other cells", "after notebook", "total"):
            lines.append(f"  {s + ': ' + k:<30}" + "".join(f"{results[lb]['stages'][s][k]:>22.2f}" for lb in labels))
    return "\n".join(lines)


def main(repeat: int, label: str):
    res = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    res = {k: v for k, v in res.items() if isinstance(v, dict) and "stages" in v}  # the older single-table file is dropped
    log("trivial stage"); t = trivial(repeat)
    log("module imports"); i = imports(repeat)
    log("real stages"); s = stages(repeat)
    res[label] = {"repeat": repeat, "trivial": t, "imports": i, "stages": s}
    RESULTS.write_text(json.dumps(res, indent=1))
    print(table(res))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of each measurement (default: 3)")
    ap.add_argument("--label", default="current", help="the name of this measurement in the results (default: current)")
    a = ap.parse_args()
    main(a.repeat, a.label)
