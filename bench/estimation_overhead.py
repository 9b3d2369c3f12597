"""What estimating performance before the labels adds to a monitoring run of 60 windows (issue 15: at most 20%).

One workspace of the simulated business: 90 days at `--rows` events a day, a champion trained on the first 30 days
(with its reference, baselines and estimator), days 30-89 scored. Timed in one run, median of `--repeat`:
- `monitor` over the 60 windows from a fresh monitoring state (every window computed), and again with the windows
  stored (what a daily run does: only the new window is computed);
- `window_estimates` alone, on the same predictions (what `monitor` does for the estimates, part of both runs);
- fitting the estimator once (part of `save_reference`, once per trained version).
The overhead is the estimates' time over the rest of the run.

    .venv/bin/python bench/estimation_overhead.py [--rows 1000] [--repeat 3]

Results: stdout and bench/results/estimation_overhead.json.
"""
import argparse, json, shutil, statistics, sys, tempfile, time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log

RESULTS = Path(__file__).parent / "results" / "estimation_overhead.json"


def workspace(root: Path, rows: int):
    "A workspace of 90 days, its champion trained on days 0-29 and days 30-89 scored; and day()."
    from threadpoolctl import threadpool_limits
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import track
    from mlpuzzle.monitoring.reference import save_reference
    from mlpuzzle.models.registry import promote, register
    from mlpuzzle.serving.score import score
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    from mlpuzzle.data.labels import ingest_labels, training_set
    from mlpuzzle.data.store import ingest
    sim = simulate(90, "none", seed=3, rows_per_day=rows)
    day = lambda d: pd.Timestamp(sim.events.event_time.min().floor("D"), tz="UTC") + pd.Timedelta(days=d)
    ws = init_workspace(root / "ws", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws, until=day(30))
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    promote(ws, v, "bench", as_of=day(30))
    save_reference(ws, v, data, r.model, {**info, "version": v})
    score(ws, since=day(30))
    return ws, day, data, r.model, {**info, "version": v}


def timed(f) -> float:
    t = time.perf_counter(); f(); return time.perf_counter() - t


def main(a):
    from mlpuzzle.models.estimate import PerformanceEstimator
    from mlpuzzle.monitoring.labelfree import window_estimates
    from mlpuzzle.monitoring.monitor import monitor
    from mlpuzzle.monitoring.performance import predictions
    from mlpuzzle.monitoring.reference import held_out
    root = Path(tempfile.mkdtemp(prefix="mlpuzzle-estoh-"))
    log(f"building the workspace: 90 days at {a.rows:,} rows a day ...")
    ws, day, data, model, info = workspace(root, a.rows)
    run = lambda: monitor(ws, since=day(30), as_of=day(90), deliver_alerts=False, quiet=True)
    cold, warm, est, fit = [], [], [], []
    for i in range(a.repeat):
        (ws.dir("alerts") / "monitor.db").unlink(missing_ok=True)
        for extra in ("-wal", "-shm"): (ws.dir("alerts") / f"monitor.db{extra}").unlink(missing_ok=True)
        cold.append(timed(run))
        warm.append(timed(run))
        pred = predictions(ws)
        est.append(timed(lambda: window_estimates(ws, pred)))
        fit.append(timed(lambda: PerformanceEstimator().fit(model, info, held_out(data, ws.spec), ws.spec)))
        log(f"  run {i + 1}: monitor cold {cold[-1]:.2f} s, warm {warm[-1]:.2f} s; estimates {est[-1]:.3f} s; fit {fit[-1]:.2f} s")
    m = {k: statistics.median(v) for k, v in (("monitor_cold_s", cold), ("monitor_warm_s", warm), ("estimates_s", est), ("fit_s", fit))}
    m["overhead_cold"] = m["estimates_s"] / (m["monitor_cold_s"] - m["estimates_s"])
    m["overhead_warm"] = m["estimates_s"] / (m["monitor_warm_s"] - m["estimates_s"])
    res = {"args": vars(a), "windows": 60, **m, "target": "overhead at most 0.20", "met": max(m["overhead_cold"], m["overhead_warm"]) <= 0.2}
    log(f"median: monitor of 60 windows {m['monitor_cold_s']:.2f} s cold, {m['monitor_warm_s']:.2f} s warm; the estimates "
        f"{m['estimates_s']:.3f} s: +{100 * m['overhead_cold']:.1f}% cold, +{100 * m['overhead_warm']:.1f}% warm "
        f"(target +20%); fitting an estimator {m['fit_s']:.2f} s per trained version")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000, help="events per day (default: 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs to take the median of (default: 3)")
    main(ap.parse_args())
