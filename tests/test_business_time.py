"""Someone else's history: eight months of the demo business dated 2019, replayed from the data's own time.
Monitoring's now is the data's (no window, alert or table beyond it), each window is judged against the model
that served it (a promotion halfway leaves the earlier windows' results as they were), a reference that is
already 10% null raises no null-rate alert, and the dashboard shows the champion periods in 2019."""
import re

import numpy as np
import pandas as pd
import pytest

from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.monitoring.alerts import alerts
from mlpuzzle.monitoring.monitor import monitor, window_results
from mlpuzzle.monitoring.windows import business_now, known_windows
from mlpuzzle.models.registry import champion_at, history
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.store import ingest
from mlpuzzle.app.dashboard import build_dashboard, reference_changes
from test_demo import browse, needs_browser
from conftest import serving_champion

START, DAYS, ONSET, HALF = "2019-01-01", 240, 150, 120
day = lambda n: pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=n)
key = lambda n: f"{day(n):%Y-%m-%dT%H%M%S}"


def _champion(ws, since, until, as_of):
    "Train on the labeled events of [since, until), serving from business time `as_of`."
    return serving_champion(ws, training_set(ws, since=day(since), until=day(until)), as_of)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    "2019-01-01 to 2019-08-29, a covariate shift from day 150; `monthly_fee` 10% null throughout (the reference too)."
    sim = simulate(DAYS, "covariate_drift", seed=5, start=START, rows_per_day=160, onset=ONSET)
    ev = sim.events.copy()
    ev.loc[np.random.default_rng(0).random(len(ev)) < 0.1, "monthly_fee"] = np.nan
    ws = init_workspace(tmp_path_factory.mktemp("history") / "ws", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=ev)
    ingest_labels(ws, df=sim.labels)
    v1 = _champion(ws, 0, 60, day(60))
    score(ws)
    return ws, v1


def test_replayed_history_runs_at_the_datas_time(replayed):
    ws, v1 = replayed
    now, is_history = business_now(ws)
    assert is_history and now == day(DAYS)  # the end of the data's last window, not the clock's
    rep = monitor(ws, deliver_alerts=False, quiet=True)
    assert rep.replayed and "replayed history" in rep.time_note and "(replayed history)" in rep.summary()
    assert rep.windows.window.min() == key(0) and rep.windows.window.max() == key(DAYS - 1)  # nothing beyond the data
    log = alerts(ws)
    assert not (log.kind == "no_data").any(), log  # the day after the data is not "no data"
    assert (log.opened_window.max() or "") <= key(DAYS - 1)
    assert not (log.kind == "null_rate").any(), log[log.kind == "null_rate"]  # 10% null, as in the reference
    drift_alerts = log[log.kind == "drift"]
    assert len(drift_alerts) == 1, drift_alerts  # one incident, one alert
    a = drift_alerts.iloc[0]
    assert key(ONSET) <= a.opened_window <= key(ONSET + 2) and a.windows >= 60 and a.last_window == key(DAYS - 1)


def test_a_promotion_halfway_leaves_earlier_windows_as_they_were(replayed):
    ws, v1 = replayed
    before = monitor(ws, as_of=day(HALF), deliver_alerts=False, quiet=True).drift
    assert len(before) and set(before.window) <= {key(n) for n in range(HALF)}
    v2 = _champion(ws, HALF - 60, HALF, day(HALF))  # promoted from business time day 120
    assert champion_at(ws, day(HALF - 1)) == v1 and champion_at(ws, day(HALF)) == v2
    after = monitor(ws, as_of=day(DAYS), deliver_alerts=False, quiet=True)
    early = after.drift[after.drift.window < key(HALF)].reset_index(drop=True)
    cols = ["window", "column", "distance", "status"]
    pd.testing.assert_frame_equal(early[cols], before[cols].reset_index(drop=True))  # history is not rewritten
    refs = after.windows.set_index("window").reference
    assert (refs[refs.index < key(HALF)] == v1).all() and (refs[refs.index >= key(HALF)] == v2).all()
    # the test can fail: judged against the new champion, the earlier windows' distances do change
    other = window_results(ws, [key(n) for n in range(10)], v2)
    assert any(not np.allclose(d.distance, early[early.window == k].distance) for k, (d, _) in other.items())


def test_the_dashboard_shows_2019(replayed, tmp_path):
    ws, _ = replayed
    monitor(ws, deliver_alerts=False, quiet=True)
    page = build_dashboard(ws, tmp_path / "reports")
    text = page.read_text()
    keys = re.findall(r"\b(\d{4}-\d{2}-\d{2})T\d{6}\b", text)
    assert keys and all("2019-01-01" <= k <= f"{day(DAYS):%Y-%m-%d}" for k in keys), sorted(set(keys))[-5:]
    changes = reference_changes(history(ws))
    assert changes and all(pd.Timestamp(START) <= t <= day(DAYS).tz_localize(None) for t, _ in changes)
    assert set(known_windows(ws)) <= {key(n) for n in range(DAYS)}


@needs_browser
def test_the_replayed_dashboard_in_chromium(replayed, tmp_path):
    ws, _ = replayed
    page = build_dashboard(ws, tmp_path / "reports")
    dom, console = browse(page.as_uri(), tmp_path, screenshot=tmp_path / "replay.png")
    assert not console, console
    assert 'id="timeline"' in dom and dom.count("data:image/png;base64,") >= 2  # the timeline and the trends
    assert "business time" in dom and "2019-" in dom and (tmp_path / "replay.png").stat().st_size > 10_000
