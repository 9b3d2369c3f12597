"""Pipeline runs end to end through the real `mlpuzzle` command: reports, run records, failures,
time limits, dead kernels and killed runs."""
import json, os, shutil, signal, sqlite3, subprocess, sys, time
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import MLPUZZLE, ROOT, write_stage


def records(ws):
    "The run records of workspace `ws`, oldest first ([] while the run log is still being created)."
    con = sqlite3.connect(ws / "runs.db")
    con.row_factory = sqlite3.Row
    try: return [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY started")]
    except sqlite3.OperationalError: return []  # no table yet: the run is starting
    finally: con.close()


def test_init_from_data_then_check(cli, tmp_path, sample_csv, reports):
    ws = tmp_path / "ws"
    r = cli("init", ws, "--from-data", sample_csv, "--target", "churned")
    assert r.returncode == 0, r.stderr
    spec = yaml.safe_load((ws / "mlpuzzle.yml").read_text())
    kinds = {k: v["type"] for k, v in spec["features"].items()}
    assert kinds["monthly_fee"] == "numeric" and kinds["plan"] == "categorical" and kinds["autopay"] == "boolean"
    assert spec["columns"] == {"id": "customer_id", "timestamp": "event_time", "target": "churned"}

    r = cli("run", "check", "-w", ws, "-q")
    assert r.returncode == 0, r.stderr
    [rec] = records(ws)
    run_dir = reports / "runs" / f"{rec['id']}-check"
    assert rec["status"] == "succeeded" and rec["report"] == str(run_dir)
    assert (run_dir / "check.ipynb").is_file() and (run_dir / "check.html").is_file()
    executed = nbformat.read(run_dir / "check.ipynb", as_version=4)
    assert any("OK: ws is ready" in o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert str(sample_csv) in json.loads(rec["inputs"])  # the notebook logged what it read
    assert json.loads(rec["versions"])["pandas"] and rec["git_commit"]

    r = cli("status", "-w", ws)
    assert r.returncode == 0 and rec["id"] in r.stdout and "succeeded" in r.stdout


def test_check_fails_when_source_lacks_columns(cli, tmp_path, sample_csv):
    ws = tmp_path / "ws"
    assert cli("init", ws, "--from-data", sample_csv, "--target", "churned").returncode == 0
    import pandas as pd
    pd.read_csv(sample_csv).drop(columns=["plan"]).to_csv(sample_csv, index=False)
    r = cli("run", "check", "-w", ws, "-q")
    assert r.returncode == 1 and "lacks the columns plan" in r.stderr


@pytest.fixture(scope="module")
def new_workspace(tmp_path_factory):
    "A workspace made by `mlpuzzle init --spec` (once: tests copy it)."
    d = tmp_path_factory.mktemp("runs")
    spec = d / "spec.yml"
    spec.write_text(yaml.safe_dump({"name": "t", "problem": "binary", "source": {"kind": "dataframe"},
                                    "columns": {"target": "y"}, "features": {"x": {"type": "numeric"}}}))
    subprocess.run([str(MLPUZZLE), "init", d / "ws", "--spec", spec], check=True)
    return d / "ws"


@pytest.fixture
def pipeline(tmp_path, monkeypatch, new_workspace):
    "A pipeline directory of throwaway stages, and a workspace of its own to run them on."
    d = tmp_path / "pipeline"
    monkeypatch.setenv("MLPUZZLE_PIPELINES", str(d))
    write_stage(d, "ok", "print('fine')")
    return d, shutil.copytree(new_workspace, tmp_path / "ws")


def test_failing_cell_gives_failed_record_and_saved_notebook(cli, pipeline, reports):
    d, ws = pipeline
    write_stage(d, "boom", "x = 1\nraise ValueError(f'bad batch {x}')")
    r = cli("run", "boom", "-w", ws, "-q")
    assert r.returncode == 1
    assert "ValueError: bad batch 1" in r.stderr and "Traceback" not in r.stderr
    [rec] = records(ws)
    assert rec["status"] == "failed" and rec["error"] == "ValueError: bad batch 1"
    assert rec["failed_cell"].startswith("cell 2 (In [3]): x = 1")  # after the injected parameters cell
    saved = Path(rec["report"]) / "boom.ipynb"
    assert saved.is_file() and "bad batch 1" in saved.read_text()


def test_unknown_parameter_lists_the_valid_ones(cli, pipeline):
    d, ws = pipeline
    write_stage(d, "p", "print(days)", params="days = 7\nsource = 'csv'")
    r = cli("run", "p", "-w", ws, "-p", "dayz", "3")
    assert r.returncode == 2 and "stage p has no parameter 'dayz'; its parameters are: days, source" in r.stderr
    r = cli("run", "p", "-w", ws, "-p", "days", "three")
    assert r.returncode == 2 and "parameter days: expected int, got 'three'" in r.stderr
    r = cli("run", "nope", "-w", ws)
    assert r.returncode == 2 and "unknown stage 'nope'; the stages are: ok, p" in r.stderr
    assert cli("run", "p", "-w", ws, "-p", "days", "3", "-q").returncode == 0
    assert json.loads(records(ws)[-1]["parameters"]) == {"days": 3}


def test_time_limit_ends_a_hung_cell(cli, pipeline):
    d, ws = pipeline
    write_stage(d, "hang", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)")
    t0 = time.monotonic()
    r = cli("run", "hang", "-w", ws, "-q", "--timeout", "3")
    took = time.monotonic() - t0
    assert r.returncode == 1 and "time limit of 3.0 s exceeded" in r.stderr
    assert took < 30, f"the run took {took:.0f} s to stop"
    assert records(ws)[-1]["status"] == "failed"


def test_dead_kernel_fails_the_run_promptly(cli, pipeline):
    d, ws = pipeline
    write_stage(d, "die", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    t0 = time.monotonic()
    r = cli("run", "die", "-w", ws, "-q", "--timeout", "60")
    assert r.returncode == 1, r.stderr
    assert time.monotonic() - t0 < 60
    rec = records(ws)[-1]
    assert rec["status"] == "failed" and rec["error"]


def test_sigkilled_run_shows_as_interrupted(cli, pipeline, reports):
    d, ws = pipeline
    write_stage(d, "slow", "import time\ntime.sleep(600)")
    p = subprocess.Popen([str(MLPUZZLE), "run", "slow", "-w", str(ws), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "MLPUZZLE_REPORTS": str(reports)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ((ws / "runs.db").exists() and records(ws)):
        time.sleep(0.2)
    assert records(ws)[0]["status"] == "running"
    time.sleep(1)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    r = cli("status", "-w", ws)
    assert r.returncode == 0
    line = next(l for l in r.stdout.splitlines() if "slow" in l)
    assert "interrupted" in line
    assert records(ws)[0]["status"] == "interrupted"
    assert cli("run", "ok", "-w", ws, "-q").returncode == 0  # the workspace is usable afterwards


@pytest.fixture
def short_tmp():
    "A temporary directory of a short path (Unix socket paths are limited to 107 bytes), removed afterwards."
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="mpk", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_killed_runs_kernel_sockets_are_removed_by_the_next_run(cli, pipeline, reports, short_tmp):
    "A run leaves nothing in the temporary directory; what a killed run leaves there, the next run removes."
    import psutil
    d, ws = pipeline
    env = {"TMPDIR": str(short_tmp)}  # the run, and its kernel, make their temporary files here
    kernel_files = lambda: sorted(str(f.relative_to(short_tmp)) for f in short_tmp.rglob("*")
                                  if f.is_socket() or f.name.startswith("mlpuzzle-kernel") or f.suffix == ".json")
    assert cli("run", "ok", "-w", ws, "-q", env=env).returncode == 0
    assert kernel_files() == []
    write_stage(d, "slow", "import time\ntime.sleep(600)")
    p = subprocess.Popen([str(MLPUZZLE), "run", "slow", "-w", str(ws), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "MLPUZZLE_REPORTS": str(reports), **env})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and sum(f.is_socket() for f in short_tmp.rglob("*")) < 5:  # the kernel is up
        time.sleep(0.2)
    kernels = psutil.Process(p.pid).children(recursive=True)
    p.kill()
    p.wait(10)
    for k in kernels:  # the orphaned kernel would sleep on; its files stay either way
        try: k.kill()
        except psutil.NoSuchProcess: pass
    assert any(f.is_socket() for f in short_tmp.rglob("*")), kernel_files()  # the killed run left its sockets
    assert cli("run", "ok", "-w", ws, "-q", env=env).returncode == 0
    assert kernel_files() == [], "the killed run's kernel files are still there"
