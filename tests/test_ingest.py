"""Ingestion end to end on the simulated business: every source kind gives the same snapshots,
re-ingesting stores nothing, the SQL watermark takes only new rows, batch-level problems stop a batch
without touching earlier state, and a run killed while writing a snapshot leaves no partial one."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd
import pytest

from mlpuzzle.base.core import DataError
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.simulator.feed import write_simulation
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.quarantine import quarantined
from mlpuzzle.data.store import ingest, load_snapshots, snapshots, watermarks

from conftest import MLPUZZLE


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    "Twelve days of the demo business, written as CSV, Parquet and SQLite."
    d = tmp_path_factory.mktemp("sim")
    s = simulate(12, "none", seed=4, rows_per_day=300)
    return s, write_simulation(s, d), d


def workspace(tmp_path, name, source):
    return init_workspace(tmp_path / name, churn_spec(source))


def test_every_source_kind_gives_the_same_snapshots(sim, tmp_path):
    s, paths, d = sim
    kinds = {"csv": {"kind": "csv", "path": str(d / "csv" / "events-*.csv")},
             "parquet": {"kind": "parquet", "path": str(d / "parquet" / "events-*.parquet")},
             "sql": {"kind": "sql", "url": f"sqlite:///{paths['sqlite']}", "table": "events"}}
    hashes = {}
    for k, src in kinds.items():
        res = ingest(workspace(tmp_path, k, src), profile=False)
        assert all(m["status"] == "stored" for m in res)
        assert sum(m["rows"]["accepted"] for m in res) == len(s.events) and not sum(m["rows"]["quarantined"] for m in res)
        hashes[k] = sorted(m["content_hash"] for m in res) if k != "sql" else res[0]["content_hash"]
    # files are one batch per day, SQL one batch for all new rows: compare per day and in total
    assert hashes["csv"] == hashes["parquet"]
    whole = ingest(workspace(tmp_path, "whole", kinds["csv"]), df=s.events, profile=False)[0]["content_hash"]
    assert whole == hashes["sql"]


def test_reingest_stores_nothing_new(sim, tmp_path):
    s, paths, d = sim
    ws = workspace(tmp_path, "ws", {"kind": "csv", "path": str(d / "csv" / "events-*.csv")})
    first = ingest(ws, profile=False)
    assert [m["status"] for m in ingest(ws, profile=False)] == ["unchanged"] * len(first)
    [again] = ingest(ws, df=pd.read_csv(d / "csv" / "events-2024-01-03.csv"), profile=False)
    assert again["status"] == "unchanged"  # the same batch by content, from another source
    assert len(snapshots(ws)) == len(first) and len(load_snapshots(ws)) == len(s.events)


def test_sql_watermark_takes_only_new_rows(tmp_path):
    s = simulate(6, "none", seed=5, rows_per_day=200)
    from sqlalchemy import create_engine
    url = f"sqlite:///{tmp_path / 'src.db'}"
    eng = create_engine(url)
    ev = s.events
    ev[ev.event_time < "2024-01-04"].assign(event_time=lambda d: d.event_time.astype(str)).to_sql("events", eng, index=False)
    ws = workspace(tmp_path, "ws", {"kind": "sql", "url": url, "table": "events"})
    [m1] = ingest(ws, profile=False)
    assert m1["rows"]["read"] == (ev.event_time < "2024-01-04").sum()
    mark = watermarks(ws)
    assert list(mark.values()) == [m1["watermark"]]
    ev[ev.event_time >= "2024-01-04"].assign(event_time=lambda d: d.event_time.astype(str)).to_sql("events", eng, index=False, if_exists="append")
    [m2] = ingest(ws, profile=False)
    assert m2["rows"]["read"] == (ev.event_time >= "2024-01-04").sum() and m2["rows"]["quarantined"] == 0
    assert ingest(ws, profile=False) == []
    assert len(load_snapshots(ws)) == len(ev)


def test_labels_join_into_a_training_set(sim, tmp_path):
    s, paths, d = sim
    spec = churn_spec({"kind": "csv", "path": str(d / "csv" / "events-*.csv"), "labels": str(d / "labels" / "labels-*.csv")})
    ws = init_workspace(tmp_path / "ws", spec)
    ingest(ws, profile=False)
    ingest_labels(ws)
    cutoff = pd.Timestamp("2024-02-05", tz="UTC")
    train = training_set(ws, as_of=cutoff)
    known = s.labels[pd.to_datetime(s.labels.label_time, utc=True) <= cutoff]
    assert len(train) == len(known) > 0
    merged = train.merge(known, on="customer_id", suffixes=("", "_truth"))
    assert (merged.churned == merged.churned_truth).all()


@pytest.mark.parametrize("name,content,expected", [
    ("missing-column", None, "lacks the required column(s) plan"),
    ("not-csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8 text"),
    ("empty", b"", "empty file"),
    ("latin1", "customer_id,event_time,plan\nc1,2024-01-05,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
])
def test_batch_level_problem_stops_the_batch_and_keeps_earlier_state(sim, tmp_path, name, content, expected):
    s, paths, d = sim
    src = tmp_path / "src"; src.mkdir()
    for f in sorted((d / "csv").glob("events-*.csv"))[:2]: (src / f.name).write_bytes(f.read_bytes())
    bad = src / "events-2024-01-09.csv"
    if content is None: pd.read_csv(d / "csv" / "events-2024-01-09.csv").drop(columns=["plan"]).to_csv(bad, index=False)
    else: bad.write_bytes(content)
    ws = workspace(tmp_path, "ws", {"kind": "csv", "path": str(src / "events-*.csv")})
    ingest(ws, until="2024-01-03", profile=False)
    before = sorted(p.name for p in (ws.path / "snapshots").iterdir())
    with pytest.raises(DataError, match=re.escape(expected)) as e:
        ingest(ws, profile=False)
    assert str(bad) in str(e.value)
    assert sorted(p.name for p in (ws.path / "snapshots").iterdir()) == before  # nothing of the bad batch, no leftovers
    (src / bad.name).write_bytes((d / "csv" / "events-2024-01-09.csv").read_bytes())  # the fix
    res = ingest(ws, profile=False)
    assert [m["status"] for m in res] == ["unchanged", "unchanged", "stored"]


def test_cli_reports_a_bad_batch_in_one_line(sim, tmp_path, cli):
    s, paths, d = sim
    src = tmp_path / "src"; src.mkdir()
    (src / "events-2024-01-01.csv").write_bytes(b"")
    spec = tmp_path / "spec.yml"
    import yaml
    spec.write_text(yaml.safe_dump(churn_spec({"kind": "csv", "path": str(src / "events-*.csv")})))
    assert cli("init", tmp_path / "ws", "--spec", spec).returncode == 0
    r = cli("run", "ingest", "-w", tmp_path / "ws", "-q")
    assert r.returncode == 1 and "DataError" in r.stderr and "events-2024-01-01.csv: empty file" in r.stderr


def test_sigkill_while_writing_a_snapshot_leaves_no_partial_snapshot(tmp_path):
    s = simulate(1, "none", seed=6, rows_per_day=400_000)
    src = tmp_path / "big.csv"
    s.events.to_csv(src, index=False)
    ws = init_workspace(tmp_path / "ws", {**churn_spec({"kind": "csv", "path": str(src)}), "source": {"kind": "csv", "path": str(src), "chunk_rows": 20_000}})
    code = f"from mlpuzzle.data.store import ingest; ingest({str(ws.path)!r}, profile=False)"
    p = subprocess.Popen([sys.executable, "-c", code])
    snaps = ws.path / "snapshots"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(d.name.startswith(".tmp-") and (d / "data.parquet").exists() for d in snaps.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    assert p.poll() is None, "the ingest finished before it could be killed; make the batch bigger"
    p.send_signal(signal.SIGKILL); p.wait(10)
    assert snapshots(ws) == [] and len(load_snapshots(ws)) == 0  # the half-written snapshot is invisible
    [m] = ingest(ws, profile=False)  # and a re-run stores the batch whole
    assert m["status"] == "stored" and m["rows"]["accepted"] == len(s.events)
    assert not any(d.name.startswith(".tmp-") for d in snaps.iterdir())  # leftovers were cleaned


@pytest.mark.parametrize("wait", [False, True])
def test_two_ingests_at_once_store_no_row_twice(sim, tmp_path, reports, wait):
    """The attack run's case: `run ingest` and `run ingest -p since ...` started together. Without wait, one of them
    may be refused, saying another ingestion runs (since when, which pid); with wait, both finish. Either way every id
    is stored once, and no raw OSError reaches the user."""
    s, paths, d = sim
    ws = workspace(tmp_path, "ws", {"kind": "csv", "path": str(d / "csv" / "events-*.csv")})
    env = {**os.environ, "MLPUZZLE_REPORTS": str(reports)}
    extra = ["-p", "wait", "true"] if wait else []
    cmds = [[str(MLPUZZLE), "run", "ingest", "-w", str(ws.path), "-q", *extra],
            [str(MLPUZZLE), "run", "ingest", "-w", str(ws.path), "-q", "-p", "since", "2024-01-05", *extra]]
    ps = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in cmds]
    outs = [p.communicate(timeout=600) for p in ps]
    for p, (out, err) in zip(ps, outs):
        assert "OSError" not in err and "Directory not empty" not in err, err
        assert p.returncode == 0 or (not wait and "another ingestion is running (since" in err), err
    assert sum(p.returncode == 0 for p in ps) == (2 if wait else sum(p.returncode == 0 for p in ps)) >= 1
    assert load_snapshots(ws).customer_id.is_unique
    if not wait:  # the refused one is run again, as its user would, once the other is done
        r = subprocess.run(cmds[0], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
    stored = load_snapshots(ws)
    assert len(stored) == len(s.events) and stored.customer_id.is_unique
