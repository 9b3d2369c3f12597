"""Relation drift (`mlpuzzle.monitoring.multivariate`) on history-like data: the demo business's events with 10% of
`monthly_fee` null and the region `west` on 1% of the rows (as bench/scenarios.py makes them), ids and times left out.
The reference is 20 days of 200 events; then 30 stable days, and the change from day 50 on in windows of 200 rows:
- stable windows stay quiet;
- `logins_30d` shuffled within each window (a misaligned join) is found within 2 windows, and named first or second
  (its partner `usage_hours` loses the same relation);
- `logins_30d` mirrored by rank within each window (its relation to `usage_hours` flips sign; its values do not
  change) is found within 2 windows, both named.
The fitted relations also go through JSON, as monitoring stores them."""
import json

import numpy as np
import pandas as pd
import pytest

from mlpuzzle.monitoring.multivariate import Relations, fit_relations, relation_drift
from mlpuzzle.simulator.simulate import churn_spec, simulate

ROWS, REFERENCE_DAYS, STABLE_DAYS, CHANGED_DAYS = 200, 20, 30, 10


def _untidy(events: pd.DataFrame, rng) -> pd.DataFrame:
    "`events` with `monthly_fee` 10% null and `west` kept on 1 in 10 of its rows (about 1% of all)."
    e = events.copy()
    e.loc[rng.random(len(e)) < 0.1, "monthly_fee"] = None
    e.loc[(e.region == "west").to_numpy() & (rng.random(len(e)) >= 0.1), "region"] = "north"
    return e


@pytest.fixture(scope="module")
def history():
    "(features by kind, reference, [stable windows], [windows to change]) of the demo business."
    kinds = {c: f["type"] for c, f in churn_spec({"kind": "dataframe"})["features"].items()}
    numeric = [c for c, t in kinds.items() if t == "numeric"]
    categorical = [c for c, t in kinds.items() if t in ("categorical", "boolean")]
    sim = simulate(REFERENCE_DAYS + STABLE_DAYS + CHANGED_DAYS, "none", seed=3, rows_per_day=ROWS)
    events = _untidy(sim.events, np.random.default_rng(0))
    days = [g[numeric + categorical].reset_index(drop=True) for _, g in events.groupby(events.event_time.dt.floor("D"))]
    reference = pd.concat(days[:REFERENCE_DAYS], ignore_index=True)
    return numeric, categorical, reference, days[REFERENCE_DAYS:REFERENCE_DAYS + STABLE_DAYS], days[-CHANGED_DAYS:]


@pytest.fixture(scope="module")
def fitted(history):
    numeric, categorical, reference, _, _ = history
    rel = fit_relations(reference, numeric, categorical, window_rows=ROWS)
    return Relations.from_dict(json.loads(json.dumps(rel.to_dict())))


def _first_found(fitted, windows) -> tuple:
    "(index of the first drifted window, its result), or (None, None)."
    for k, w in enumerate(windows):
        res = relation_drift(fitted, w)
        if res["drifted"]: return k, res
    return None, None


def test_stable_windows_stay_quiet(history, fitted):
    results = [relation_drift(fitted, w) for w in history[3]]
    assert [r["drifted"] for r in results] == [False] * STABLE_DAYS
    assert max(r["statistic"] for r in results) < fitted.threshold
    assert "region=west" not in fitted.columns  # the rare category has no indicator of its own


def test_shuffled_column_found_and_named(history, fitted):
    rng = np.random.default_rng(1)
    shuffled = [w.assign(logins_30d=rng.permutation(w.logins_30d.to_numpy())) for w in history[4]]
    k, res = _first_found(fitted, shuffled)
    assert k is not None and k <= 1
    assert "logins_30d" in res["features"][:2]
    assert {"usage_hours", "logins_30d"} == set(res["pairs"][0][:2])


def _mirrored(w: pd.DataFrame, col: str) -> pd.DataFrame:
    "`w` with `col`'s values mirrored by rank: the smallest where the largest was; the same values, order reversed."
    values = np.sort(w[col].to_numpy())
    ranks = w[col].rank(method="first").to_numpy().astype(int) - 1
    return w.assign(**{col: values[len(values) - 1 - ranks]})


def test_correlation_flip_found(history, fitted):
    k, res = _first_found(fitted, [_mirrored(w, "logins_30d") for w in history[4]])
    assert k is not None and k <= 1
    assert set(res["features"][:2]) == {"usage_hours", "logins_30d"}
    a, b, ref, win = res["pairs"][0]
    assert ref > 0.5 and win < -0.5
