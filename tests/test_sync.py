"""The README's test command starts with `make check-sync`: it must fail when a notebook and
mlpuzzle/*.py disagree, or a notebook is not clean. Proved on a temporary copy of the project."""
import json, shutil, subprocess, sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


@pytest.fixture
def project(tmp_path):
    "A copy of the project's sources (no venv) that the test may break."
    dst = tmp_path / "project"
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "reports", "_proc", "_docs", "*.egg-info", "demo")
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst


def check_sync(project):
    "Run the test command's first step in `project`, with this venv (-o: never reinstall it from the copy)."
    return subprocess.run(["make", "-s", "check-sync", f"VENV={BIN.parent}", "-o", f"{BIN}/.installed"],
                          cwd=project, capture_output=True, text=True)


def test_clean_copy_is_in_sync(project):
    r = check_sync(project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in sync" in r.stdout


def test_hand_edited_module_fails(project):
    core = project / "mlpuzzle" / "base" / "core.py"
    core.write_text(core.read_text() + "\ndef sneaked_in(): return 42\n")
    r = check_sync(project)
    assert r.returncode != 0
    assert "mlpuzzle/base/core.py" in r.stdout and "Edit the notebook" in r.stdout


def test_notebook_edit_not_exported_fails(project):
    nb_path = project / "nbs" / "base/01_core.ipynb"
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).startswith("#| export"))
    cell["source"].append("\nNEW_CONSTANT = 1\n")
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    r = check_sync(project)
    assert r.returncode != 0 and "mlpuzzle/base/core.py" in r.stdout


def test_unclean_notebook_fails(project):
    nb_path = project / "nbs" / "simulator/00_simulate.ipynb"
    nb = json.loads(nb_path.read_text())
    next(c for c in nb["cells"] if c["cell_type"] == "code")["execution_count"] = 12
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    r = check_sync(project)
    assert r.returncode != 0 and "nbs/simulator/00_simulate.ipynb" in r.stdout


def test_lint_fails_on_an_unused_import(project):
    "The test command's lint step (ruff's pyflakes rules on the exported package) names the module and the name."
    run = ["make", "-s", "lint", f"VENV={BIN.parent}", "-o", f"{BIN}/.installed"]
    assert subprocess.run(run, cwd=project, capture_output=True, text=True).returncode == 0
    state = project / "mlpuzzle" / "monitoring" / "state.py"
    state.write_text("import os\n" + state.read_text())
    r = subprocess.run(run, cwd=project, capture_output=True, text=True)
    assert r.returncode != 0 and "mlpuzzle/monitoring/state.py" in r.stdout and "os" in r.stdout
