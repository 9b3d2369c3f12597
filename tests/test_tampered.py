"""A version's reference files changed after they were written (issue 33.3): the profile, the baselines and the
performance estimator each have their SHA-256 recorded beside them when written. Monitoring refuses a changed file,
naming it and the way to rebuild it, also for windows whose results are stored (their stored results depend on the
reference's content, not only on its version number); `mlpuzzle run monitor` fails saying it in one line."""
import json

import pandas as pd
import pytest

from mlpuzzle.base.core import StateError
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.monitoring.monitor import monitor
from mlpuzzle.monitoring.reference import baselines_path, reference_path
from mlpuzzle.models.estimate import estimator_path
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.store import ingest
from conftest import serving_champion

START = "2022-03-01"
day = lambda n: pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=n)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    sim = simulate(24, "none", seed=5, start=START, rows_per_day=150)
    ws = init_workspace(tmp_path_factory.mktemp("tampered") / "ws", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events)
    ingest_labels(ws, df=sim.labels)
    v = serving_champion(ws, training_set(ws, until=day(14)), day(14))
    score(ws, since=day(14))
    monitor(ws, since=day(14), until=day(24), deliver_alerts=False, quiet=True)  # every window's result stored
    return ws, v


@pytest.fixture
def tamper(monitored):
    "Change a file of the reference (`tamper(path, new bytes)`), restored after the test."
    saved = {}
    def change(path, data: bytes):
        saved.setdefault(path, path.read_bytes())
        path.write_bytes(data)
    yield change
    for path, data in saved.items(): path.write_bytes(data)


def again(ws):
    return monitor(ws, since=day(14), until=day(24), deliver_alerts=False, quiet=True)


def test_unchanged_files_are_read_from_the_store(monitored):
    ws, v = monitored
    assert len(again(ws).drift)  # the second run judges the same windows, from the stored results


@pytest.mark.parametrize("cut", ["reference", "baselines"])
def test_a_cut_file_is_refused_by_name_though_windows_are_stored(monitored, tamper, cut):
    ws, v = monitored
    path = reference_path(ws, v) if cut == "reference" else baselines_path(ws, v)
    tamper(path, path.read_bytes()[:100])
    with pytest.raises(StateError) as e:
        again(ws)
    assert f"{path} was changed since it was written" in str(e.value) and "mlpuzzle run train" in str(e.value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e308"])
def test_a_baseline_out_of_range_is_refused(monitored, tamper, value):
    ws, v = monitored
    path = baselines_path(ws, v)
    original = path.read_bytes()
    b = json.loads(original)
    text = json.dumps({**b, "rows_per_window": 0.5}).replace("0.5", value, 1)
    tamper(path, text.encode())
    with pytest.raises(StateError, match="was changed since it was written"):
        again(ws)
    path.with_name(path.name + ".sha256").unlink()  # a workspace from before the digests: the shape is checked
    try:
        with pytest.raises(StateError, match="not a number"):
            again(ws)
    finally:
        from mlpuzzle.models.modelfile import record_digest
        path.write_bytes(original); record_digest(path)  # as written: the fixture restores these bytes too


def test_a_changed_estimator_is_named_and_monitoring_goes_on(monitored, tamper, caplog):
    ws, v = monitored
    path = estimator_path(ws, v)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    tamper(path, bytes(data))
    report = again(ws)
    assert len(report.drift)
    assert f"{path} was changed since it was written" in caplog.text, caplog.text[-2000:]


def test_run_monitor_says_which_file_in_one_line(monitored, tamper, cli):
    ws, v = monitored
    path = reference_path(ws, v)
    tamper(path, path.read_bytes()[:100])
    r = cli("run", "monitor", "-w", ws.path, "-p", "since", str(day(14).date()), "-p", "until", str(day(24).date()))
    lines = r.stderr.replace("\r", "\n").splitlines()
    assert r.returncode == 1 and "Traceback" not in r.stderr, (r.returncode, lines[-5:])  # a run that failed
    said = [l for l in lines if "was changed since it was written" in l]
    assert len(said) == 1 and str(path) in said[0] and "mlpuzzle run train" in said[0], lines[-5:]
