"""Shared fixtures: the real `mlpuzzle` command in a subprocess, and throwaway pipeline stages."""
import os, subprocess, sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MLPUZZLE = Path(sys.executable).parent / "mlpuzzle"


@pytest.fixture
def reports(tmp_path, monkeypatch):
    "A reports directory for this test, passed to every command through $MLPUZZLE_REPORTS."
    d = tmp_path / "reports"
    monkeypatch.setenv("MLPUZZLE_REPORTS", str(d))
    return d


@pytest.fixture
def cli(reports):
    "Run `mlpuzzle ARGS...` as a user would; return the CompletedProcess (text output)."
    def run(*args, env=None, timeout=300):
        return subprocess.run([str(MLPUZZLE), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    return run


def write_stage(d: Path, name: str, code: str, params: str = "") -> Path:
    "Write pipeline notebook `name` into `d`: a parameters cell, then one cell of `code`."
    d.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f'workspace = ""\nrun_id = ""\n{params}', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, d / f"{name}.ipynb")
    return d / f"{name}.ipynb"


@pytest.fixture
def sample_csv(tmp_path):
    "A CSV with numeric, string, boolean and timestamp columns (the demo business)."
    from mlpuzzle.simulate import churn_sample
    p = tmp_path / "customers.csv"
    churn_sample(400, seed=3).to_csv(p, index=False)
    return p
