"""Shared fixtures: the real `mlpuzzle` command in a subprocess, and throwaway pipeline stages."""
import ctypes, os, signal, socket, subprocess, sys, time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MLPUZZLE = Path(sys.executable).parent / "mlpuzzle"


# The test files, heaviest first (minutes of one worker on 2 busy cores, 2026-12): `--dist loadfile` hands each file
# whole to the next idle worker in this order (the Makefile turns xdist's own reordering by test count off), so the
# long ones start at once and the short ones fill in at the end, instead of one long file left running alone.
HEAVY_FIRST = ("test_replay.py", "test_demo.py", "test_models.py", "test_dask.py", "test_business_time.py",
               "test_team.py", "test_own_data.py", "test_row_checks.py", "test_runs.py", "test_serve.py", "test_monitor.py",
               "test_estimated.py", "test_profiles_per_window.py", "test_cli_small.py", "test_ingest.py",
               "test_incidents.py", "test_segments.py", "test_windows.py", "test_cli_data.py")


def pytest_collection_modifyitems(config, items):
    "Files in the order of HEAVY_FIRST, the others after them; a file's tests keep their order."
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def free_port() -> int:
    "A TCP port free on 127.0.0.1."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent(sig=signal.SIGTERM):
    "In a child (`preexec_fn`): get `sig` when the test process dies, so no server outlives a killed pytest."
    try: ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError: pass


def stop_group(p: subprocess.Popen, sigs=(signal.SIGTERM, signal.SIGKILL), wait: float = 15):
    "Stop `p`'s process group: each signal in turn, waiting up to `wait` s after each."
    for sig in sigs:
        try: os.killpg(p.pid, sig)
        except ProcessLookupError: return
        try: p.wait(wait); return
        except subprocess.TimeoutExpired: continue


def wait_ready(p: subprocess.Popen, url: str, log: Path, timeout: float, every: float = 0.5, what: str = "the server"):
    "Poll `url` until it answers 200; fail (with the end of `log`) if `p` exits or `timeout` s pass first."
    import httpx
    deadline = time.monotonic() + timeout
    while True:
        if p.poll() is not None: pytest.fail(f"{what} exited ({p.returncode}):\n{Path(log).read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200: return
        except httpx.TransportError: pass
        if time.monotonic() > deadline: pytest.fail(f"{what} was not ready in {timeout:.0f} s:\n{Path(log).read_text()[-3000:]}")
        time.sleep(every)


def run_mlpuzzle(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    "Run `mlpuzzle ARGS...` as a user would; the CompletedProcess (text output)."
    return subprocess.run([str(MLPUZZLE), *map(str, args)], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def reports(tmp_path, monkeypatch):
    "A reports directory for this test, passed to every command through $MLPUZZLE_REPORTS."
    d = tmp_path / "reports"
    monkeypatch.setenv("MLPUZZLE_REPORTS", str(d))
    return d


@pytest.fixture
def cli(reports):
    "Run `mlpuzzle ARGS...` as a user would; return the CompletedProcess (text output)."
    return run_mlpuzzle


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
    from mlpuzzle.simulator.simulate import churn_sample
    p = tmp_path / "customers.csv"
    churn_sample(400, seed=3).to_csv(p, index=False)
    return p


def serving_champion(ws, data, as_of):
    """Train on the labeled rows `data`, register, promote from business time `as_of` (no gate: which model
    serves is the test's choice) and save the reference (profile, baselines, estimator); return the version."""
    from threadpoolctl import threadpool_limits
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import track
    from mlpuzzle.monitoring.reference import save_reference
    from mlpuzzle.models.registry import promote, register
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    promote(ws, v, "the test's champion", as_of=as_of)
    save_reference(ws, v, data, r.model, {**info, "version": v})
    return v
