"""Overhead of `mlpuzzle run` over a bare `papermill` call on the same notebook, in one run.

The notebook imports pandas and scikit-learn and fits a tiny model. Both commands run `--repeat`
times, interleaved so machine noise hits both alike; the medians and their difference are reported,
and written to bench/results/run_overhead.json.

    .venv/bin/python bench/run_overhead.py [--repeat 5]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import nbformat
import yaml

BIN = Path(sys.executable).parent
CODE = """import pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.DataFrame({"x": range(100), "y": [i % 2 for i in range(100)]})
print(LogisticRegression().fit(df[["x"]], df.y).score(df[["x"]], df.y))"""


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


def main(repeat: int):
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
            print(f"  round {i + 1}/{repeat}: papermill {res['papermill'][-1]:.2f} s, mlpuzzle run {res['mlpuzzle run'][-1]:.2f} s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in res.items()}
    out = {"repeat": repeat, "median_s": med, "overhead_s": med["mlpuzzle run"] - med["papermill"],
           "ratio": med["mlpuzzle run"] / med["papermill"], "samples_s": res, "target_overhead_s": 1.0}
    Path(__file__).parent.joinpath("results", "run_overhead.json").write_text(json.dumps(out, indent=1))
    print(f"bare papermill     median {med['papermill']:.2f} s\nmlpuzzle run       median {med['mlpuzzle run']:.2f} s\n"
          f"overhead           {out['overhead_s']:+.2f} s (ratio {out['ratio']:.2f}x; target < 1 s extra)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="rounds of each command (default: 5)")
    main(ap.parse_args().repeat)
