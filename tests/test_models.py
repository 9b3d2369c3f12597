"""Models end to end on a real MLflow sqlite store: the lifecycle of the demo business through a concept
drift (train, gate, refuse, roll back, retire), the three problem types, hostile model files, two trains at
once, and reproducible training."""
import json, os, pickle, shutil, subprocess
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest

from conftest import MLPUZZLE
from mlpuzzle.base.schema import METRICS
from mlpuzzle.base.core import ModelError
from mlpuzzle.base.workspace import init_workspace, Workspace
from mlpuzzle.models.model import evaluate, predict_scores, train
from mlpuzzle.models.tracking import experiment_id, mlflow_client, model_card, track
from mlpuzzle.monitoring.windows import business_now
from mlpuzzle.models.registry import (champion, champion_at, history, load_version, promote, propose, recent_labeled, register,
                               version_info, versions)
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.simulator.variants import multiclass_spec, regression_spec, simulate_multiclass, simulate_regression
from mlpuzzle.data.labels import training_set
from mlpuzzle.data.store import ingest
from mlpuzzle.models.estimate import estimator_path
from mlpuzzle.monitoring.reference import load_baselines
from threadpoolctl import threadpool_limits

START = pd.Timestamp("2024-01-01")  # day 0 of the simulation
ONSET = 60  # the day the churn rule flips (concept_drift)


def day(n: int) -> str:
    "The date of day `n` of the simulation, as the train stage's parameters take it."
    return (START + pd.Timedelta(days=n)).strftime("%Y-%m-%d")


def now() -> datetime: return datetime.now(timezone.utc)


def last(ws) -> dict:
    "The latest entry of the promotion history, registrations left out."
    h = history(ws)
    return h[h.action != "register"].iloc[-1].to_dict()


def one_line(r) -> bool: return r.stderr.strip() != "" and len(r.stderr.strip().splitlines()) == 1


def run_train(cli, ws, *params):
    "`mlpuzzle run train -w ws -p NAME VALUE ...`, checked to succeed."
    args = [a for i in range(0, len(params), 2) for a in ("-p", params[i], params[i + 1])]
    r = cli("run", "train", "-w", ws, "-q", *args)
    assert r.returncode == 0, r.stderr
    return r


