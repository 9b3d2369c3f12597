"""The team set-up: the workspace's MLflow store is a tracking server (`mlflow server` on 127.0.0.1 with a
PostgreSQL backend store and proxied artifacts) instead of the local sqlite file.

The module fixtures start everything and stop it at the end of the module, also when a test fails:
PostgreSQL from Debian's packages (`initdb` into a fresh temp dir, then `postgres` listening only on
127.0.0.1 on a free port, its unix socket inside the temp dir, trust auth, database `mlflow`; run as the
`postgres` system user when the tests run as root, since postgres refuses to run as root), then
`mlflow server` with `postgresql+psycopg2://postgres@127.0.0.1:PORT/mlflow` as its backend store.
The stages run unchanged: train registers and promotes on the server, score loads the champion from it,
monitoring finds its reference, and nothing of MLflow is written into the workspace. The test then reads
MLflow's tables in PostgreSQL directly, to prove the registry really lives there.

On a machine without PostgreSQL's binaries (or without psycopg2) the server falls back to its SQLite
backend (same client path: REST calls and artifact proxying) and the test says so with a warning;
CI (`.ci/run`) installs Debian's `postgresql` so that it always uses PostgreSQL."""
import glob, os, pwd, shutil, signal, subprocess, sys, tempfile, time, warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import die_with_parent, free_port, stop_group, wait_ready


BIN = Path(sys.executable).parent


def _pg_bindir() -> Path | None:
    "The directory of PostgreSQL's server binaries (`initdb`, `postgres`), or None when not installed."
    cands = []
    try: cands.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError): pass
    vers = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")])
    cands += reversed(vers)
    for c in cands:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file(): return Path(c)
    return None


@pytest.fixture(scope="module")
def backend():
    "The tracking server's backend store: `(uri, 'postgresql')` for a PostgreSQL started here, else `(None, reason)`."
    bindir = _pg_bindir()
    if bindir is None:
        yield None, "PostgreSQL's binaries (initdb, postgres) are not installed"; return
    try: import psycopg2
    except ImportError:
        yield None, "psycopg2 is not installed"; return
    run_as = {}
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as Debian's `postgres` system user
        try: pw = pwd.getpwnam("postgres")
        except KeyError:
            yield None, "running as root and there is no `postgres` user to run PostgreSQL as"; return
        run_as = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    d = Path(tempfile.mkdtemp(prefix="mlpuzzle-pg-"))  # under /tmp, which the postgres user can traverse
    p = None
    try:
        if run_as: os.chown(d, run_as["user"], run_as["group"])
        data, port = d / "data", free_port()
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                               "--locale=C", "--no-sync"], capture_output=True, text=True, timeout=120, cwd=d, env=env, **run_as)
        assert init.returncode == 0, f"initdb failed: {init.stdout[-1500:]}{init.stderr[-1500:]}"
        log = open(d / "postgres.log", "w")
        if run_as: os.chown(d / "postgres.log", run_as["user"], run_as["group"])
        # the postmaster as our child: fast shutdown (SIGINT) if pytest dies without running the finally below
        p = subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(d),
                              "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"],
                             stdout=log, stderr=subprocess.STDOUT, cwd=d, env=env, start_new_session=True,
                             preexec_fn=lambda: die_with_parent(signal.SIGINT), **run_as)
        deadline = time.monotonic() + 60
        while True:
            if p.poll() is not None: pytest.fail(f"postgres exited: {(d / 'postgres.log').read_text()[-2000:]}")
            try: conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2); break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline: pytest.fail(f"postgres not ready in 60 s: {(d / 'postgres.log').read_text()[-2000:]}")
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur: cur.execute("CREATE DATABASE mlflow")
        conn.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow", "postgresql"
    finally:
        if p is not None: stop_group(p, (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL))  # fast, then immediate shutdown
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    "`mlflow server` on 127.0.0.1 (PostgreSQL backend, else SQLite; artifacts served by the server): URL, dir, backend URI."
    d = tmp_path_factory.mktemp("mlflow-server")
    uri, why = backend
    if uri is None:
        warnings.warn(f"tracking server test falls back to the SQLite backend store: {why}")
        uri = f"sqlite:///{d / 'mlflow.db'}"
    port, log = free_port(), open(d / "server.log", "w")
    p = subprocess.Popen(["timeout", "-k", "5", "900", str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                          "--backend-store-uri", uri, "--artifacts-destination", str(d / "artifacts"),
                          "--serve-artifacts", "--workers", "1"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
                         env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(p, f"{url}/health", d / "server.log", 120, what="mlflow server")
        yield url, d, uri
    finally:
        stop_group(p)


def test_stages_run_unchanged_against_a_tracking_server(server, cli, tmp_path):
    from mlpuzzle.app.commands import simulate_into
    url, d, backend_uri = server
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
    # a dashboard rebuilt in the background while the tracking server is down gives up in seconds: MLflow's own
    # retries (7, with minutes of backoff per call) kept such a process alive for many minutes after the stage ended
    import psutil
    from mlpuzzle.loop.runs import rebuild_dashboard
    from mlpuzzle.base.workspace import open_workspace
    spec_file.write_text(yaml.safe_dump({**spec, "model": {**spec["model"], "tracking_uri": f"http://127.0.0.1:{free_port()}"}}))
    before = {p.pid for p in psutil.Process().children()}
    t0 = time.monotonic()
    rebuild_dashboard(open_workspace(ws_dir), tmp_path / "reports")
    child = next(p for p in psutil.Process().children() if p.pid not in before and "mlpuzzle.app.dashboard" in " ".join(p.cmdline()))
    try: child.wait(timeout=120)
    except psutil.TimeoutExpired: child.kill(); raise AssertionError(f"the background dashboard still ran after {time.monotonic() - t0:.0f} s")
    spec_file.write_text(yaml.safe_dump(spec))
    # the registry's rows are in the backend store: PostgreSQL's tables hold the model and its champion alias
    if backend_uri.startswith("postgresql"):
        import sqlalchemy as sa
        eng = sa.create_engine(backend_uri)
        try:
            with eng.connect() as con:
                assert eng.dialect.name == "postgresql" and con.execute(sa.text("SELECT version()")).scalar().startswith("PostgreSQL")
                assert con.execute(sa.text("SELECT name FROM registered_models")).scalars().all() == ["churn-demo"]
                assert con.execute(sa.text("SELECT version FROM model_versions WHERE name = 'churn-demo'")).scalars().all() == [1]
                assert con.execute(sa.text("SELECT alias, version FROM registered_model_aliases WHERE name = 'churn-demo'")).all() == [("champion", 1)]
        finally:
            eng.dispose()
