"""What the checks on a window's rows cost: `monitor` over 60 daily windows of `--rows` rows (default 10,000), cold
(no stored result), with the segment and relation rules on (the default spec) and off (the same spec without the
`segment_performance`, `segment_balance` and `relations` rules and with `monitoring.segments.enabled: false`), in
the same run, alternating, `--repeats` times each (the median is reported). Target (issue 30): on at most 2x off.

The workspace: the simulator's `covariate_drift` business (a change on day 45 of 60, so that the alerts have
something to do), the champion trained on 20 days before the 60, every day scored, labels known for the first 30
of the 60 days (as a 30-day label delay leaves them).

    .venv/bin/python bench/row_checks.py [--rows 10000] [--repeats 3] [--out PATH]

Results: a table on stdout and bench/results/row_checks.json.
"""
import argparse, json, shutil, statistics, sys, tempfile, time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import log

RESULTS = Path(__file__).parent / "results" / "row_checks.json"
ROW_KINDS = {"segment_performance", "segment_balance", "relations"}


def build(root: Path, rows: int) -> tuple:
    "A workspace with 80 days (20 of training, 60 monitored) of `rows` events a day, scored; (workspace, day)."
    from threadpoolctl import threadpool_limits
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.data.labels import ingest_labels, training_set
    from mlpuzzle.data.store import ingest
    from mlpuzzle.models.model import train
    from mlpuzzle.models.registry import promote, register
    from mlpuzzle.models.tracking import track
    from mlpuzzle.monitoring.reference import save_reference
    from mlpuzzle.serving.score import score
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    sim = simulate(80, "covariate_drift", seed=3, rows_per_day=rows, onset=65)
    start = pd.Timestamp(sim.events.event_time.min().floor("D"), tz="UTC")
    day = lambda n: start + pd.Timedelta(days=n)
    ws = init_workspace(root / "on", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events, profile=True)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws, until=day(20))
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    promote(ws, v, "the bench's champion", as_of=day(20))
    save_reference(ws, v, data, r.model, {**info, "version": v})
    score(ws, since=day(20))
    return ws, day


def without_row_checks(ws_dir: Path, to: Path) -> Path:
    "A copy of the workspace whose spec has the row rules removed and segments turned off."
    from mlpuzzle.base.schema import default_alerts
    shutil.copytree(ws_dir, to)
    p = to / "mlpuzzle.yml"
    spec = yaml.safe_load(p.read_text())
    mon = spec.setdefault("monitoring", {})
    mon["alerts"] = [{"kind": r.kind} for r in default_alerts() if r.kind not in ROW_KINDS]
    mon["segments"] = {"enabled": False}
    p.write_text(yaml.safe_dump(spec))
    return to


def cold_monitor(path: Path, since, as_of) -> float:
    "Seconds of one `monitor` run with no stored result (the monitoring state removed first)."
    from mlpuzzle.base.workspace import Workspace
    from mlpuzzle.monitoring.monitor import monitor
    (path / "alerts" / "monitor.db").unlink(missing_ok=True)
    ws = Workspace(path, check_imports=False)
    t = time.perf_counter()
    monitor(ws, since=since, as_of=as_of, deliver_alerts=False, quiet=True)
    return time.perf_counter() - t


def main(a):
    root = Path(tempfile.mkdtemp(prefix="mlpuzzle-rowchecks-"))
    log(f"building 80 days of {a.rows:,} rows a day in {root} ...")
    ws, day = build(root, a.rows)
    off = without_row_checks(ws.path, root / "off")
    cold_monitor(off, day(20), day(80))  # imports and caches warmed once, not timed
    times = {"on": [], "off": []}
    for i in range(a.repeats):
        for name, path in (("off", off), ("on", ws.path)):
            times[name].append(cold_monitor(path, day(20), day(80)))
            log(f"  {name} run {i + 1}: {times[name][-1]:.1f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"rows": a.rows, "windows": 60, "repeats": a.repeats, "seconds": times, "median_on": med["on"],
              "median_off": med["off"], "ratio": med["on"] / med["off"], "target_ratio": 2.0}
    print(f"| rows a window | windows | off (median) | on (median) | on / off |\n|---|---|---|---|---|\n"
          f"| {a.rows:,} | 60 | {med['off']:.1f} s | {med['on']:.1f} s | {result['ratio']:.2f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000, help="rows a day (default: 10,000)")
    ap.add_argument("--repeats", type=int, default=3, help="cold runs of each, alternating (default: 3)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="default: bench/results/row_checks.json")
    main(ap.parse_args())