def register_trained(w, df) -> int:
    "Train on `df` as the train stage does (its last 14 days held out), track and register; return the version."
    fit = df[df["event_time"] < df["event_time"].max() - pd.Timedelta(days=14)]
    r = train(fit, w.spec)
    return register(w, r.model, track(w, r), {"threshold": r.threshold, "beats_baseline": bool(r.beats_baseline),
                                              "test_metrics": r.metrics["test"], "spec_hash": r.spec_hash})


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One OpenMP thread per fit, here and in the commands run: on a 2-core machine the spinning OpenMP threads of
    fits running at once (two trains, or other work) slow each other down 5-100x; results do not depend on it."""
    from threadpoolctl import threadpool_limits
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with threadpool_limits(1): yield


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    """A workspace of 120 simulated days (300 rows a day) whose churn rule flips on day 60, ingested with
    `mlpuzzle run ingest` (events and every label: labels arrive 30 days after their event). Tests copy it."""
    d = tmp_path_factory.mktemp("drifted")
    ws, env = d / "ws", {**os.environ, "MLPUZZLE_REPORTS": str(d / "reports")}
    for args in (["simulate", "-w", ws, "--days", "120", "--scenario", "concept_drift", "--onset", str(ONSET), "--rows-per-day", "300"],
                 ["run", "ingest", "-w", ws, "-q"]):
        r = subprocess.run([str(MLPUZZLE), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
    return ws


@pytest.fixture
def ws(drifted, tmp_path):
    "A copy of the ingested drifted workspace, with no model yet."
    return shutil.copytree(drifted, tmp_path / "ws")


## a. The lifecycle through a concept drift

def test_lifecycle_through_a_concept_drift(cli, ws):
    w = Workspace(ws)
    df = training_set(w)
    assert len(df) == 120 * 300 and df["event_time"].min() >= pd.Timestamp(day(0), tz="UTC")  # every event has its label
    assert len(training_set(w, until=day(55), as_of=day(60))) == 30 * 300  # labels known on day 60: events of days 0-29

    # 1. The first model, trained before the drift, beats the baseline and becomes the champion.
    run_train(cli, ws, "until", day(55), "as_of", day(60))
    assert champion(w) == 1
    v = versions(w).set_index("version")
    assert v.loc[1, "beats_baseline"] and v.loc[1, "test_roc_auc"] > 0.6 and v.loc[1, "status"] == "champion"
    h = last(w)
    assert (h["action"], h["to_version"], h["from_version"]) == ("promote", 1, None) and h["reason"].startswith("first model")

    # 2. A challenger trained after the onset wins the gate on recent post-onset labeled data.
    run_train(cli, ws, "since", day(ONSET + 2), "as_of", day(118))
    h = last(w)
    assert (h["action"], h["from_version"], h["to_version"]) == ("promote", 1, 2), h["reason"]
    m = json.loads(h["metrics"])
    assert m["rows"] > 3000 and m["challenger"]["roc_auc"] > m["champion"]["roc_auc"] + 0.03
    assert champion(w) == 2 and "gain of +" in h["reason"]

    # 3. A challenger trained before the onset only (registered with the Python API), then proposed: the gate
    #    judges it on the most recent labeled data, where the old rule no longer holds, and refuses it.
    assert register_trained(w, training_set(w, until=day(55), as_of=day(118))) == 3
    assert champion(w) == 2 and last(w)["to_version"] == 2  # registered, not judged
    r = cli("promote", "3", "-w", ws)
    assert r.returncode == 1 and r.stdout.startswith("refused: "), r.stdout + r.stderr
    h = last(w)
    assert (h["action"], h["from_version"], h["to_version"]) == ("refused", 2, 3)
    assert "it must beat the champion" in h["reason"] and h["reason"] in r.stdout
    m = json.loads(h["metrics"])
    assert m["challenger"]["roc_auc"] < m["champion"]["roc_auc"] and champion(w) == 2

    # 4. Roll back: the champion before version 2 is back.
    r = cli("rollback", "-w", ws)
    assert r.returncode == 0 and "version 1 is the champion again (was 2)" in r.stdout, r.stderr
    h = last(w)
    assert (h["action"], h["from_version"], h["to_version"]) == ("rollback", 2, 1) and champion(w) == 1

    # 5. A retired version cannot be promoted, through the gate or by force; nothing is recorded for the refusals.
    assert cli("retire", "2", "-w", ws).returncode == 0
    assert versions(w).set_index("version").loc[2, "status"] == "retired"
    n = len(history(w))
    r = cli("promote", "2", "-w", ws)
    assert r.returncode != 0 and one_line(r) and "version 2 is retired" in r.stderr and "Traceback" not in r.stderr, r.stderr
    with pytest.raises(ModelError, match="retired"): promote(w, 2)  # what `promote --force` calls
    assert champion(w) == 1 and len(history(w)) == n and last(w)["action"] == "retire"

    # champion_at answers in business time. The workspace holds 2024's history: the train runs' promotions count
    # from their as_of (days 60 and 118), the commands' from the data's now (the end of day 119), not the clock's.
    end, replayed = business_now(w)
    assert replayed and end == pd.Timestamp(day(120), tz="UTC")
    second = pd.Timedelta(seconds=1)
    want = {day(60): 1, day(118): 2, end - second: 2, end: 1}
    assert champion_at(w, pd.Timestamp(day(60), tz="UTC") - second) is None
    assert {k: champion_at(w, k) for k in want} == want
    assert champion_at(w, pd.Timestamp(day(118))) == 2  # a naive time is UTC
    moves = history(w).query("action in ['promote', 'rollback', 'refused', 'retire']")
    assert moves.to_version.tolist() == [1, 2, 3, 1, 2] and moves.as_of.iloc[2:].eq(end.isoformat()).all()


def test_a_stale_challenger_from_the_train_stage_is_judged_on_recent_data(cli, ws):
    """A challenger trained on pre-onset data only (`-p until` before the onset) must not replace a champion
    that learnt the new rule: on the recent labeled data it is worse. The train stage must judge it there."""
    w = Workspace(ws)
    assert register_trained(w, training_set(w, since=day(ONSET + 2), as_of=day(118))) == 1
    assert propose(w, 1, recent_labeled(w, 14, as_of=day(118))).promote and champion(w) == 1
    run_train(cli, ws, "until", day(55), "as_of", day(118))  # the gate runs (promote defaults to true)
    recent = recent_labeled(w, 14, as_of=day(118))
    assert recent["event_time"].min() > pd.Timestamp(day(ONSET), tz="UTC")
    (m1, _), (m2, _) = load_version(w, 1), load_version(w, 2)
    auc1, auc2 = evaluate(m1, recent, w.spec)["roc_auc"], evaluate(m2, recent, w.spec)["roc_auc"]
    assert auc2 < auc1 - 0.02  # the expectation holds: on recent data the stale model is clearly worse
    h = last(w)
    assert (h["action"], champion(w)) == ("refused", 1), f"the stale version 2 was {h['action']}d: {h['reason']}"
    # refused, it never serves: the baselines only a serving version needs were not learned (seconds of a training)
    b = load_baselines(w, 2)
    assert b["deferred"] and b["rows_per_window"] and "relations" not in b and not estimator_path(w, 2).exists(), b
    r = cli("promote", "2", "--force", "-w", ws)  # promoted by hand all the same: the command says what it lacks
    assert r.returncode == 0 and "learned no segment or relation baselines and no performance estimator" in r.stdout, r.stdout


## b. The three problem types

def churn_rows(n: int, seed: int) -> pd.DataFrame:
    "`n` events of the demo churn business (300 a day) with their target, as one batch."
    return simulate(n // 300, seed=seed, rows_per_day=300).labelled().drop(columns="label_time")


@pytest.mark.parametrize("spec_of, sample, n_classes", [(churn_spec, churn_rows, 2), (multiclass_spec, simulate_multiclass, 4),
                                                          (regression_spec, simulate_regression, None)],
                         ids=["binary", "multiclass", "regression"])
def test_each_problem_type_trains_evaluates_and_registers(tmp_path, spec_of, sample, n_classes):
    w = init_workspace(tmp_path / "ws", spec_of({"kind": "dataframe"}))
    spec, target = w.spec, w.spec["columns"]["target"]
    data = sample(1500, seed=1)
    assert ingest(w, df=data, profile=False)[0]["rows"]["accepted"] == 1500
    df = training_set(w)  # no label batches: the target comes with the events
    assert len(df) == 1500 and (df.set_index("customer_id")[target] == data.set_index("customer_id")[target]).all()

    r = train(df, spec)
    metric = spec["promotion"]["metric"]
    assert metric in METRICS[spec["problem"]] and r.beats_baseline, r.metrics
    assert {s: r.data[s]["rows"] for s in ("train", "valid", "test")} == {"train": 1050, "valid": 225, "test": 225}
    assert r.data["train"]["to"] <= r.data["test"]["from"]  # split by time
    if n_classes: assert len(r.model.classes_) == n_classes
    run = track(w, r, snapshot_ids=["s"])
    assert mlflow_client(w).get_run(run).data.metrics[f"test_{metric}"] == pytest.approx(r.metrics["test"][metric])
    v = register(w, r.model, run, {"threshold": r.threshold, "beats_baseline": bool(r.beats_baseline),
                                   "test_metrics": r.metrics["test"], "spec_hash": r.spec_hash})
    d = propose(w, v, recent_labeled(w))
    assert v == 1 and d.promote and d.reason.startswith("first model")
    row = versions(w).iloc[0]
    assert (row.version, row.status, row.aliases) == (1, "champion", "champion")
    assert row[f"test_{metric}"] == pytest.approx(r.metrics["test"][metric]) and bool(row.beats_baseline)
    loaded, info = load_version(w)
    assert info["version"] == 1 and np.array_equal(predict_scores(loaded, df, spec), predict_scores(r.model, df, spec))
    card = model_card(r, version=v)
    assert f"Model card: {spec['name']} version 1" in card and f"{metric} (gate)" in card


## c. Model files that run code are refused

class _Touch:
    "Unpickling it opens (creates) a file."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (self.path, "w"))


def _pickle_bomb(path, marker):
    path.write_bytes(pickle.dumps(_Touch(str(marker))))


def _skops_gadget(path, marker):
    """A skops file built only of types under the trusted module prefixes (sklearn., numpy.) whose pipeline
    executes a string when it predicts: numpy.full_like makes the string, numpy.testing's runstring execs it."""
    import skops.io as sio
    from numpy.testing._private.utils import runstring
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    m = Pipeline([("a", FunctionTransformer()), ("b", FunctionTransformer()), ("model", DummyClassifier())]).fit(np.zeros((4, 1)), [0, 1, 0, 1])
    m.steps[0][1].set_params(func=np.full_like, kw_args={"fill_value": f"open({str(marker)!r}, 'w')", "dtype": "U300", "shape": (1,)})
    m.steps[1][1].set_params(func=np.vectorize(runstring, excluded={"dict"}), kw_args={"dict": {}})
    sio.dump(m, path)


