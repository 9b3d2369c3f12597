"""The dask engine against the pandas engine on `--rows` (default 10M) rows, in one run:

1. **Ingestion with profiling** (read, validate against the contract, whylogs profiles per window, write the
   snapshot) of one Parquet file of generated rows (bench/ingest.py's table: an id, an event time, a target
   and 17 features; the event times spread over `--days` daily windows), by the pandas engine (one process),
   then by the dask engine on a LocalCluster of `--workers` (2) worker processes with `--worker-memory`
   (1 GiB) each. Both snapshots must have the same content hash.
2. **Batch scoring with profiling** (predictions of the champion, written to Parquet, profiled per window) of
   that snapshot, pandas engine then dask engine; the predictions must be the same.
3. **Larger than a worker's memory**: the pandas engine runs each job again as one task on a single dask
   worker with the same memory limit (the nanny kills a worker past 95% of it, as for the dask engine's
   workers), to show whether the job fits in one worker's memory.

Each job runs in a child process started for it, so peak memory is the job's own: the peak RSS
(VmHWM) of the pandas process, and of each dask worker process and of the client (which also runs the
local cluster's scheduler). Cluster start-up
is not counted in the times. Results are printed as a table and written to bench/results/scale.json.

    .venv/bin/python bench/scale.py [--rows 10000000] [--workers 2] [--worker-memory 1GiB] [--only score]

`--only ingest` or `--only score` runs one job's measurements (`--only score` still ingests the source once, with
the pandas engine, for a snapshot to score; its ingestion is not reported) and writes them to
bench/results/scale-only-JOB.json; bench/results/scale.json is written only by a run of everything.
"""
import argparse, json, os, platform, resource, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from common import log

RESULTS = Path(__file__).parent / "results" / "scale.json"
CHUNK_ROWS = 250_000  # rows per chunk, and per Parquet row group of the source
PARTITION_ROWS = 1_000_000  # rows per dask partition
NOW = "2025-06-01"


