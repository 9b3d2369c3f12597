"""Cost of mlpuzzle's training stage over a bare scikit-learn fit of the same pipeline, in one run.

On `--rows` labeled rows of the demo business (`mlpuzzle.simulator.simulate`, 1000 rows a day, seed 0), ingested once
into a workspace and read back with `training_set` (the rows and dtypes the train stage sees):

1. bare: `build_pipeline(spec).fit(X, y)` on the rows `train` fits on (the first 70% by time), so both
   sides do the same fit.
2. stage: what the train stage does in-process, each time in a fresh workspace: `train` (split, fit,
   threshold, metrics, baseline, slices, calibration), `track` (MLflow run, metrics, params, artifacts),
   `register` (skops artifact, model version) and `model_card`. The MLflow store's creation (first use of
   a workspace: sqlite file, migrations, experiment) is timed apart, before it, as `store creation`;
   the first-model gate (`propose`) is timed apart too, after it.

The two are run `--repeat` times, interleaved so machine noise hits both alike; medians are reported with
the ratio stage / bare and the seconds added (target: under 5 s for tracking, registration and the card).
The fit itself is noisy on a shared 2-core machine (OpenMP threads wait for each other when other work
runs), so the seconds the stage adds are also given per round as the stage minus its own fit, whose median
does not carry the fit's noise. `--threads N` limits the fit's threads (threadpoolctl) to take noise out.
3. Once: the wall time of `mlpuzzle run train -w WS -q` (papermill, kernel start, report) on the same
   workspace; the stage holds the last 14 labeled days out for the gate, so it fits on fewer rows.

Results are printed as a table and written to bench/results/train.json.

    .venv/bin/python bench/train.py [--rows 100000] [--repeat 3] [--threads N]
"""
import argparse, json, logging, os, platform, statistics, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
RESULTS = Path(__file__).parent / "results" / "train.json"
BIN = Path(sys.executable).parent


from common import log, timed