def _memmap_gadget(path, marker):
    """The attack run's file: a valid model whose schema gained a numpy.memmap named through scikit-learn's
    re-export (sklearn.externals.array_api_compat.numpy), built by skops with arguments from the file: it creates
    (or overwrites) `marker` when the file is loaded."""
    import skops.io as sio, zipfile
    with zipfile.ZipFile(path) as z: files = {n: z.read(n) for n in z.namelist()}
    sio.dump((str(marker), "uint8", "w+", 0, (1,)), path.with_suffix(".args"))
    with zipfile.ZipFile(path.with_suffix(".args")) as z: args = json.loads(z.read("schema.json"))
    path.with_suffix(".args").unlink()
    schema = json.loads(files["schema.json"])
    schema["content"]["content"]["memory"] = {"__class__": "memmap", "__module__": "sklearn.externals.array_api_compat.numpy",
                                              "__loader__": "ConstructorFromReduceNode", "content": args}
    with zipfile.ZipFile(path, "w") as z:
        for n, b in {**files, "schema.json": json.dumps(schema).encode()}.items(): z.writestr(n, b)


def _changed_byte(path, marker):
    "One byte of a stored array changed: still a valid skops file of trusted types, but not the registered one."
    import zipfile
    with zipfile.ZipFile(path) as z: files = {n: z.read(n) for n in z.namelist()}
    name = next(n for n in files if n.endswith(".npy"))
    files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    with zipfile.ZipFile(path, "w") as z:
        for n, b in files.items(): z.writestr(n, b)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    "A workspace of 1500 churn rows with one model registered twice, version 1 the champion. Tests copy it."
    d = tmp_path_factory.mktemp("two-versions") / "ws"
    w = init_workspace(d, churn_spec({"kind": "dataframe"}))
    ingest(w, df=churn_rows(1500, seed=2), profile=False)
    df = training_set(w)
    with threadpool_limits(1): r = train(df, w.spec)
    info = {"threshold": r.threshold, "beats_baseline": bool(r.beats_baseline), "test_metrics": r.metrics["test"]}
    for v in (1, 2): assert register(w, r.model, track(w, r), info) == v
    assert propose(w, 1, recent_labeled(w)).promote
    return d


