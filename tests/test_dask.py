"""The dask engine against the pandas engine, on a dask.distributed LocalCluster of 2 worker processes started
and stopped here. Two copies of one workspace (60 days of the demo business, monthly fees and tenures shifted
from day 40, plus dirty rows) go through the same stages, `mlpuzzle run ingest | train | score`, one with
`--engine dask --scheduler ADDRESS`; every file is cut into several partitions. They must give the same
snapshots (manifests, content hashes, rows, quarantine), the same predictions, and the same drift results."""
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

CHUNK_ROWS, PARTITION_ROWS = 150, 300  # 400 rows a day: 3 chunks per file, 2 partitions


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB") as c:
        yield c.scheduler_address


def _dirty(csv_dir: Path):
    "Rows each engine must quarantine the same way: repeats of an id in the same chunk, in another partition of the"
    " file and in an earlier file; a fee that is not a number; a quoted category with a line end in it."
    files = sorted(csv_dir.glob("events-*.csv"))
    first = pd.read_csv(files[0])
    for f in files[3:6]:
        df = pd.read_csv(f)
        bad = pd.concat([df.iloc[[1]], df.iloc[[-1]], first.iloc[[0]], df.iloc[[5]].assign(customer_id="x-" + f.stem, monthly_fee="abc"),
                         df.iloc[[6]].assign(customer_id="y-" + f.stem, plan="pro\nplus")])
        pd.concat([df.iloc[:2], bad.iloc[[0]], df.iloc[2:200], bad.iloc[[1]], df.iloc[200:], bad.iloc[2:]]).to_csv(f, index=False)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, cluster):
    "Two identical workspaces: `pandas` and `dask`; the source has dirty rows."
    from mlpuzzle.app.commands import simulate_into
    root = tmp_path_factory.mktemp("engines")
    r = simulate_into(root / "pandas", days=60, scenario="covariate_drift", seed=5, rows_per_day=400, onset=40)
    _dirty(root / "pandas" / "source" / "csv")
    f = root / "pandas" / "mlpuzzle.yml"
    spec = yaml.safe_load(f.read_text())
    spec["source"]["chunk_rows"] = CHUNK_ROWS
    spec["engine"] = {"partition_rows": PARTITION_ROWS}
    f.write_text(yaml.safe_dump(spec))
    shutil.copytree(root / "pandas", root / "dask")
    return root / "pandas", root / "dask", r["end"]


def _run(cli, stage, ws, *params, engine=None, scheduler=None):
    extra = ["--engine", engine, "--scheduler", scheduler] if engine else []
    out = cli("run", stage, "-w", ws, *params, *extra, "-q", timeout=600)
    assert out.returncode == 0, (stage, engine, out.stdout[-1500:], out.stderr[-1500:])


def _manifests(ws: Path) -> dict:
    from mlpuzzle.base.workspace import Workspace
    from mlpuzzle.data.store import snapshots
    return {Path(m["source"]["name"]).name: m for m in snapshots(Workspace(ws))}


@pytest.fixture(scope="module")
def ingested(pair, cluster, cli_module):
    p, d, end = pair
    _run(cli_module, "ingest", p)
    _run(cli_module, "ingest", d, engine="dask", scheduler=cluster)
    return pair


@pytest.fixture(scope="module")
def cli_module(tmp_path_factory):
    "The `cli` fixture for module-scoped fixtures (reports in a directory of their own)."
    from conftest import run_mlpuzzle
    reports = str(tmp_path_factory.mktemp("reports"))
    return lambda *args, timeout=300: run_mlpuzzle(*args, env={"MLPUZZLE_REPORTS": reports}, timeout=timeout)


def test_same_snapshots(ingested):
    p, d, _ = ingested
    mp, md = _manifests(p), _manifests(d)
    assert sorted(mp) == sorted(md) and len(mp) == 60
    skip = {"created", "source", "engine"}
    for name in mp:
        a, b = mp[name], md[name]
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}, name
        assert b["engine"] == {"kind": "dask", "partitions": 2}
        parts = sorted((d / "snapshots" / b["id"] / "data.parquet").glob("part-*.parquet"))
        assert len(parts) == 2  # written partitioned, one part per partition
    dirty = [mp[n] for n in sorted(mp)[3:6]]
    assert all(m["rows"]["quarantined"] == 5 for m in dirty), [m["rows"] for m in dirty]
    for name in mp:  # the quarantined rows, as read, with the same reasons and row numbers
        if mp[name].get("quarantine"):
            qa, qb = (pd.read_parquet(ws / m[name]["quarantine"]).drop(columns="_source") for ws, m in ((p, mp), (d, md)))
            pd.testing.assert_frame_equal(qa, qb)
    from mlpuzzle.base.workspace import Workspace
    from mlpuzzle.data.store import load_snapshots
    pd.testing.assert_frame_equal(load_snapshots(Workspace(p)), load_snapshots(Workspace(d)))