def labeled_workspace(d: Path, rows: int):
    "A workspace holding `rows` simulated events with their labels; (workspace, training_set)."
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    from mlpuzzle.data.labels import training_set
    from mlpuzzle.data.store import ingest
    sim = simulate(rows // 1000, seed=0, rows_per_day=1000)
    ws = init_workspace(d / "data", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.labelled().drop(columns="label_time"), profile=False)
    df = training_set(ws)
    assert len(df) == rows, f"expected {rows} labeled rows, got {len(df)}"
    return ws, df


def bare_fit(df, spec) -> float:
    "Seconds of `build_pipeline(spec).fit(X, y)` on the rows `train` fits on."
    from mlpuzzle.models.model import build_pipeline, target, time_split
    tr = time_split(df, spec)[0]
    return timed(build_pipeline(spec).fit, tr, target(tr, spec))[0]


def stage(df, spec, d: Path) -> dict:
    "Seconds of each step of the training stage, in a fresh workspace under `d`."
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import experiment_id, model_card, track
    from mlpuzzle.models.registry import propose, register
    ws = init_workspace(d, spec)
    s = {"store creation": timed(experiment_id, ws)[0]}
    s["train"], r = timed(train, df, spec)
    s["track"], run = timed(track, ws, r, snapshot_ids=["bench"])
    info = {"threshold": r.threshold, "beats_baseline": bool(r.beats_baseline), "test_metrics": r.metrics["test"], "spec_hash": r.spec_hash}
    s["register"], v = timed(register, ws, r.model, run, info)
    s["model_card"], card = timed(model_card, r, spec, version=v)
    s["propose (first model)"], dec = timed(propose, ws, v, df.tail(1000))
    assert v == 1 and dec.promote and "Model card" in card
    return {**s, "fit (inside train)": r.fit_seconds, "train_rows": r.data["train"]["rows"]}


def cli_train(ws) -> dict:
    "Wall seconds of `mlpuzzle run train` on workspace `ws`, and the run's own duration."
    with tempfile.TemporaryDirectory() as rep:
        secs, p = timed(subprocess.run, [BIN / "mlpuzzle", "run", "train", "-w", ws.path, "-q"], capture_output=True, text=True,
                        env={**os.environ, "MLPUZZLE_REPORTS": rep})
    if p.returncode: raise SystemExit(f"mlpuzzle run train failed: {p.stderr}")
    from mlpuzzle.loop.runs import list_runs
    return {"wall_s": secs, "run_duration_s": list_runs(ws, 1)[0]["duration_s"], "stdout": p.stdout.strip()}


STEPS = ("train", "track", "register", "model_card")


def main(rows: int, repeat: int, threads: int | None):
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads); os.environ["OMP_NUM_THREADS"] = str(threads)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        log(f"simulating and ingesting {rows:,} labeled rows...")
        ws, df = labeled_workspace(d, rows)
        spec = ws.spec
        bare, runs = [], []
        bare_fit(df.head(5000), spec); stage(df.head(5000), spec, d / "warm")  # imports and caches, not timed
        for i in range(repeat):
            bare.append(bare_fit(df, spec))
            runs.append(stage(df, spec, d / f"ws{i}"))
            log(f"  round {i + 1}/{repeat}: bare fit {bare[-1]:.2f} s, stage {sum(runs[-1][k] for k in STEPS):.2f} s "
                f"(+ store creation {runs[-1]['store creation']:.2f} s)")
        log("mlpuzzle run train (once)...")
        cli = cli_train(ws)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    stage_s = statistics.median(sum(r[k] for k in STEPS) for r in runs)
    bare_s = statistics.median(bare)
    card_track_reg = statistics.median(sum(r[k] for k in ("track", "register", "model_card")) for r in runs)
    non_fit = statistics.median(sum(r[k] for k in STEPS) - r["fit (inside train)"] for r in runs)
    out = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": rows, "train_rows": runs[0]["train_rows"],
           "repeat": repeat, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_start": load0,
                                         "loadavg_end": os.getloadavg(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                                         "threads_limit": threads},
           "median_s": {"bare fit": bare_s, "stage (train+track+register+card)": stage_s, **med},
           "ratio_stage_over_bare": stage_s / bare_s, "added_s": stage_s - bare_s, "added_excluding_fit_s": non_fit,
           "added_tracking_registration_card_s": card_track_reg, "target_added_s": 5.0,
           "mlpuzzle_run_train": cli, "samples": {"bare fit": bare, "stage": runs}}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    rowsfmt = [("bare build_pipeline(spec).fit", bare_s), ("stage: train (split, fit, evaluate)", med["train"]),
               ("  of which the fit", med["fit (inside train)"]), ("stage: track (MLflow)", med["track"]),
               ("stage: register (skops + version)", med["register"]), ("stage: model_card", med["model_card"]),
               ("stage total", stage_s), ("first-time store creation (apart)", med["store creation"]),
               ("first-model gate, propose (apart)", med["propose (first model)"]),
               ("mlpuzzle run train, wall (once)", cli["wall_s"])]
    print(f"{rows:,} labeled rows, {out['train_rows']:,} fitted on; medians of {repeat} interleaved rounds\n")
    print(f"{'what':<40} {'seconds':>8}")
    for k, v in rowsfmt: print(f"{k:<40} {v:>8.2f}")
    print(f"\nstage / bare: {out['ratio_stage_over_bare']:.2f}x; added {out['added_s']:+.2f} s (medians); the stage minus its own fit: "
          f"{non_fit:.2f} s, of which tracking, registration and the card {card_track_reg:.2f} s (target < 5 s)\nwritten to {RESULTS}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000, help="labeled rows, a multiple of 1000 (default: 100000)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds of each (default: 3)")
    ap.add_argument("--threads", type=int, help="limit the fit's threads to N (default: the libraries' own)")
    a = ap.parse_args()
    main(a.rows, a.repeat, a.threads)