@pytest.mark.parametrize("plant", [_pickle_bomb, _skops_gadget, _memmap_gadget, _changed_byte],
                         ids=["pickle", "skops-gadget", "memmap", "changed-byte"])
def test_a_model_file_that_runs_code_is_refused(cli, tmp_path, plant, two_versions):
    w = Workspace(shutil.copytree(two_versions, tmp_path / "ws"))  # each test plants into its own copy
    src = unquote(urlparse(version_info(w, 2)["source"]).path)
    artifact, marker = os.path.join(src, "model.skops"), tmp_path / "code-ran"
    assert os.path.isfile(artifact) and Path(artifact).is_relative_to(tmp_path / "ws")  # the copy's, not the fixture's
    plant(Path(artifact), marker)
    n = len(history(w))

    r = cli("promote", "2", "-w", tmp_path / "ws")  # the gate loads the challenger
    assert not marker.exists(), "the model file ran code during `mlpuzzle promote`"
    assert r.returncode == 2 and one_line(r) and "refusing to load" in r.stderr, r.stderr
    assert f"model version 2 of {w.spec['name']}" in r.stderr and "recorded at registration" in r.stderr, r.stderr
    assert champion(w) == 1 and len(history(w)) == n
    with pytest.raises(ModelError, match="refusing to load"): load_version(w, 2)
    assert not marker.exists()
    assert load_version(w, 1)[1]["version"] == 1  # the other versions still load


