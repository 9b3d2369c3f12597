"""A replayed year (2019, 165 rows a day) with incidents shaped like real ones, monitored as a user would: the
workspace behind `reports/incidents-monitor-report.png` and `reports/incidents-dashboard.png`.

- from day 100, `monthly_fee` is 21.5% null against the reference's ~10% (a level at the threshold);
- from day 150, the region `central`, which the contract does not know, in 1% of the rows;
- days 200-204: `seats` 40% null, and from day 201 a fifth of the discounts above 100% (two rules, one incident);
- from day 260: `tenure_days` and `usage_hours` shift, and `seats` is 35% null (a drift and nulls on one day).

    .venv/bin/python bench/incident_year.py DIR    # then open DIR/reports/index.html and the monitor run's page

It ingests, trains the champion on days 0-59, scores, and runs `mlpuzzle run monitor --no-retrain` and the dashboard.
"""
import os, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
START, DAYS, ROWS = "2019-01-01", 365, 165


def day(n: int) -> pd.Timestamp: return pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=n)


def shaped(ev: pd.DataFrame, rng) -> pd.DataFrame:
    "The simulator's events with the year's four incidents."
    ev = ev.copy()
    d = ((ev.event_time - day(0).tz_localize(None)).dt.days).to_numpy()
    ev.loc[rng.random(len(ev)) < np.where(d >= 100, 0.215, 0.1), "monthly_fee"] = np.nan
    ev.loc[(d >= 150) & (rng.random(len(ev)) < 0.01), "region"] = "central"
    b = (d >= 200) & (d < 205)
    ev.loc[b & (rng.random(len(ev)) < 0.4), "seats"] = np.nan
    ev.loc[b & (d > 200) & (rng.random(len(ev)) < 0.2), "discount_pct"] = 150.0
    s = d >= 260
    ev.loc[s, "tenure_days"] = (ev.loc[s, "tenure_days"] * 2.5).round()
    ev.loc[s, "usage_hours"] = ev.loc[s, "usage_hours"] * 1.8
    ev.loc[s & (rng.random(len(ev)) < 0.35), "seats"] = np.nan
    return ev


def main(root: Path):
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.serving.score import score
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    from mlpuzzle.data.labels import ingest_labels, training_set
    from mlpuzzle.data.store import ingest
    from mlpuzzle.app.dashboard import build_dashboard
    from conftest import serving_champion
    sim = simulate(DAYS, "none", seed=5, start=START, rows_per_day=ROWS)
    spec = churn_spec({"kind": "dataframe"})
    spec["features"]["seats"]["nullable"] = True
    spec["features"]["tenure_days"]["max"] = 30000
    ws = init_workspace(root / "year", spec)
    ingest(ws, df=shaped(sim.events, np.random.default_rng(1)))
    ingest_labels(ws, df=sim.labels)
    serving_champion(ws, training_set(ws, until=day(60)), day(60))
    score(ws, since=day(60))
    env = {**os.environ, "MLPUZZLE_REPORTS": str(root / "reports")}
    mlpuzzle = Path(sys.executable).parent / "mlpuzzle"
    subprocess.run([mlpuzzle, "run", "monitor", "-w", ws.path, "-p", "since", "2019-03-02", "--no-retrain"], env=env, check=True)
    subprocess.run([mlpuzzle, "alerts", "-w", ws.path], env=env, check=True)
    print(build_dashboard(ws, root / "reports"))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"): print(__doc__); sys.exit(0 if len(sys.argv) == 2 else 2)
    main(Path(sys.argv[1]))
