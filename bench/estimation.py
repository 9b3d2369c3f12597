"""Performance before the labels arrive: how close is the label-free estimate to the realized metric, and does its
band hold it? One run over the simulator's scenarios and the multiclass and regression variants.

For each scenario: 120 days of the churn business at `--rows` events a day, the change starting on day `--onset`
(default 75), made untidy as bench/scenarios.py makes it (`monthly_fee` 10% null, the region `west` rare). The
champion is trained as `mlpuzzle.models.model.train` does on the labelled events of days 0-29; the performance estimator
(`mlpuzzle.models.estimate.PerformanceEstimator`) is fitted on its held-out rows (the valid and test splits, which the
champion was not fitted on). Days 60-119 are production: each day's batch is checked against the contract
(`validate_batch`; the accepted rows are what would be scored), scored (`predictions_frame`), and its metric
estimated from the predictions alone and computed from the labels (`metrics_of`, as monitoring does): 60 windows.

The scenarios are the simulator's ten and `unsure_shift`, a bench-only covariate shift the simulator lacks: from the
onset, 90% of each day's customers are ones whose true churn odds are near even (the rule is unchanged; the model
is less sure of them).

Measured per scenario: the mean absolute error between estimated and realized metric per window, the share of
windows whose band (1.96 standard errors: the window's noise and the reference's own error, `systematic`) holds
the realized value, the windows below the performance floor
(`mlpuzzle.monitoring.performance.default_floor`; below: by 1.645 standard errors, as `performance.below_floor` judges a
realized value) in stable windows (before the onset; every window of `none` and `seasonality`), and after the
onset the first day the estimate is below the floor (known that day) beside the first day the realized metric is
(known 30 days later, when its labels arrive). The gate metric is ROC AUC for the
binary model; the multiclass variant reports macro F1 and the regression variant MAE (and RMSE), without a change.

Targets (issue 15): MAE at most 0.02 ROC AUC at 1,000 rows a window (0.01 at 10,000), coverage at least 90%, no
window below the floor on `none` and `seasonality`.

    .venv/bin/python bench/estimation.py [--rows 1000 10000] [--scenarios none concept_drift ...] [--variants]

Results: a table on stdout, bench/results/estimation.json and bench/results/estimation.md.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log
from scenarios import SCENARIOS, untidy

RESULTS = Path(__file__).parent / "results" / "estimation.json"
TABLE = Path(__file__).parent / "results" / "estimation.md"
DAYS, START_PRODUCTION, LABEL_DELAY = 120, 60, 30
Z_RULE = 1.645  # below the floor: by this many standard errors, one-sided, as `performance.below_floor` judges realized values


def accepted(batch: pd.DataFrame, spec: dict) -> pd.DataFrame:
    "The rows of `batch` the contract accepts, typed as stored (no rows when the batch is refused whole)."
    from mlpuzzle.base.core import DataError
    from mlpuzzle.data.checks import validate_batch
    try: ok = validate_batch(batch, spec, now=pd.Timestamp("2100-01-01", tz="UTC")).accepted
    except DataError: return batch.iloc[:0]
    return ok.assign(**{f: np.nan for f in spec["features"] if f not in ok})


def champion(data: pd.DataFrame, spec: dict):
    """(model, info, estimator, seconds to fit it, spec, reference) trained on `data` as `train` does, estimated on
    the reference: its valid + test rows."""
    from threadpoolctl import threadpool_limits
    from mlpuzzle.models.estimate import PerformanceEstimator
    from mlpuzzle.models.model import time_split, train
    with threadpool_limits(1): r = train(data, spec, seed=0)
    info = {"version": 1, "threshold": r.threshold, "test_metrics": r.metrics["test"]}
    _, va, te = time_split(data, r.spec)
    t0 = time.perf_counter()
    reference = pd.concat([va, te], ignore_index=True)
    est = PerformanceEstimator().fit(r.model, info, reference, r.spec)
    return r.model, info, est, time.perf_counter() - t0, r.spec, reference


def window_rows(model, info, est, spec, day: int, rows: pd.DataFrame, y, metrics: list) -> list[dict]:
    "Estimate and realized value of each of `metrics` for one production window."
    from mlpuzzle.models.model import metrics_of
    from mlpuzzle.serving.score import predictions_frame
    pred = predictions_frame(model, info, rows, spec)
    if spec["problem"] == "regression": pred = pd.concat([rows[list(spec["features"])].reset_index(drop=True), pred], axis=1)
    classes = np.asarray(getattr(model, "classes_", [])).astype(str) if spec["problem"] == "multiclass" else None
    scores = est.scores(pred) if spec["problem"] != "regression" else pred["prediction"].to_numpy()
    try: real = metrics_of(y, scores, spec, info["threshold"], classes) if len(y) else {}
    except ValueError: real = {}
    return [{**est.estimate(pred, m), "day": day, "realized": real.get(m, np.nan)} for m in metrics]


def first_day(df: pd.DataFrame, col: str, since: int) -> int | None:
    "The first day from `since` where `col` is true."
    d = df[(df.day >= since) & df[col]]
    return int(d.day.min()) if len(d) else None


def summarise(w: pd.DataFrame, name: str, rows: int, metric: str, problem: str, test_value: float, onset,
              stable_all: bool) -> dict:
    "The per-scenario figures of one metric's windows `w` (`stable_all`: no window is an incident's)."
    from mlpuzzle.models.estimate import band_below_floor
    from mlpuzzle.monitoring.performance import default_floor
    floor = default_floor(metric, problem, test_value)
    w = w.assign(err=(w.estimate - w.realized).abs(), held=(w.lower <= w.realized) & (w.realized <= w.upper),
                 est_below=[band_below_floor(r, floor, problem, Z_RULE) for r in w.to_dict("records")],
                 real_below=[band_below_floor({**r, "estimate": r["realized"]}, floor, problem, Z_RULE) for r in w.to_dict("records")])
    ok = w[np.isfinite(w.estimate) & np.isfinite(w.realized)]
    stable = w if stable_all or onset is None else w[w.day < onset]
    after = w[w.day >= onset] if onset is not None else w.iloc[:0]
    real_day = first_day(w, "real_below", onset if onset is not None else START_PRODUCTION)
    return {"scenario": name, "rows": rows, "metric": metric, "windows": len(w), "estimated": len(ok),
            "mean_window_rows": float(w["rows"].mean()), "min_window_rows": int(w["rows"].min()),
            "mae": float(ok.err.mean()), "max_error": float(ok.err.max()), "coverage": float(ok.held.mean()),
            "mean_estimate": float(ok.estimate.mean()), "mean_realized": float(ok.realized.mean()),
            "mean_se": float(ok.se.mean()), "floor": floor, "test_value": test_value, "onset_day": onset,
            "stable_below_floor": int(stable.est_below.sum()),
            "after_onset_estimate": float(after.estimate.mean()) if len(after) else None,
            "after_onset_realized": float(after.realized.mean()) if len(after) else None,
            "first_estimated_below_day": first_day(w, "est_below", onset if onset is not None else START_PRODUCTION),
            "first_realized_below_day": real_day, "realized_known_day": None if real_day is None else real_day + LABEL_DELAY}


def run(name: str, sim, spec: dict, rows: int, metrics: list, onset, label: str, stable_all: bool = True) -> list[dict]:
    "Train on days 0-29 of `sim`, then estimate and realize `metrics` on each production day."
    from mlpuzzle.base.spec import validate_spec
    spec, labels = validate_spec(spec, check_imports=False), sim.labels
    first = pd.concat([accepted(b, spec) for _, b in sim.batches[:30]], ignore_index=True)
    first = first.merge(labels[["customer_id", label]], on="customer_id")
    model, info, est, fit_s, spec, _ = champion(first, spec)
    out, clock = [], time.perf_counter()
    for d in range(START_PRODUCTION, DAYS):
        ok = accepted(sim.batches[d][1], spec)
        y = ok[["customer_id"]].merge(labels, on="customer_id", how="left")[label]
        y = y.to_numpy() if spec["problem"] != "multiclass" else y.astype(str).to_numpy()
        out += window_rows(model, info, est, spec, d, ok, y, metrics)
    secs = time.perf_counter() - clock
    w = pd.DataFrame(out)
    res = [summarise(w[w.metric == m], name, rows, m, spec["problem"], info["test_metrics"][m], onset, stable_all)
           for m in metrics]
    for r in res: r.update(fit_estimator_s=fit_s, windows_s=secs, systematic=est.systematic_.get(r["metric"]),
                           calibration=str(getattr(est, "calibrator_", None) and est.calibrator_.method_))
    return res


def churn(scenario: str, rows: int, onset: int, seed: int = 7):
    "The simulation of `scenario`, untidy as bench/scenarios.py makes it, and the churn spec."
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    sim = simulate(DAYS, scenario, seed=seed, rows_per_day=rows, onset=onset)
    rng = np.random.default_rng(seed)
    sim.batches = [(d, untidy(b, 0.1, 0.01, rng)) for d, b in sim.batches]
    return sim, churn_spec({"kind": "dataframe"})


def unsure_shift(sim, onset: int, share: float = 0.9, seed: int = 7):
    """From `onset`, `share` of each day's customers are ones whose churn odds are near even (|log-odds| < 1): the rule
    is unchanged (a covariate shift), the model less sure. A bench-only scenario: the simulator has none like it."""
    from mlpuzzle.simulator.simulate import churn_logit, draw_churn, draw_customers
    rng, labels = np.random.default_rng(seed + 1), sim.labels.set_index("customer_id")
    for i in range(onset, len(sim.batches)):
        day, b = sim.batches[i]
        k = rng.random(len(b)) < share
        pool = draw_customers(rng, 20 * int(k.sum()) + 20)
        pool = pool[np.abs(churn_logit(pool)) < 1].head(int(k.sum())).reset_index(drop=True)
        labels.loc[b.customer_id[k].to_numpy(), "churned"] = draw_churn(rng, pool)
        new = untidy(pool.assign(customer_id=b.customer_id[k].to_numpy(), event_time=b.event_time[k].to_numpy()), 0.1, 0.01, rng)
        sim.batches[i] = (day, pd.concat([b[~k], new[b.columns]]).sort_values("event_time", kind="stable").reset_index(drop=True))
    sim.labels = labels.reset_index()
    sim.truth = {**sim.truth, "scenario": "unsure_shift", "onset_day": onset, "alert": "performance"}
    return sim


class Variant:
    "A multiclass or regression business shaped as a `Simulation`: daily batches and labels."
    def __init__(self, df: pd.DataFrame, label: str):
        self.labels = df[["customer_id", label]]
        t0 = df["event_time"].min().floor("D")
        day = ((df["event_time"] - t0) / pd.Timedelta(days=1)).astype(int)
        self.batches = [(d, df[day == d].drop(columns=[label]).reset_index(drop=True)) for d in range(DAYS)]


def variant(kind: str, rows: int, seed: int = 7):
    "(simulation, spec, label, metrics) of the multiclass or regression variant without a change."
    from mlpuzzle.simulator import variants as V
    sim, spec = (V.simulate_multiclass, V.multiclass_spec) if kind == "multiclass" else (V.simulate_regression, V.regression_spec)
    label = "upgrade_to" if kind == "multiclass" else "next_month_revenue"
    metrics = ["f1_macro", "accuracy"] if kind == "multiclass" else ["mae", "rmse"]
    return Variant(sim(rows * DAYS, seed=seed, days=DAYS), label), spec({"kind": "dataframe"}), label, metrics


def table(df: pd.DataFrame) -> str:
    "The markdown table of the results."
    cols = ["rows", "scenario", "metric", "mean_window_rows", "mae", "coverage", "mean_se", "systematic", "mean_estimate", "mean_realized", "floor",
            "stable_below_floor", "after_onset_estimate", "after_onset_realized", "first_estimated_below_day",
            "first_realized_below_day", "realized_known_day", "calibration"]
    d = df[cols].copy()
    d["mean_window_rows"] = d["mean_window_rows"].round().astype(int)
    for c in ("mae", "coverage", "mean_se", "systematic", "mean_estimate", "mean_realized", "floor", "after_onset_estimate", "after_onset_realized"):
        d[c] = d[c].map(lambda v: "" if v is None or v != v else f"{v:.4f}")
    d = d.astype(object).where(d.notna(), "")
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in d.itertuples(index=False))


def save(a, out: list, t: float):
    "Write the results so far (a long run stopped halfway keeps what it measured)."
    results, md = (p.with_name(p.stem + a.tag + p.suffix) for p in (RESULTS, TABLE))
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps({"args": vars(a), "seconds": time.perf_counter() - t, "results": out}, indent=1, default=str))
    md.write_text(f"# Performance estimation (bench/estimation.py {a.tag})\n\n{table(pd.DataFrame(out))}")


def main(a):
    out, t = [], time.perf_counter()
    for rows in a.rows:
        for s in a.scenarios:
            log(f"{s} at {rows:,} rows a window ...")
            sim, spec = churn("none" if s == "unsure_shift" else s, rows, a.onset, a.seed)
            if s == "unsure_shift": sim = unsure_shift(sim, a.onset, seed=a.seed)
            onset = sim.truth.get("onset_day")
            res = run(s, sim, spec, rows, ["roc_auc"], onset, "churned", sim.truth.get("alert") is None)
            log(f"  MAE {res[0]['mae']:.4f}, coverage {res[0]['coverage']:.2f}, stable windows below the floor {res[0]['stable_below_floor']}")
            out += res; save(a, out, t)
        for kind in a.variants:
            log(f"{kind} variant at {rows:,} rows a window ...")
            sim, spec, label, metrics = variant(kind, rows, a.seed)
            res = run(kind, sim, spec, rows, metrics, None, label)
            log("  " + ", ".join(f"{r['metric']} MAE {r['mae']:.4f} coverage {r['coverage']:.2f}" for r in res))
            out += res; save(a, out, t)
    print(pd.DataFrame(out)[["rows", "scenario", "metric", "mae", "coverage", "stable_below_floor",
                             "first_estimated_below_day", "first_realized_below_day"]].to_string(index=False))
    log(f"{time.perf_counter() - t:.0f} s; results in {RESULTS.parent} (estimation{a.tag}.json, .md)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1000], help="events per day, one run each (default: 1000)")
    ap.add_argument("--onset", type=int, default=75, help="day the change starts (default: 75)")
    ap.add_argument("--seed", type=int, default=7, help="random seed of the simulations (default: 7, as bench/scenarios.py)")
    ap.add_argument("--tag", default="", help="suffix of the results' file names, e.g. -seed8 (default: none)")
    names = SCENARIOS + ["unsure_shift"]
    ap.add_argument("--scenarios", nargs="+", default=names, choices=names, metavar="NAME", help=f"default: all ({', '.join(names)})")
    ap.add_argument("--variants", nargs="*", default=["multiclass", "regression"], choices=["multiclass", "regression"],
                    help="the variants to run too (default: both; none: --variants)")
    main(ap.parse_args())