def test_a_foreign_type_is_refused_even_with_its_digest_recorded(tmp_path):
    """Defence in depth: an attacker who can also rewrite MLflow's tag and append to the history (so the digest
    matches) still meets the type check: the memmap is named and never built, in `load_version`, `run score`
    and the service's start."""
    import sqlite3
    from mlpuzzle.models.modelfile import file_digest
    w = init_workspace(tmp_path / "ws", churn_spec({"kind": "dataframe"}))
    ingest(w, df=churn_rows(1500, seed=2), profile=False)
    r = train(training_set(w), w.spec)
    v = register(w, r.model, track(w, r), {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]})
    artifact, marker = Path(unquote(urlparse(version_info(w, v)["source"]).path)) / "model.skops", tmp_path / "created"
    _memmap_gadget(artifact, marker)
    digest = file_digest(artifact)
    mlflow_client(w).set_model_version_tag(w.spec["name"], str(v), "artifact_sha256", json.dumps(digest))
    with sqlite3.connect(w.dir("mlflow") / "history.db") as con:
        con.execute("INSERT INTO history (time, action, to_version, reason, metrics, trigger) VALUES (?, 'register', ?, 'forged', ?, 'manual')",
                    (now().isoformat(), v, json.dumps({"sha256": digest, "types": []})))
    with pytest.raises(ModelError, match=f"model version {v} of .* holds types mlpuzzle does not load: sklearn.externals.array_api_compat.numpy.memmap"):
        load_version(w, v)
    assert not marker.exists()


