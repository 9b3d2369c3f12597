"""The team set-up: the workspace's MLflow store is a tracking server (`mlflow server` on 127.0.0.1 with a
database backend and proxied artifacts, started and stopped by the test) instead of the local sqlite file.
The stages run unchanged: train registers and promotes on the server, score loads the champion from it,
monitoring finds its reference, and nothing of MLflow is written into the workspace.

(The issue asks for PostgreSQL from Debian's packages if possible; this test uses the server's SQLite
backend, which exercises the same client path: REST calls and artifact proxying.)"""
import ctypes, os, signal, socket, subprocess, sys, time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml


BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try: ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)
    except OSError: pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    "`mlflow server` on 127.0.0.1 (SQLite backend, artifacts served by the server); its URL."
    d = tmp_path_factory.mktemp("mlflow-server")
    port, log = _free_port(), open(d / "server.log", "w")
    p = subprocess.Popen(["timeout", "-k", "5", "900", str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                          "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}", "--artifacts-destination", str(d / "artifacts"),
                          "--serve-artifacts", "--workers", "1"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                         env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if p.poll() is not None: pytest.fail(f"mlflow server exited: {(d / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200: break
            except httpx.TransportError: pass
            if time.monotonic() > deadline: pytest.fail(f"mlflow server not ready in 120 s: {(d / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, d
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try: os.killpg(p.pid, sig); p.wait(15); break
            except ProcessLookupError: break
            except subprocess.TimeoutExpired: continue


def test_stages_run_unchanged_against_a_tracking_server(server, cli, tmp_path):
    from mlpuzzle.cli import simulate_into
    url, d = server
    ws_dir = tmp_path / "ws"
    r = simulate_into(ws_dir, days=70, scenario="none", seed=4, rows_per_day=300)
    spec_file = ws_dir / "mlpuzzle.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["model"] = {**(spec.get("model") or {}), "tracking_uri": url}
    spec_file.write_text(yaml.safe_dump(spec))
    for stage, params in (("ingest", []), ("train", []), ("score", ["-p", "ingest_first", "false"]),
                          ("monitor", ["-p", "as_of", r["end"], "--no-retrain"])):
        out = cli("run", stage, "-w", ws_dir, *params, "-q", timeout=600)
        assert out.returncode == 0, (stage, out.stdout[-1500:], out.stderr[-1500:])
    # the registry lives on the server: version 1 is the champion there, its model file among the server's artifacts
    from mlflow import MlflowClient
    c = MlflowClient(url)
    mv = c.get_model_version_by_alias("churn-demo", "champion")
    assert mv.version == "1"
    assert any(p.name == "model.skops" for p in (d / "artifacts").rglob("*"))
    models = cli("models", "-w", ws_dir)
    assert models.returncode == 0 and "champion" in models.stdout
    # nothing of MLflow in the workspace: no local store, no local artifacts
    assert not (ws_dir / "mlflow" / "mlflow.db").exists()
    assert not list((ws_dir / "mlflow").glob("artifacts/**/model.skops"))
    # batch predictions by the server's champion, and monitoring against its reference
    preds = pd.concat([pd.read_parquet(p) for p in (ws_dir / "predictions").glob("*.parquet")])
    assert len(preds) and set(preds.model_version) == {1}
    assert (ws_dir / "profiles" / "reference" / "v1.bin").exists()
    assert any(a.path.startswith("monitoring") for a in c.list_artifacts(mv.run_id))
