"""Performance before the labels, ours beside NannyML's: `mlpuzzle.models.estimate.PerformanceEstimator` and NannyML
0.13.1's CBPE (with its defaults) on the same windows in the same run, for the binary model's ROC AUC and the
multiclass model's macro F1 (and accuracy).

The data path is bench/estimation.py's: each scenario simulated and made untidy as there, the champion trained on
the labelled events of days 0-29, each production day's batch (days 60-119) checked against the contract and its
accepted rows scored once. Both estimators are fitted on the same reference, the champion's held-out rows (valid +
test) with its probabilities and labels, and both see the same windows:
- daily: each production day (`--rows` events a day);
- weekly: seven production days pooled (days 60-66, 67-73, ...; the 4 days after the eighth week are left out).
The realized value of a window is `metrics_of` on its labels, as monitoring computes it, for both.

Bands: ours is the estimator's own (1.96 standard errors: the window's noise and the reference's own error);
NannyML's is its confidence band, `lower_confidence_boundary` to `upper_confidence_boundary`: the estimate +/- 3
sampling errors (NannyML's `SAMPLING_ERROR_RANGE`), clipped to the metric's range. Coverage: the share of windows whose
band holds the realized value. Times: ours is the estimator's fit plus its estimates of every window; NannyML's is
`fit` plus `estimate` inside its worker (neither counts scoring, reading data or imports). The machine is shared:
quote the ratio, measured in the same run.

    .venv/bin/python bench/cbpe.py [--rows 1000 10000] [--scenarios none ...] [--variants multiclass]
        [--nannyml-python /work/nml-venv/bin/python] [--seed 7] [--tag -seed8]

NannyML runs in its own virtual environment (it pins pandas < 3), through bench/nannyml_worker.py; see
bench/relations.py for how to make it. Results: bench/results/cbpe{tag}.json and .md; the table on stdout.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log
from estimation import DAYS, START_PRODUCTION, accepted, champion, churn, unsure_shift, variant
from scenarios import SCENARIOS

RESULTS = Path(__file__).parent / "results" / "cbpe.json"
WORKER = Path(__file__).parent / "nannyml_worker.py"
WEEK = 7
NANNYML_METRIC = {"roc_auc": "roc_auc", "f1_macro": "f1", "accuracy": "accuracy"}
EPOCH = pd.Timestamp("2020-01-01")  # the windows' stand-in days in NannyML's frames (window i: EPOCH + i days)


def scored(name: str, rows: int, seed: int, onset: int) -> dict:
    "The champion of scenario or variant `name`, its reference, and each production day's scores and labels."
    from mlpuzzle.base.spec import validate_spec
    from mlpuzzle.models.model import predict_scores, target
    from mlpuzzle.serving.score import predictions_frame
    if name == "multiclass": sim, spec, label, metrics = variant("multiclass", rows, seed)
    else:
        sim, spec = churn("none" if name == "unsure_shift" else name, rows, onset, seed)
        if name == "unsure_shift": sim = unsure_shift(sim, onset, seed=seed)
        label, metrics = "churned", ["roc_auc"]
    spec = validate_spec(spec, check_imports=False)
    first = pd.concat([accepted(b, spec) for _, b in sim.batches[:30]], ignore_index=True)
    first = first.merge(sim.labels[["customer_id", label]], on="customer_id")
    model, info, est, fit_s, spec, reference = champion(first, spec)
    days = []
    for d in range(START_PRODUCTION, DAYS):
        ok = accepted(sim.batches[d][1], spec)
        y = ok[["customer_id"]].merge(sim.labels, on="customer_id", how="left")[label]
        y = y.to_numpy() if spec.problem != "multiclass" else y.astype(str).to_numpy()
        days.append((d, est.scores(predictions_frame(model, info, ok, spec)), y))
    ref = (target(reference, spec), predict_scores(model, reference, spec))
    return {"name": name, "rows": rows, "spec": spec, "info": info, "estimator": est, "fit_s": fit_s,
            "metrics": metrics, "reference": ref, "days": days, "onset": getattr(sim, "truth", {}).get("onset_day"),
            "classes": est.classes_}


def windows(days: list, kind: str) -> list[tuple]:
    "(first day, scores, labels) of each window: each day (daily) or seven days pooled (weekly)."
    if kind == "daily": return [(d, s, y) for d, s, y in days if len(y) >= 2]
    weeks = [days[i:i + WEEK] for i in range(0, len(days) - WEEK + 1, WEEK)]
    return [(w[0][0], np.concatenate([s for _, s, _ in w]), np.concatenate([y for _, _, y in w])) for w in weeks]


def realized(sc: dict, s, y) -> dict:
    "The realized metrics of one window, as monitoring computes them."
    from mlpuzzle.models.metrics import metrics_of
    classes = sc["classes"] if sc["spec"].problem == "multiclass" else None
    try: return metrics_of(y, s, sc["spec"], sc["info"]["threshold"], classes)
    except ValueError: return {}


def ours(sc: dict, wins: list) -> tuple:
    "(seconds, per metric the estimates and bands of each window) of our estimator."
    est, t0 = sc["estimator"], time.perf_counter()
    out = {m: [est.estimate(s, m) for _, s, _ in wins] for m in sc["metrics"]}
    return time.perf_counter() - t0, out


def nannyml_frame(sc: dict, s, y, window: int) -> pd.DataFrame:
    "The rows of one window as NannyML's CBPE reads them: probabilities, decision, label and the window's day."
    if sc["spec"].problem == "binary":
        df = pd.DataFrame({"p_1": s, "y_pred": (s >= sc["info"]["threshold"]).astype(int), "y_true": y})
    else:
        df = pd.DataFrame(s, columns=[f"p_{c}" for c in sc["classes"]])
        df = df.assign(y_pred=sc["classes"][s.argmax(1)], y_true=np.asarray(y).astype(str))
    return df.assign(ts=EPOCH + pd.Timedelta(days=window))


def write_nannyml(tmp: Path, sc: dict, sets: dict):
    "The reference and each set of windows as the worker reads them."
    y, s = sc["reference"]
    y = (np.asarray(y) == 1).astype(int) if sc["spec"].problem == "binary" else np.asarray(y)
    nannyml_frame(sc, s, y, 0).to_parquet(tmp / "reference.parquet")
    for name, wins in sets.items():
        frames = [nannyml_frame(sc, s, yw, i) for i, (_, s, yw) in enumerate(wins)]
        pd.concat(frames, ignore_index=True).to_parquet(tmp / f"analysis_{name}.parquet")
    meta = {"problem": sc["spec"].problem, "classes": [str(c) for c in (sc["classes"] if sc["classes"] is not None
                                                                       else [])],
            "metrics": [NANNYML_METRIC[m] for m in sc["metrics"]], "analyses": list(sets)}
    (tmp / "cbpe.json").write_text(json.dumps(meta))


def run_nannyml(python: str, sc: dict, sets: dict) -> dict:
    "NannyML's CBPE on each set of windows, in its own environment: per set, per metric, each window's band."
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "NML_DISABLE_USER_ANALYTICS": "1", "PYTHONPATH": "",
           "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        write_nannyml(Path(tmp), sc, sets)
        out = subprocess.run([python, str(WORKER), tmp, "cbpe"], capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f"NannyML's CBPE failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def nannyml_rows(res: dict, name: str, metric: str, n: int) -> list[dict]:
    "NannyML's estimate and band of each of the `n` windows of set `name` (NaN where it has no chunk)."
    a, m = res["analyses"][name], res["analyses"][name][NANNYML_METRIC[metric]]
    at = {(pd.Timestamp(d) - EPOCH).days: i for i, d in enumerate(a["start"])}
    nan = {"estimate": np.nan, "lower": np.nan, "upper": np.nan}
    return [{k: m[k][at[i]] for k in nan} if i in at else nan for i in range(n)]


def summary(w: pd.DataFrame, who: str) -> dict:
    "MAE against the realized value, band coverage and mean band width of one estimator's windows."
    ok = w[np.isfinite(w[f"{who}_estimate"]) & np.isfinite(w.realized)]
    held = (ok[f"{who}_lower"] <= ok.realized) & (ok.realized <= ok[f"{who}_upper"])
    err = (ok[f"{who}_estimate"] - ok.realized).abs()
    return {f"{who}_mae": float(err.mean()), f"{who}_coverage": float(held.mean()),
            f"{who}_width": float((ok[f"{who}_upper"] - ok[f"{who}_lower"]).mean()), f"{who}_windows": len(ok)}


def compare(sc: dict, python: str | None) -> tuple[list, list]:
    "(summaries, per-window rows) of ours and NannyML's CBPE on the daily and weekly windows of one scored scenario."
    sets = {k: windows(sc["days"], k) for k in ("daily", "weekly")}
    timed = {k: ours(sc, v) for k, v in sets.items()}
    nml = run_nannyml(python, sc, sets) if python else None
    summaries, per_window = [], []
    for kind, wins in sets.items():
        real = [realized(sc, s, y) for _, s, y in wins]
        for m in sc["metrics"]:
            nrows = nannyml_rows(nml, kind, m, len(wins)) if nml else [{}] * len(wins)
            w = pd.DataFrame([{"scenario": sc["name"], "rows": sc["rows"], "windows": kind, "metric": m, "day": d,
                               "window_rows": len(y), "realized": r.get(m, np.nan),
                               **{f"ours_{k}": o[k] for k in ("estimate", "lower", "upper")},
                               **{f"nannyml_{k}": n.get(k, np.nan) for k in ("estimate", "lower", "upper")}}
                              for (d, _, y), r, o, n in zip(wins, real, timed[kind][1][m], nrows)])
            per_window += w.to_dict("records")
            summaries.append({"scenario": sc["name"], "rows": sc["rows"], "windows": kind, "metric": m,
                              "mean_window_rows": float(w.window_rows.mean()), **summary(w, "ours"),
                              **(summary(w, "nannyml") if nml else {}),
                              "ours_s": sc["fit_s"] + timed[kind][0],
                              "nannyml_s": nml["fit_seconds"] + nml["analyses"][kind]["seconds"] if nml else np.nan,
                              "nannyml_calibrated": nml["needs_calibration"] if nml else None})
    return summaries, per_window


def fmt(v, spec: str = ".4f") -> str:
    "A number for the table ('' when missing)."
    return "" if v is None or v != v else format(v, spec)


def table(results: list) -> str:
    "The results as a markdown table."
    head = ("| rows a day | windows | scenario | metric | rows a window | MAE ours | MAE CBPE | coverage ours | "
            "coverage CBPE | band width ours | band width CBPE | time ours | time CBPE | CBPE / ours |\n"
            "|" + "---|" * 14 + "\n")
    lines = [f"| {r['rows']:,} | {r['windows']} | {r['scenario']} | {r['metric']} | {r['mean_window_rows']:,.0f} | "
             f"{fmt(r['ours_mae'])} | {fmt(r.get('nannyml_mae'))} | {fmt(r['ours_coverage'], '.2f')} | "
             f"{fmt(r.get('nannyml_coverage'), '.2f')} | {fmt(r['ours_width'])} | {fmt(r.get('nannyml_width'))} | "
             f"{r['ours_s']:.1f} s | {fmt(r.get('nannyml_s'), '.1f')} s | "
             f"{fmt(r.get('nannyml_s', np.nan) / r['ours_s'], '.1f')} |"
             for r in results]
    return head + "\n".join(lines) + "\n"


def pooled(results: list) -> list:
    "Per rows a day, windows and metric: the windows' MAE and coverage pooled over the scenarios without a change."
    df = pd.DataFrame(results)
    df = df[~df.scenario.isin(CHANGED)]
    out = []
    for (rows, kind, m), g in df.groupby(["rows", "windows", "metric"], sort=False):
        row = {"scenario": "pooled, no performance change", "rows": rows, "windows": kind, "metric": m,
               "mean_window_rows": float(np.average(g.mean_window_rows, weights=g.ours_windows))}
        for who in ("ours", "nannyml"):
            if f"{who}_mae" not in g: continue
            n = g[f"{who}_windows"]
            for k in ("mae", "coverage", "width"): row[f"{who}_{k}"] = float(np.average(g[f"{who}_{k}"], weights=n))
            row[f"{who}_s"] = float(g[f"{who}_s"].sum())
        out.append(row)
    return out


# scenarios whose realized performance changes from the onset (neither estimator is meant to follow concept drift)
CHANGED = {"concept_drift", "unsure_shift", "unit_change", "null_column"}


def save(a, results: list, per_window: list, seconds: float):
    "The results as JSON and as a table under the command that made them (after each scenario)."
    out = RESULTS.with_name(f"cbpe{a.tag}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"argv": sys.argv[1:], "args": vars(a), "seconds": seconds, "results": results,
                               "pooled": pooled(results), "windows": per_window}, indent=1, default=str))
    head = (f"# bench/cbpe.py, {time.strftime('%Y-%m-%d')}\n\n"
            f"Command: `python bench/cbpe.py {' '.join(sys.argv[1:])}`. "
            "Ours: `PerformanceEstimator`, band 1.96 standard errors. CBPE: NannyML 0.13.1's defaults, band its "
            "lower to upper confidence boundary (3 sampling errors). Times: each one's fit plus every window's "
            "estimate; one thread each on a shared 2-core machine: quote the ratio.\n\n")
    pool = (f"\n## Pooled over the scenarios whose performance does not change (all but {', '.join(sorted(CHANGED))})"
            f"\n\n{table(pooled(results))}")
    out.with_suffix(".md").write_text(head + table(results) + pool)


def main(a):
    results, per_window, t = [], [], time.perf_counter()
    for rows in a.rows:
        for name in a.scenarios + a.variants:
            log(f"{name} at {rows:,} rows a day ...")
            sc = scored(name, rows, a.seed, a.onset)
            res, w = compare(sc, a.nannyml_python)
            for r in res:
                log(f"  {r['windows']} {r['metric']}: MAE ours {r['ours_mae']:.4f} CBPE {fmt(r.get('nannyml_mae'))}, "
                    f"coverage ours {r['ours_coverage']:.2f} CBPE {fmt(r.get('nannyml_coverage'), '.2f')}")
            results += res; per_window += w
            save(a, results, per_window, time.perf_counter() - t)
    print(table(results + pooled(results)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000], help="events a day (default: 1000 10000)")
    ap.add_argument("--onset", type=int, default=75, help="day the change starts (default: 75)")
    ap.add_argument("--seed", type=int, default=7, help="random seed of the simulations (default: 7)")
    ap.add_argument("--tag", default="", help="suffix of the results' file names, e.g. -seed8 (default: none)")
    names = SCENARIOS + ["unsure_shift"]
    ap.add_argument("--scenarios", nargs="*", default=names, choices=names, metavar="NAME",
                    help=f"default: all ({', '.join(names)})")
    ap.add_argument("--variants", nargs="*", default=["multiclass"], choices=["multiclass"],
                    help="the multiclass variant too (default; none: --variants)")
    ap.add_argument("--nannyml-python", help="the python of a virtual environment with nannyml==0.13.1 (else skipped)")
    main(ap.parse_args())
