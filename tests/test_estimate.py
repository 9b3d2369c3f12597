"""Performance estimation without labels, end to end on the demo businesses: real models trained as `train` does,
estimators fitted on their held-out rows, windows scored by `predictions_frame`, estimators saved in a workspace."""
import numpy as np
import pandas as pd
import pytest
from sklearn.naive_bayes import GaussianNB

from mlpuzzle.models.calibrate import brier, calibration_spread, choice_spread, ece, fit_calibrator
from mlpuzzle.models.estimate import PerformanceEstimator, binary_estimates, load_estimator, save_estimator
from mlpuzzle.models.model import metrics_of, time_split, train
from mlpuzzle.serving.score import predictions_frame
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.simulator.variants import multiclass_spec, regression_spec, simulate_multiclass, simulate_regression
from mlpuzzle.base.workspace import init_workspace


def fitted(df: pd.DataFrame, spec: dict) -> tuple:
    "(train result, info, estimator fitted on the valid and test rows) of `df`."
    r = train(df, spec, seed=0)
    info = {"version": 1, "threshold": r.threshold}
    _, va, te = time_split(df, r.spec)
    return r, info, PerformanceEstimator().fit(r.model, info, pd.concat([va, te], ignore_index=True), r.spec)


def windows(df: pd.DataFrame, size: int, count: int) -> list[pd.DataFrame]:
    return [df.iloc[i * size:(i + 1) * size].reset_index(drop=True) for i in range(count)]


def covered(rows: list[dict]) -> float:
    return float(np.mean([r["lower"] <= r["realized"] <= r["upper"] for r in rows]))


@pytest.fixture(scope="module")
def churn():
    sim = simulate(60, "none", seed=11, rows_per_day=1000)
    rows = sim.labelled()
    cut = rows.event_time.min().floor("D") + pd.Timedelta(days=30)
    return (*fitted(rows[rows.event_time < cut], churn_spec({"kind": "dataframe"})),
            rows[rows.event_time >= cut].sample(frac=1, random_state=0).reset_index(drop=True))


def test_calibrator_repairs_an_overconfident_naive_bayes():
    "Naive Bayes on five copies of one signal counts the evidence five times: the calibrator must undo it."
    rng = np.random.default_rng(1)
    z = rng.normal(size=30000)
    X = z[:, None] + 0.3 * rng.normal(size=(len(z), 5))
    y = (rng.uniform(size=len(z)) < 1 / (1 + np.exp(-z))).astype(int)
    p = GaussianNB().fit(X[:10000], y[:10000]).predict_proba(X)[:, 1]
    cal = fit_calibrator(y[10000:20000], p[10000:20000], seed=0)
    fresh, q = slice(20000, None), cal.transform(p[20000:])
    assert cal.method_ in ("sigmoid", "isotonic")
    assert ece(y[fresh], p[fresh]) > 0.05 and ece(y[fresh], q) < 0.02
    assert brier(y[fresh], q) < brier(y[fresh], p[fresh]) - 0.005


def test_systematic_error_covers_the_reference_draw():
    """The systematic term is honest: over references drawn afresh from one population, the estimate of an endless
    window (the population's scores) misses the population's ROC AUC by at most 1.96 of it in about 95% of draws."""
    rng = np.random.default_rng(5)
    S = 1 / (1 + np.exp(-rng.normal(-1.3, 1.2, 200_000)))  # calibrated: P(y = 1 | s) = s
    truth = binary_estimates(S, S)["roc_auc"]
    held = []
    for _ in range(16):
        s = S[rng.integers(0, len(S), 5000)]
        y = (rng.uniform(size=len(s)) < s).astype(int)
        cal, f = fit_calibrator(y, s), lambda a, b: binary_estimates(a, b)
        refit, choice = calibration_spread(f, y, s, 20)["roc_auc"], choice_spread(f, cal, s)["roc_auc"]
        held.append(abs(f(S, cal.transform(S))["roc_auc"] - truth) <= 1.96 * np.hypot(refit, choice))
    assert np.mean(held) >= 13 / 16, held


