"""Segment monitoring on simulated churn data dated 2019: a segment's concept drift is found and named, a stable model
raises no segment finding, and a segment's covariate shift moves its prediction balance."""
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from mlpuzzle.base.spec import validate_spec
from mlpuzzle.monitoring.performance import below_floor
from mlpuzzle.monitoring.segments import pooled_segment_tables, segment_baselines, segment_columns
from mlpuzzle.simulator.simulate import CHURN_RULE, CONTRACTS, draw_churn, draw_customers

RULE = {**{k: 2.5 * v for k, v in CHURN_RULE.items()}, "intercept": -1.0}  # a sharper rule: test ROC AUC about 0.91
CATS = ["plan", "region", "channel", "device"]
SPEC = validate_spec({"name": "churn", "problem": "binary", "source": {"kind": "dataframe"},
                      "columns": {"target": "churned"}, "features": CONTRACTS}, check_imports=False)


def _x(df):
    return df[list(CONTRACTS)].astype({c: "category" for c in CATS})


@pytest.fixture(scope="module")
def trained():
    "A model trained on 2019's customers, its reference (held-out rows) and the segments' baselines."
    rng = np.random.default_rng(0)
    train = draw_customers(rng, 20000)
    model = HistGradientBoostingClassifier(max_iter=100, categorical_features="from_dtype", random_state=0)
    model.fit(_x(train), draw_churn(rng, train, RULE))
    ref = draw_customers(rng, 10000)
    y, p = draw_churn(rng, ref, RULE), model.predict_proba(_x(ref))[:, 1]
    threshold = float(np.quantile(p, 0.8))
    segs = segment_columns(SPEC, ref)
    return model, segs, segment_baselines(ref, y, p, SPEC, segs, threshold), threshold, roc_auc_score(y, p)


def windows(model, n: int, stable: int, changed: int, seed: int, drift=None, shift=None):
    """`stable` then `changed` daily windows of `n` rows from 2019-06-01: from the onset, 70% of `drift`'s outcomes are a
    coin flip at the churn rate (concept drift there only), or `shift`'s customers have a quarter of their tenure."""
    rng, out = np.random.default_rng(seed), []
    for t in range(stable + changed):
        df = draw_customers(rng, n)
        if shift and t >= stable: df.loc[df[shift[0]] == shift[1], "tenure_days"] //= 4
        y = draw_churn(rng, df, RULE)
        if drift and t >= stable:
            hit = (df[drift[0]] == drift[1]).to_numpy() & (rng.random(n) < 0.7)
            y[hit] = rng.random(hit.sum()) < y.mean()
        key = (pd.Timestamp("2019-06-01") + pd.Timedelta(days=t)).strftime("%Y-%m-%d")
        out.append((key, df, y, model.predict_proba(_x(df))[:, 1]))
    return out


def failed(table):
    return table[table.status == "failed"]


@pytest.mark.parametrize("n", [1000, 10000])
def test_a_segments_concept_drift_is_found_and_named_and_nothing_else(trained, n):
    model, segs, base, threshold, test_auc = trained
    wins = windows(model, n, 30, 20, seed=n, drift=("region", "west"))
    table = pooled_segment_tables(wins, SPEC, segs, base, threshold)
    keys = [k for k, *_ in wins]
    # the population's realized AUC stays above its floor (test AUC - 0.05) beyond its noise: today's check is silent
    perf = pd.DataFrame([{"value": roc_auc_score(y, p), "floor": test_auc - 0.05, "se": 0.0} for _, _, y, p in wins])
    perf["se"] = 0.2 / np.sqrt(n)  # generous: Hanley-McNeil's at these sizes is below it
    assert not below_floor(perf, "roc_auc", "binary").any()
    found = failed(table)
    first = found[found.subject == "region=west"].window.min()
    assert keys.index(first) - 30 <= 2, found
    assert (found.window.map(keys.index) >= 30).all(), found  # no finding over the 30 stable windows
    assert set(found.subject) == {"region=west"} and set(found.signal) == {"performance"}, found
    assert found.message.str.match(r"region=west \(\d+\.\d% of rows.*\): ROC AUC 0\.\d\d against 0\.\d\d on the rest; "
                                   r"its reference 0\.9\d").all()


def test_a_segments_covariate_shift_moves_its_prediction_balance(trained):
    model, segs, base, threshold, _ = trained
    table = pooled_segment_tables(windows(model, 1000, 10, 5, seed=7, shift=("device", "tablet")), SPEC, segs, base,
                                  threshold)
    found = failed(table)
    balance = found[(found.signal == "balance") & (found.subject == "device=tablet")]
    assert len(balance) >= 3 and balance.window.min() <= "2019-06-12" and set(found.subject) == {"device=tablet"}, found
    assert balance.message.str.contains("positive decisions [0-9.]+% against").all()


def test_at_100_rows_a_window_only_pooling_finds_it(trained):
    "A 10% segment has about 10 labels a window: pooled over about five windows, it is judged, and found."
    model, segs, base, threshold, _ = trained
    table = pooled_segment_tables(windows(model, 100, 30, 30, seed=3, drift=("region", "west")), SPEC, segs, base,
                                  threshold)
    west = table[(table.subject == "region=west") & (table.signal == "performance")]
    assert (west.windows[west.status != "too few"] > 1).all() and (west.status == "too few").sum() > 30
    found = failed(table)
    perf = found[found.signal == "performance"]
    assert set(perf.subject) == {"region=west"} and perf.window.min() >= "2019-07-01" and len(perf) >= 2, found
    assert perf.message.str.contains("windows pooled").all()
    assert len(found) - len(perf) <= 1, found  # the balance of a segment of ~60 rows: 1 false finding in 60 windows


def test_about_alpha_of_the_stable_windows_have_a_finding(trained):
    model, segs, base, threshold, _ = trained
    table = pooled_segment_tables(windows(model, 1000, 100, 0, seed=11), SPEC, segs, base, threshold)
    judged = table[table.status.isin(["ok", "failed"])]
    assert len(judged) > 100 * 30
    found = failed(table)  # Holm holds each window's chance of any false finding at alpha (1%): 2 in 200 measured
    assert len(found) <= 3 and set(found.signal) <= {"balance"}, found
    assert found.window.nunique() == len(found)
