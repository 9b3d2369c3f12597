"""How long a replay takes (issue 16: a year of weekly steps for three policies on 1,000 rows a day, under 5 minutes).

The simulated business, `--days` of history then a year of production (`--weeks` weekly steps), `--rows` events a day,
concept drift from day 100 of production, as CSV files dated 2019 (the case of a new user's history). The replay
(`mlpuzzle.loop.replay.replay`, the policies in `--jobs` worker processes) runs from a fresh start; timed:
- the whole replay, wall clock (the feed cut, the start state, every policy);
- per policy, its steps' seconds split into ingestion, scoring, monitoring, training and bookkeeping;
- the comparison (`compare`) and, with `--report`, the report notebook (a papermill run).

    .venv/bin/python bench/replay.py [--rows 1000] [--weeks 52] [--jobs 2] [--report]

Results: stdout and bench/results/replay.json.
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log, timed

RESULTS = Path(__file__).parent / "results" / "replay.json"
POLICIES = ["never", "every:30d", "on-alert"]


def workspace(root: Path, rows: int, history: int, weeks: int):
    "A workspace reading CSV files of the simulated business (history, then `weeks` of production), dated 2019."
    from mlpuzzle.simulator.simulate import simulate, churn_spec
    from mlpuzzle.simulator.feed import write_simulation
    from mlpuzzle.base.workspace import init_workspace
    days = history + 7 * weeks
    sim = simulate(days, "concept_drift", seed=0, rows_per_day=rows, onset=history + 100, start="2019-01-01")
    write_simulation(sim, root / "data")
    ws = init_workspace(root / "ws", churn_spec({"kind": "csv", "path": str(root / "data/csv/events-*.csv"),
                                                  "labels": str(root / "data/labels/labels-*.csv")}))
    return ws, str(pd.Timestamp("2019-01-01") + pd.Timedelta(days=history))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000, help="events a day (default: 1000)")
    ap.add_argument("--history", type=int, default=60, help="days of history before the replay's start (default: 60)")
    ap.add_argument("--weeks", type=int, default=52, help="weekly steps (default: 52)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="policies at once (default: the cores)")
    ap.add_argument("--report", action="store_true", help="also time the report notebook")
    a = ap.parse_args()
    from mlpuzzle.loop.replay import replay
    from mlpuzzle.loop.compare import compare, replay_report
    root = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        log(f"simulating {a.history} days + {a.weeks} weeks at {a.rows:,} rows a day into {root}")
        ws, since = workspace(root, a.rows, a.history, a.weeks)
        secs, _ = timed(replay, ws, since, step="7d", policies=POLICIES, jobs=a.jobs, say=log)
        cmp_secs, c = timed(compare, ws)
        rep_secs = timed(replay_report, ws, root / "reports")[0] if a.report else None
        start = json.loads((ws.path / "replays" / "start" / "start.json").read_text())
        parts = {r["policy"]: pd.DataFrame([s["seconds"] for s in r["state"]["steps"]]).sum().round(1).to_dict() for r in c["results"]}
        out = {"rows_per_day": a.rows, "weeks": a.weeks, "policies": POLICIES, "jobs": a.jobs, "cores": os.cpu_count(),
               "replay_seconds": round(secs, 1), "target_seconds": 300, "met": secs < 300, "start_seconds": round(start["seconds"], 1),
               "compare_seconds": round(cmp_secs, 1), "report_seconds": rep_secs and round(rep_secs, 1),
               "per_policy_seconds": parts, "per_step_seconds": {p: round(sum(v.values()) / a.weeks, 2) for p, v in parts.items()},
               "table": json.loads(c["table"].reset_index().to_json(orient="records")), "verdict": c["verdict"]}
    finally: shutil.rmtree(root, ignore_errors=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