def test_dirty_rows_are_quarantined_for_the_right_reason(ingested):
    from mlpuzzle.data.quarantine import quarantined
    _, d, _ = ingested
    q = quarantined(d)
    reasons = q["_reasons"].str.replace(r"^\S+ .*?: ", "", regex=True)
    assert reasons.str.contains("repeats an id earlier in this batch").sum() == 6  # in the same chunk; in the other partition
    assert reasons.str.contains("was already ingested in an earlier batch").sum() == 3
    assert q["_reasons"].str.contains("monthly_fee 'abc': is not a numeric value").sum() == 3
    assert q["_reasons"].str.contains("plan 'pro\\nplus': is not an allowed value", regex=False).sum() == 3


def test_a_second_ingest_stores_nothing(ingested, cluster):
    from mlpuzzle.data.store import ingest
    _, d, _ = ingested
    assert {m["status"] for m in ingest(d, engine="dask", scheduler=cluster)} == {"unchanged"}


@pytest.fixture(scope="module")
def scored(ingested, cluster, cli_module):
    """Both workspaces scored by one champion: the train stage (which has no engine) runs once, on `pandas`, and its
    model state (MLflow store and registry, reference profile) is copied into `dask`, whose store re-points itself at
    its own artifacts when first opened. `test_same_predictions` checks that a train would read the same rows there."""
    p, d, end = ingested
    _run(cli_module, "train", p, "-p", "until", "2024-01-31")
    assert not (d / "mlflow" / "mlflow.db").exists()
    shutil.copytree(p / "mlflow", d / "mlflow", dirs_exist_ok=True)
    shutil.copytree(p / "profiles" / "reference", d / "profiles" / "reference")
    _run(cli_module, "score", p, "-p", "ingest_first", "false")
    _run(cli_module, "score", d, "-p", "ingest_first", "false", engine="dask", scheduler=cluster)
    return ingested


def _predictions(ws: Path) -> pd.DataFrame:
    files = sorted((ws / "predictions").glob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True).sort_values("customer_id", ignore_index=True)


def test_same_predictions(scored):
    from mlpuzzle.data.labels import training_set
    p, d, _ = scored
    # what the train stage reads (labeled rows of the snapshots) is the same in the dask workspace: a train there
    # gives the same model (training is reproducible: test_models), so one train serves both
    pd.testing.assert_frame_equal(training_set(p), training_set(d))
    a, b = _predictions(p), _predictions(d)
    assert len(a) == sum(m["rows"]["accepted"] for m in _manifests(p).values())
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    assert all(f.is_dir() for f in (d / "predictions").glob("*.parquet"))  # one part per partition
    assert not any(f.is_dir() for f in (p / "predictions").glob("*.parquet"))


def test_same_drift(scored):
    from mlpuzzle.monitoring.monitor import monitor
    p, d, end = scored
    rp, rd = (monitor(ws, as_of=end, deliver_alerts=False, quiet=True) for ws in (p, d))
    a, b = (r.drift.set_index(["window", "column"]).sort_index() for r in (rp, rd))
    assert a.index.equals(b.index) and len(a.index.get_level_values("window").unique()) >= 55
    # KLL sketches compact at random: a distance within 0.005 of the threshold (0.1) may land on either side of it
    edge = ((a["distance"] - 0.1).abs() < 0.005) | ((b["distance"] - 0.1).abs() < 0.005)
    same = (a["status"] == b["status"]) | edge
    assert same.all(), a[~same].join(b, rsuffix="_dask")[["status", "status_dask", "distance", "distance_dask"]]
    assert np.allclose(a["distance"], b["distance"], atol=0.01, equal_nan=True)
    assert np.allclose(a["rows"], b["rows"])
    drifted = a[a.status == "drift"].index.get_level_values("column").unique()
    assert {"monthly_fee", "tenure_days"} <= set(drifted)  # the shift is found, by both
    qa, qb = (r.quality.set_index("window").sort_index() for r in (rp, rd))
    pd.testing.assert_frame_equal(qa, qb)
    assert [e["kind"] for e in rp.events] == [e["kind"] for e in rd.events]


def test_an_unreachable_scheduler_is_a_clear_error_and_stores_nothing(tmp_path, cli):
    from mlpuzzle.app.commands import simulate_into
    from mlpuzzle.data.engine import EngineError
    from mlpuzzle.data.store import ingest
    simulate_into(tmp_path / "ws", days=2, rows_per_day=50)
    with pytest.raises(EngineError, match="no scheduler answers at tcp://127.0.0.1:9 .*start one"):
        ingest(tmp_path / "ws", engine="dask", scheduler="tcp://127.0.0.1:9")
    assert not [p for p in (tmp_path / "ws" / "snapshots").iterdir()]
    out = cli("run", "train", "-w", tmp_path / "ws", "--engine", "dask", "-q")
    assert out.returncode != 0 and "stage train has no parameter 'engine'" in out.stderr, out.stderr