def _peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes: VmHWM, the high-water mark of this program's own memory.
    (Not `ru_maxrss`: Linux carries the parent's RSS at fork over into the child's `ru_maxrss` across exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


## The jobs (each in a child process: `bench/scale.py --job ...`)

def job(what: str, ws: str, engine: str, workers: int, memory: str | None) -> dict:
    "Run `what` (ingest or score) on workspace `ws` with `engine`; with engine pandas and `memory`: as one task on a worker of that limit."
    import dask
    from functools import partial
    from mlpuzzle.serving.score import score
    from mlpuzzle.data.store import ingest
    fn = partial(ingest, ws, profile=True, now=NOW) if what == "ingest" else partial(score, ws, profile=True)
    dask.config.set({"distributed.scheduler.allowed-failures": 0})  # a worker killed for memory fails the job at once
    out = {"job": what, "engine": engine, "worker_memory": memory}
    if engine == "pandas" and not memory:
        t = time.perf_counter()
        res = fn(engine="pandas")
        return {**out, "seconds": time.perf_counter() - t, "finished": True, "result": _summary(what, res), "peak_rss": {"process": _peak_rss()}}
    import logging
    from distributed import Client, LocalCluster
    t = time.perf_counter()
    with LocalCluster(n_workers=workers if engine == "dask" else 1, threads_per_worker=1, memory_limit=memory, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        out["cluster_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            res = fn(engine="dask", scheduler=cluster.scheduler_address) if engine == "dask" else client.submit(fn, engine="pandas", pure=False).result()
            out.update(finished=True, result=_summary(what, res))
        except Exception as e:
            out.update(finished=False, error=f"{type(e).__name__}: {' '.join(str(e).split())[:300]}")
        out["seconds"] = time.perf_counter() - t
        out["peak_rss"] = {"workers": sorted(client.run(_peak_rss).values(), reverse=True), "client": _peak_rss()}
    return out


def _summary(what, res) -> list:
    if what == "ingest": return [{k: m.get(k) for k in ("status", "id", "content_hash", "rows", "engine")} for m in res]
    return [{k: r.get(k) for k in ("status", "rows", "path")} for r in res]


def run_job(*args) -> dict:
    "Run `job(*args)` in a child process; its result."
    p = subprocess.run([sys.executable, __file__, "--job", *map(str, args)], capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode or not lines: raise SystemExit(f"job {args} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(lines[-1])


## Data, workspaces, model

def make_source(path: Path, rows: int, days: int) -> dict:
    """Write `rows` generated rows to Parquet `path` (row groups of CHUNK_ROWS), a million at a time, their event times
    spread evenly over `days` days (so over `days` daily monitoring windows); sizes on disk and in memory."""
    import pyarrow as pa, pyarrow.parquet as pq
    from ingest import generate
    writer, mem = None, 0
    for i, start in enumerate(range(0, rows, 1_000_000)):
        df = generate(min(1_000_000, rows - start), seed=2000 + i, first_id=start)
        df["event_time"] = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta((start + np.arange(len(df))) * (days * 86400 / rows), unit="s").astype("timedelta64[us]")
        mem += int(df.memory_usage(deep=True).sum())
        t = pa.Table.from_pandas(df, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, t.schema)
        writer.write_table(t, row_group_size=CHUNK_ROWS)
    writer.close()
    return {"rows": rows, "days": days, "parquet_mib": path.stat().st_size / 2**20, "in_memory_mib": mem / 2**20}


def workspace(root: Path, name: str, source: Path):
    from ingest import draft_spec, generate
    from mlpuzzle.base.workspace import init_workspace
    spec, _ = draft_spec(generate(50_000, seed=1))
    spec["source"] = {**spec["source"], "kind": "parquet", "path": str(source), "chunk_rows": CHUNK_ROWS}
    spec["engine"] = {"partition_rows": PARTITION_ROWS}
    return init_workspace(root / name, spec)


def champion(ws, rows: int = 200_000):
    "Train, register and promote a model on the first `rows` rows of the workspace's snapshot."
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import track
    from mlpuzzle.models.registry import propose, register
    from mlpuzzle.data.store import snapshot_files, snapshots
    f = pq.ParquetFile(snapshot_files(ws, snapshots(ws)[0])[0])
    data = f.read_row_groups(range(max(1, rows // CHUNK_ROWS))).to_pandas()
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    v = register(ws, r.model, track(ws, r), {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]})
    assert propose(ws, v, data.tail(5000)).promote
    return v


def predictions(ws) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(ws.dir("predictions").glob("*.parquet"))], ignore_index=True)


def clear_predictions(ws):
    shutil.rmtree(ws.dir("predictions")); shutil.rmtree(ws.dir("profiles") / "predictions", ignore_errors=True)
    ws.dir("predictions")


## Report

def machine() -> dict:
    import dask, distributed, sklearn
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return {"nproc": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version(),
            "dask": dask.__version__, "distributed": distributed.__version__, "sklearn": sklearn.__version__,
            "git_commit": git("rev-parse", "HEAD"), "git_dirty_files": len(git("status", "--porcelain").splitlines()),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def mib(b) -> str: return f"{b / 2**20:,.0f} MiB"


def table(res: dict) -> str:
    src, lines, jobs = res["source"], [], [w for w in ("ingest", "score") if "dask" in res[w]]
    lines.append(f"{src['rows']:,} rows x 20 columns over {src['days']} days: {src['parquet_mib']:,.0f} MiB of Parquet, {src['in_memory_mib']:,.0f} MiB as a DataFrame; "
                 f"dask: {res['workers']} workers of {res['worker_memory']} each, partitions of {PARTITION_ROWS:,} rows, chunks of {CHUNK_ROWS:,}")
    lines.append(f"{'job':<8} {'engine':<7} {'seconds':>8} {'rows/s':>10} {'speedup':>8}  peak memory")
    for what in jobs:
        p, d = res[what]["pandas"], res[what]["dask"]
        for r in (p, d):
            peak = (f"process {mib(r['peak_rss']['process'])}" if "process" in r["peak_rss"] else
                    f"workers {', '.join(mib(x) for x in r['peak_rss']['workers'])}; client {mib(r['peak_rss']['client'])}")
            sp = f"{p['seconds'] / r['seconds']:.2f}x" if r is d else ""
            lines.append(f"{what:<8} {r['engine']:<7} {r['seconds']:>8.1f} {src['rows'] / r['seconds']:>10,.0f} {sp:>8}  {peak}")
    same = {"ingest": "same snapshot content hash", "score": "same predictions"}
    key = {"ingest": "same_content_hash", "score": "same_predictions"}
    lines.append("; ".join(f"{same[w]}: {res[w][key[w]]}" for w in jobs))
    for what in jobs:
        l = res[what]["pandas_in_one_worker"]
        lines.append(f"pandas {what} as one task on a worker of {res['worker_memory']}: " +
                     (f"finished in {l['seconds']:.0f} s, worker peak {mib(l['peak_rss']['workers'][0])}" if l["finished"] else f"did not finish ({l['error']})"))
    return "\n".join(lines)


def main(rows: int, days: int, workers: int, memory: str, only: str | None = None):
    root = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        log(f"writing {rows:,} rows of Parquet ...")
        source = root / "events.parquet"
        res = {"source": make_source(source, rows, days), "workers": workers, "worker_memory": memory, "machine": machine()}
        ws_p, ws_d, ws_l = (workspace(root, n, source) for n in ("pandas", "dask", "limited"))
        res["ingest"], res["score"] = {}, {}
        for engine, ws in (("pandas", ws_p), ("dask", ws_d)) if only != "score" else (("pandas", ws_p),):
            log(f"ingest, {engine} engine ...")
            res["ingest"][engine] = run_job("ingest", ws.path, engine, workers, memory if engine == "dask" else "")
        if only == "score": res["ingest"] = {}  # only made the snapshot to score
        else:
            hashes = [res["ingest"][e]["result"][0]["content_hash"] for e in ("pandas", "dask")]
            res["ingest"]["same_content_hash"] = hashes[0] == hashes[1]
        if only != "ingest": score_jobs(res, ws_p, rows, workers, memory)
        if only != "score":
            log(f"ingest, pandas engine as one task on a worker of {memory} ...")
            res["ingest"]["pandas_in_one_worker"] = run_job("ingest", ws_l.path, "pandas", workers, memory)
        res["speedup"] = {w: res[w]["pandas"]["seconds"] / res[w]["dask"]["seconds"] for w in ("ingest", "score") if "dask" in res[w]}
        print(table(res))
        out = RESULTS if not only else RESULTS.with_name(f"scale-only-{only}.json")
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(res, indent=1, default=str))
        log(f"wrote {out}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def score_jobs(res: dict, ws_p, rows: int, workers: int, memory: str):
    "The scoring measurements on workspace `ws_p` (its snapshot ingested), into `res['score']`."
    log("training the champion on 200,000 rows ...")
    res["champion"] = champion(ws_p)
    log("score, pandas engine ...")
    res["score"]["pandas"] = run_job("score", ws_p.path, "pandas", workers, "")
    a = predictions(ws_p)
    clear_predictions(ws_p)
    log("score, dask engine ...")
    res["score"]["dask"] = run_job("score", ws_p.path, "dask", workers, memory)
    b = predictions(ws_p)
    key = ws_p.spec["columns"]["id"]
    a, b = (x.sort_values(key, ignore_index=True) for x in (a, b))
    res["score"]["same_predictions"] = bool(len(a) == len(b) == rows and a[key].equals(b[key]) and a["prediction"].equals(b["prediction"])
                                            and np.allclose(a["p_1"], b["p_1"], rtol=0, atol=1e-12))
    del a, b
    clear_predictions(ws_p)
    log(f"score, pandas engine as one task on a worker of {memory} ...")
    res["score"]["pandas_in_one_worker"] = run_job("score", ws_p.path, "pandas", workers, memory)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        what, ws, engine, workers, memory = sys.argv[2:7]
        print(json.dumps(job(what, ws, engine, int(workers), memory or None), default=str))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the source (default: 10000000)")
    ap.add_argument("--days", type=int, default=10, help="days (daily monitoring windows) the event times span (default: 10)")
    ap.add_argument("--workers", type=int, default=2, help="dask worker processes (default: 2)")
    ap.add_argument("--worker-memory", default="1GiB", help="memory limit of each dask worker (default: 1GiB)")
    ap.add_argument("--only", choices=("ingest", "score"), help="run this job's measurements only (default: both)")
    a = ap.parse_args()
    main(a.rows, a.days, a.workers, a.worker_memory, a.only)