def test_estimates_hold_labels_drawn_from_the_calibrated_probabilities(churn):
    "When the labels follow the calibrated probabilities (what CBPE assumes), the band holds the realized metric."
    r, info, pe, later = churn
    rng, out = np.random.default_rng(2), {"roc_auc": [], "f1": [], "accuracy": [], "value": []}
    for w in windows(later, 600, 50):
        pred = predictions_frame(r.model, info, w, r.spec)
        s = pred["p_1"].to_numpy()
        y = (rng.uniform(size=len(s)) < pe.calibrator_.transform(s)).astype(int)
        real = metrics_of(y, s, r.spec, r.threshold)
        for e in pe.estimates(pred, [m for m in out if m in real]): out[e["metric"]].append({**e, "realized": real[e["metric"]]})
    for metric, rows in out.items():
        if metric == "value" and not rows: continue  # the demo spec gives no business values
        assert covered(rows) >= 0.85, (metric, covered(rows))
    assert np.mean([abs(e["estimate"] - e["realized"]) for e in out["roc_auc"]]) < 0.025


def test_estimates_follow_the_real_labels(churn):
    "On the simulator's own labels (no change), the band holds the realized ROC AUC in most windows."
    r, info, pe, later = churn
    rows = []
    for w in windows(later, 1000, 25):
        pred = predictions_frame(r.model, info, w, r.spec)
        rows.append({**pe.estimate(pred), "realized": metrics_of(w.churned.to_numpy(), pred.p_1.to_numpy(), r.spec, r.threshold)["roc_auc"]})
    assert covered(rows) >= 0.8
    assert np.mean([abs(e["estimate"] - e["realized"]) for e in rows]) < 0.025


def test_multiclass_estimator_saved_and_loaded(tmp_path):
    "Macro F1 of the upgrade model: estimated within the band, and the same after a round trip through a workspace."
    df = simulate_multiclass(24000, seed=3, days=60)
    spec = multiclass_spec({"kind": "dataframe"})
    r, info, pe = fitted(df.iloc[:12000], spec)
    rng, rows = np.random.default_rng(4), []
    for w in windows(df.iloc[12000:], 500, 24):
        pred = predictions_frame(r.model, info, w, r.spec)
        P = pe.scores(pred)
        C = pe.calibrator_.transform(P)
        y = pe.classes_[(rng.uniform(size=(len(C), 1)) > C.cumsum(1)).sum(1).clip(0, len(pe.classes_) - 1)]
        rows.append({**pe.estimate(pred), "realized": metrics_of(y, P, r.spec, classes=pe.classes_)["f1_macro"]})
    assert rows[0]["metric"] == "f1_macro" and covered(rows) >= 0.8
    ws = init_workspace(tmp_path / "ws", spec)
    save_estimator(ws, 1, pe)
    assert load_estimator(ws, 1).estimates(pred) == pe.estimates(pred)


def test_loss_estimation_tracks_heteroscedastic_errors(tmp_path):
    "Revenue's noise is multiplicative: windows of bigger customers have bigger errors, and the estimate follows."
    df = simulate_regression(24000, seed=5, days=60)
    spec = regression_spec({"kind": "dataframe"})
    r, info, pe = fitted(df.iloc[:12000], spec)
    later = df.iloc[12000:].reset_index(drop=True)
    pred = pd.concat([later[list(r.spec["features"])], predictions_frame(r.model, info, later, r.spec)], axis=1)
    order = np.argsort(pred["prediction"].to_numpy())
    est, real = [], []
    for idx in np.array_split(order, 12):  # windows from the smallest predicted revenues to the largest
        est.append(pe.estimate(pred.iloc[idx], "mae"))
        real.append(metrics_of(later.next_month_revenue.to_numpy()[idx], pred.prediction.to_numpy()[idx], r.spec)["mae"])
    e, real = np.array([x["estimate"] for x in est]), np.array(real)
    assert real[-1] > 2 * real[0]  # the data is heteroscedastic
    assert np.corrcoef(e, real)[0, 1] > 0.95
    assert np.mean(np.abs(e - real) / real) < 0.15
    ws = init_workspace(tmp_path / "ws", spec)
    save_estimator(ws, 1, pe)
    assert load_estimator(ws, 1).estimate(pred.head(500), "rmse") == pe.estimate(pred.head(500), "rmse")
    no_features = pe.estimate(pred[["prediction"]])
    assert np.isnan(no_features["estimate"]) and "lacks tenure_days" in no_features["reason"]
    assert "too few" in pe.estimate(pred.head(1))["reason"]
