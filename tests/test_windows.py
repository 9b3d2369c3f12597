"""Windows other than a day, on history dated 2020. Hourly: about 10 rows an hour (the expected rows learned
from the reference period), a 6-hour outage is one `no_data` alert of 6 windows, and no other alert. Weekly:
700 rows a window, a covariate shift found within 2 windows, and nothing before it."""
import pandas as pd
import pytest

from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.monitoring.alerts import alerts
from mlpuzzle.monitoring.monitor import monitor
from mlpuzzle.monitoring.windows import known_windows
from mlpuzzle.monitoring.reference import load_baselines
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.store import ingest
from conftest import serving_champion

START = "2020-02-03"
day = lambda n: pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=n)


def _workspace(root, window: str, sim, events: pd.DataFrame, train_days: int):
    "A workspace of `window`s holding `events`, its champion trained on the first `train_days` days and promoted then."
    spec = churn_spec({"kind": "dataframe"})
    spec["monitoring"]["window"] = window
    ws = init_workspace(root / "ws", spec)
    ingest(ws, df=events)
    ingest_labels(ws, df=sim.labels)
    v = serving_champion(ws, training_set(ws, until=day(train_days)), day(train_days))
    score(ws, since=day(train_days))
    return ws, v


@pytest.fixture(scope="module")
def hourly(tmp_path_factory):
    "14 days at 240 rows a day (10 an hour); production from day 10, no rows from 02:00 to 08:00 on day 12."
    sim = simulate(14, "none", seed=2, start=START, rows_per_day=240)
    t = sim.events.event_time
    out = (t >= day(12).tz_localize(None) + pd.Timedelta(hours=2)) & (t < day(12).tz_localize(None) + pd.Timedelta(hours=8))
    ws, v = _workspace(tmp_path_factory.mktemp("hourly"), "1h", sim, sim.events[~out], 10)
    rep = monitor(ws, since=day(10), deliver_alerts=False, quiet=True)
    return ws, v, rep


def test_hourly_windows_are_hours_of_the_data(hourly):
    ws, v, rep = hourly
    keys = known_windows(ws)
    assert keys[0] == "2020-02-03T000000" and keys[1] == "2020-02-03T010000", keys[:2]
    assert len(rep.windows) == 4 * 24 and rep.replayed, (len(rep.windows), rep.time_note)  # days 10-13, not up to the clock
    assert 8 <= load_baselines(ws, v)["rows_per_window"] <= 12


def test_an_outage_is_one_no_data_alert(hourly):
    ws, v, rep = hourly
    log = alerts(ws)
    nd = log[log.kind == "no_data"]
    assert len(nd) == 1, nd[["opened_window", "last_window", "windows", "message"]]
    a = nd.iloc[0]
    assert (a.opened_window, a.last_window, a.windows) == ("2020-02-15T020000", "2020-02-15T070000", 6), a
    assert a.state == "resolved", a.state
    assert not log.kind.isin(["drift", "null_rate", "quarantine_rate", "prediction_balance"]).any(), log[["kind", "opened_window", "message"]]


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    "140 days at 100 rows a day (700 a week), a covariate shift from day 105; production from day 70."
    sim = simulate(140, "covariate_drift", seed=4, start=START, rows_per_day=100, onset=105)
    ws, v = _workspace(tmp_path_factory.mktemp("weekly"), "7d", sim, sim.events, 70)
    rep = monitor(ws, since=day(70), deliver_alerts=False, quiet=True)
    return ws, v, rep


def test_weekly_windows_find_the_shift_within_two_windows(weekly):
    ws, v, rep = weekly
    starts = pd.to_datetime(rep.windows.window, format="%Y-%m-%dT%H%M%S", utc=True)
    assert (starts.diff().dropna() == pd.Timedelta(days=7)).all()
    assert 600 <= load_baselines(ws, v)["rows_per_window"] <= 800
    log = alerts(ws)
    assert list(log.kind) == ["drift"], log[["kind", "opened_window", "message"]]
    opened = pd.Timestamp(log.iloc[0].opened_window, tz="UTC")
    assert day(105) - pd.Timedelta(days=7) < opened <= day(105) + pd.Timedelta(days=7), opened  # its window holds the onset, or the next