def test_an_estimator_holding_unknown_types_is_refused_at_registration_unless_trusted(tmp_path):
    "A fitted model holding a type outside the exact list is refused when registered (naming it), not when served."
    from mlpuzzle.models.modelfile import type_name
    from sklearn.feature_selection import SelectKBest
    from sklearn.pipeline import Pipeline
    w = init_workspace(tmp_path / "ws", churn_spec({"kind": "dataframe"}))
    ingest(w, df=churn_rows(1500, seed=2), profile=False)
    r = train(training_set(w), w.spec)
    odd = Pipeline([*r.model.steps[:-1], ("pick", SelectKBest(k="all")), r.model.steps[-1]]).fit(
        training_set(w)[list(w.spec["features"])], training_set(w)[w.spec["columns"]["target"]].astype(int))
    info = {"threshold": 0.5, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    with pytest.raises(ModelError, match="holds types mlpuzzle does not load: sklearn.feature_selection._univariate_selection.SelectKBest"):
        register(w, odd, track(w, r), info)
    assert versions(w).empty
    spec = {**w.spec, "model": {**w.spec["model"], "trusted_types": [type_name(SelectKBest), "sklearn.feature_selection._univariate_selection.f_classif"]}}
    w2 = init_workspace(tmp_path / "ws", spec, force=True)
    v = register(w2, odd, track(w2, r), info)
    assert load_version(w2, v)[1]["artifact_types"] == sorted(load_version(w2, v)[1]["artifact_types"])


## d. Two trains at once

@pytest.mark.parametrize("store", ["fresh", "existing"])
def test_two_trains_at_once_keep_the_registry_consistent(ws, reports, store):
    """Both runs finish; the registry has two new versions, one champion and a well-formed history.
    fresh: the MLflow store does not exist yet (both create it); existing: it was created before."""
    w = Workspace(ws)
    if store == "existing": experiment_id(w)
    assert (ws / "mlflow" / "mlflow.db").exists() == (store == "existing")
    cmd = [str(MLPUZZLE), "run", "train", "-w", str(ws), "-q", "-p", "until", day(55), "-p", "as_of", day(60)]
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=400) for p in ps]
    for p, (out, err) in zip(ps, outs):
        assert "database is locked" not in err
        assert p.returncode == 0, err
    vs = versions(w)
    assert vs.version.tolist() == [1, 2] and vs.aliases.str.split(",").explode().eq("champion").sum() == 1
    assert str(mlflow_client(w).get_registered_model(w.spec["name"]).aliases["champion"]) == str(champion(w))
    h, registered = history(w), history(w).query("action == 'register'")
    assert sorted(registered.to_version) == [1, 2] and registered.metrics.map(lambda m: len(json.loads(m)["sha256"])).eq(64).all()
    h = h[h.action != "register"]
    assert len(h) == 2 and h.action.isin(["promote", "refused"]).all() and h.action.iloc[0] == "promote"
    assert h.trigger.eq("manual").all() and h.reason.str.len().gt(0).all() and pd.to_datetime(h.time, utc=True).is_monotonic_increasing
    prev = None
    for e in h[h.action == "promote"].itertuples():
        assert (None if pd.isna(e.from_version) else int(e.from_version)) == prev and e.to_version in (1, 2)
        prev = int(e.to_version)
    assert champion(w) == prev and set(h.to_version) == {1, 2}


## e. Reproducible training through the stage

def test_two_trains_of_the_same_data_predict_identically(cli, ws):
    for _ in range(2): run_train(cli, ws, "until", day(55), "as_of", day(60), "promote", "false")
    w = Workspace(ws)
    (m1, i1), (m2, i2) = load_version(w, 1), load_version(w, 2)
    assert i1["run_id"] != i2["run_id"] and i1["source"] != i2["source"] and i1["spec_hash"] == i2["spec_hash"]
    rows = training_set(w, since=day(20), until=day(40))[list(w.spec["features"])]
    p1, p2 = m1.predict_proba(rows), m2.predict_proba(rows)
    assert len(rows) > 5000 and np.array_equal(p1, p2) and i1["threshold"] == i2["threshold"]
    assert i1["test_metrics"] == i2["test_metrics"] and champion(w) is None  # promote false: the gate did not run


def test_a_copied_workspace_writes_only_into_itself(ws, tmp_path):
    """Issue 18: MLflow kept absolute artifact locations, so training in a `cp -a` copy wrote into the original.
    The copy's store is re-pointed at its own artifacts when first opened: the original stays byte for byte as it
    was, and the copy's models (old and new) load after the original is gone."""
    def tree(d: Path) -> dict:
        return {str(p.relative_to(d)): (p.stat().st_mtime_ns, p.read_bytes()) for p in d.rglob("*") if p.is_file()}
    orig = Workspace(ws)
    data = training_set(orig)
    v1 = register_trained(orig, data)
    before = tree(orig.path)
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(orig.path), str(copy)], check=True)
    c = Workspace(copy)
    v2 = register_trained(c, data[data["event_time"] < data["event_time"].max() - pd.Timedelta(days=7)])
    assert (v1, v2) == (1, 2)
    assert tree(orig.path) == before  # nothing written into the original
    assert all(unquote(urlparse(version_info(c, v)["source"]).path).startswith(str(copy)) for v in (v1, v2))
    shutil.rmtree(orig.path)
    for v in (v1, v2): assert load_version(c, v) is not None
