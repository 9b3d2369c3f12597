"""Throughput of whylogs profiling in parallel worker processes against a bare `why.log` of the same table,
profile sizes, merge time, and drift time from stored profiles, in one run.

What it measures, on a generated, seeded table of `--rows` rows x 20 columns (8 skewed floats, 4 ints,
5 string categoricals with uneven frequencies, some with nulls, 3 booleans) written to a Parquet file
with `--row-groups` row groups in a temporary directory (generation and writing are not timed):

1. Bare anchor: the file read into pandas (`pq.read_table(...).to_pandas()`, not timed), then
   `why.log(pandas=df).view()` (through `mlpuzzle.base.compat.profile_frame`) timed, best of `--repeat`.
2. Parallel, end to end: a worker pool (`concurrent.futures.ProcessPoolExecutor`) is started INSIDE the
   timed region; each task reads its own row groups (and columns) of the Parquet file with
   `pq.ParquetFile.read_row_groups`, profiles them and returns `view.serialize()`; the parent
   deserializes (`DatasetProfileView.deserialize`) and merges as results arrive; the timed region ends
   after the pool has shut down. Variants: start method fork vs spawn; one row partition per worker,
   2 per worker, one per row group; columns split (numeric vs other) across 2 processes, and numeric vs
   other x row partitions. For information, also with a pool started (and warmed up: whylogs imported)
   before the timed region. Each variant is run `--repeat` times interleaved with the bare call; the
   best time counts. Every merged profile is checked against the bare one: counts/*, types/* and
   distribution/n of every column equal, and each numeric column's median within 1% rank error of the
   data (asserted). The headline is the fastest correct variant whose pool starts inside the timed region.
3. Serialized size per column of the bare `--rows`-row profile (bytes, by column type).
4. Merge of 60 "daily" profiles of `--window-rows` rows each (plus a `p_1` column): merging the 60
   views in memory (`mlpuzzle.monitoring.monitor.merge_views`), and deserializing + merging the 60 byte strings.
5. Drift of 20 features (+ the prediction `p_1`) x 60 windows from stored profiles: the 60 window
   profiles and a reference profile (`--reference-rows` rows) written to disk, then timed: reading them
   (`mlpuzzle.base.compat.read_profile`) and `mlpuzzle.monitoring.drift.drift(view, reference, spec)` for each window.
   The last 20 windows carry a shift in two numeric and one categorical feature, so drift has something
   to find.

whylogs is imported only through `mlpuzzle.base.compat`. The 1-minute load average is recorded before and
after; if it is above 0.5 at the start, the run waits up to 2 minutes for it to drop. The CPU time other
processes used during each timed sample (from /proc/stat) is recorded too, so a busy machine shows. Results are
printed as a table and written to bench/results/profile.json.

    .venv/bin/python bench/profiling.py [--rows 1000000] [--workers 2] [--repeat 3]
"""
import argparse, concurrent.futures, json, multiprocessing, os, platform, resource, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "profile.json"
WINDOWS = 60
TARGET, STRETCH = 1.5, 1.8


from common import log, timed


## Data

def generate(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """`n` rows x 20 columns like a real table: skewed floats (some with NaN), ints, string categoricals with uneven
    frequencies (one with nulls), booleans. `shift` > 0 moves `amount`, `latency_ms` and the mix of `channel`."""
    rng = np.random.default_rng(seed)

    def nulls(a: np.ndarray, share: float) -> np.ndarray:
        a = a.astype(object if a.dtype.kind in "US" else float)
        a[rng.random(len(a)) < share] = None if a.dtype == object else np.nan
        return a

    def pick(vals, weights):
        w = np.asarray(weights, float)
        return rng.choice(np.array(vals), n, p=w / w.sum())

    return pd.DataFrame({
        "amount": nulls(np.round(rng.lognormal(3 + shift, 1.2, n), 2), 0.05),
        "balance": np.round(rng.gamma(1.5, 800, n) - 500, 2),
        "ratio": nulls(np.round(rng.beta(2, 5, n), 4), 0.10),
        "latency_ms": np.round(rng.exponential(80 * (1 + shift), n), 1),
        "temperature": np.round(rng.normal(20, 5, n), 1),
        "discount": nulls(np.round(rng.uniform(0, 0.5, n), 3), 0.30),
        "income": np.round(rng.pareto(2.5, n) * 20000, 0),
        "score": rng.random(n),
        "age": rng.integers(18, 91, n),
        "n_items": rng.poisson(3, n),
        "visits_30d": rng.negative_binomial(2, 0.2, n),
        "tenure_days": rng.geometric(0.002, n),
        "channel": pick(["web", "app", "store", "phone", "partner"], [50 - 30 * shift, 30 + 30 * shift, 12, 6, 2]),
        "region": pick(["north", "south", "east", "west", "central", "abroad"], [30, 25, 20, 15, 9, 1]),
        "plan": nulls(pick(["free", "basic", "pro", "enterprise"], [60, 28, 10, 2]), 0.02),
        "device": pick([f"model_{i:03d}" for i in range(200)], 1 / np.arange(1, 201)),
        "country": pick([f"c{i:02d}" for i in range(40)], 1 / np.arange(1, 41) ** 1.5),
        "is_member": rng.random(n) < 0.4,
        "has_coupon": rng.random(n) < 0.15,
        "churned": rng.random(n) < 0.05,
    })


def kind(dtype) -> str:
    "float, int, bool or string."
    return "bool" if pd.api.types.is_bool_dtype(dtype) else "float" if pd.api.types.is_float_dtype(dtype) else \
        "int" if pd.api.types.is_integer_dtype(dtype) else "string"


def write_parquet(df: pd.DataFrame, path: Path, row_groups: int) -> int:
    "Write `df` to `path` in `row_groups` row groups; return the number of row groups written."
    import pyarrow as pa, pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=-(-len(df) // row_groups))
    return pq.ParquetFile(path).num_row_groups


## Workers

def profile_part(path: str, row_groups: list, columns: list | None = None) -> tuple:
    "(serialized profile view, timings) of row groups `row_groups` (`columns`, default all) of Parquet file `path`."
    t0 = time.perf_counter()
    import pyarrow.parquet as pq
    from mlpuzzle.base.compat import profile_frame  # whylogs, through its one door (already imported in a forked worker)
    t1 = time.perf_counter()
    df = pq.ParquetFile(path).read_row_groups(row_groups, columns=columns, use_threads=False).to_pandas()  # the cores are busy anyway
    t2 = time.perf_counter()
    view = profile_frame(df)
    t3 = time.perf_counter()
    data = view.serialize()
    t4 = time.perf_counter()
    return data, {"pid": os.getpid(), "rows": len(df), "columns": df.shape[1], "import_s": t1 - t0, "read_s": t2 - t1,
                  "profile_s": t3 - t2, "serialize_s": t4 - t3, "bytes": len(data)}


def warm(_=None) -> int:
    "Import whylogs in a worker; hold it a moment so that every worker of the pool gets one call."
    from mlpuzzle.base.compat import profile_frame  # noqa: F401
    time.sleep(0.3)
    return os.getpid()


def tasks_for(variant: dict, n_groups: int, workers: int, numeric: list, other: list) -> list:
    "[(row groups, columns)] of a variant."
    parts = {"rows": workers, "rows2": 2 * workers, "groups": n_groups, "cols": 1, "colsrows": workers}[variant["split"]]
    groups = [a.tolist() for a in np.array_split(np.arange(n_groups), min(parts, n_groups))]
    cols = [numeric, other] if variant["split"] in ("cols", "colsrows") else [None]
    return [(g, c) for g in groups for c in cols]


def run_parallel(path: Path, tasks: list, workers: int, method: str, pool=None) -> tuple:
    """(seconds, merged view, details) of profiling `tasks` in a pool of `workers` processes started with `method`
    (started and shut down inside the timed region unless `pool` is given) and merging the results as they arrive."""
    from whylogs.core import DatasetProfileView  # after mlpuzzle.base.compat (imported in main)
    t0 = time.perf_counter()
    own = pool is None
    if own: pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
    merged, stats, merge_s, first = None, [], 0.0, None
    try:
        futs = [pool.submit(profile_part, str(path), g, c) for g, c in tasks]
        for f in concurrent.futures.as_completed(futs):
            data, st = f.result()
            tm = time.perf_counter()
            first = first or tm - t0
            v = DatasetProfileView.deserialize(data)
            merged = v if merged is None else merged.merge(v)
            merge_s += time.perf_counter() - tm
            stats.append(st)
    finally:
        if own: pool.shutdown()
    total = time.perf_counter() - t0
    return total, merged, {"tasks": len(tasks), "processes": len({s["pid"] for s in stats}), "deserialize_merge_s": merge_s,
                           "first_result_s": first, "worker_profile_s_sum": sum(s["profile_s"] for s in stats),
                           "worker_read_s_sum": sum(s["read_s"] for s in stats), "worker_import_s_max": max(s["import_s"] for s in stats),
                           "bytes_returned": sum(s["bytes"] for s in stats), "per_task": stats}


## Checks

EXACT = ("counts/", "types/", "distribution/n")


def check(view, bare, df: pd.DataFrame, numeric: list) -> dict:
    """Assert `view` equals `bare` on counts, types and distribution/n of every column, and that each numeric column's
    median (in both) is within 1% rank error of the data; return the largest rank errors."""
    assert set(view.get_columns()) == set(bare.get_columns()) == set(df.columns), "columns differ"
    for c in df.columns:
        a, b = view.get_column(c).to_summary_dict(), bare.get_column(c).to_summary_dict()
        for k in b:
            if k.startswith(EXACT): assert a[k] == b[k], f"{c}: {k} {a[k]} != {b[k]}"
    err = {"merged": 0.0, "bare": 0.0}
    for c in numeric:
        x = np.sort(df[c].to_numpy(float))
        x = x[~np.isnan(x)]
        for name, v in (("merged", view), ("bare", bare)):
            q = v.get_column(c).to_summary_dict()["distribution/median"]
            lo, hi = np.searchsorted(x, q, "left") / len(x), np.searchsorted(x, q, "right") / len(x)
            e = 0.0 if lo <= 0.5 <= hi else min(abs(lo - 0.5), abs(hi - 0.5))
            assert e <= 0.01, f"{c}: {name} median {q} has rank error {e:.4f}"
            err[name] = max(err[name], e)
    return {"exact_equal": True, "max_median_rank_error": err}


## Sizes, merge and drift

def sizes(view, df: pd.DataFrame) -> dict:
    "Serialized bytes of each column of `view`, and by column type."
    per = {c: len(view.get_column(c).to_protobuf().SerializeToString()) for c in df.columns}
    by = {}
    for c, b in per.items(): by.setdefault(kind(df[c].dtype), []).append(b)
    return {"total_bytes": len(view.serialize()), "per_column": per,
            "by_type": {k: {"columns": len(v), "mean": float(np.mean(v)), "min": min(v), "max": max(v)} for k, v in by.items()}}


def with_p1(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    "`df` with a prediction column `p_1` in [0, 1]."
    return df.assign(p_1=np.random.default_rng(seed).beta(2, 8, len(df)))


def windows_and_drift(root: Path, a) -> dict:
    "Profile 60 windows and a reference; time merging the 60; write them to disk; time reading them and drift."
    from mlpuzzle.base.compat import profile_frame, read_profile
    from mlpuzzle.monitoring.drift import drift
    from mlpuzzle.base.compat import merge_views
    from whylogs.core import DatasetProfileView
    t0 = time.perf_counter()
    views = [profile_frame(with_p1(generate(a.window_rows, seed=100 + i, shift=0.5 if i >= WINDOWS - 20 else 0.0), 100 + i))
             for i in range(WINDOWS)]
    profile_windows_s = time.perf_counter() - t0
    blobs = [v.serialize() for v in views]
    ref_df = with_p1(generate(a.reference_rows, seed=99), 99)
    ref_profile_s, ref = timed(profile_frame, ref_df)
    mem, des = [], []
    for _ in range(3):
        s, merged = timed(merge_views, views)
        mem.append(s)
        s, merged2 = timed(lambda: merge_views([DatasetProfileView.deserialize(b) for b in blobs]))
        des.append(s)
    n = a.window_rows * WINDOWS
    for m in (merged, merged2):
        assert all(m.get_column(c).to_summary_dict()["counts/n"] == n for c in ref_df.columns), "merge lost rows"

    d = root / "profiles"
    d.mkdir()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # DatasetProfileView.write: the format mlpuzzle stores
        for i, v in enumerate(views): v.write(str(d / f"w{i:02d}.bin"))
        ref.write(str(d / "reference.bin"))
    disk = sum(p.stat().st_size for p in d.glob("w*.bin"))
    spec = {"problem": "binary",
            "features": {c: {"type": {"float": "numeric", "int": "numeric", "string": "categorical", "bool": "boolean"}[kind(ref_df[c].dtype)],
                             "open": True, "values": None} for c in ref_df.columns if c != "p_1"},
            "monitoring": {"drift": {"p_value": 0.05, "distance": 0.1, "features": {}}}}

    def run() -> tuple:
        read_s = drift_s = 0.0
        t = time.perf_counter()
        reference = read_profile(d / "reference.bin")
        read_s += time.perf_counter() - t
        out = []
        for i in range(WINDOWS):
            t = time.perf_counter()
            v = read_profile(d / f"w{i:02d}.bin")
            t2 = time.perf_counter()
            out.append(drift(v, reference, spec).assign(window=i))
            read_s, drift_s = read_s + t2 - t, drift_s + time.perf_counter() - t2
        return read_s, drift_s, pd.concat(out, ignore_index=True)

    runs = []
    for _ in range(2):
        s, (read_s, drift_s, res) = timed(run)
        runs.append({"total_s": s, "read_s": read_s, "drift_s": drift_s})
    best = min(runs, key=lambda r: r["total_s"])
    assert len(res) == WINDOWS * (len(spec["features"]) + 1) and res.test.notna().all(), "drift left columns untested"
    late = res.window >= WINDOWS - 20
    flagged = lambda m: sorted(res[m & (res.status == "drift")].column.unique().tolist())
    return {"windows": WINDOWS, "window_rows": a.window_rows, "columns": ref_df.shape[1], "profile_windows_s": profile_windows_s,
            "reference_rows": a.reference_rows, "profile_reference_s": ref_profile_s,
            "merge_60_in_memory_s": min(mem), "merge_60_in_memory_samples_s": mem,
            "deserialize_merge_60_s": min(des), "deserialize_merge_60_samples_s": des,
            "window_profile_bytes_mean": float(np.mean([len(b) for b in blobs])), "window_files_bytes": disk,
            "drift": {**best, "samples": runs, "features": len(spec["features"]), "tests_per_window": len(spec["features"]) + 1,
                      "per_window_ms": 1000 * best["total_s"] / WINDOWS,
                      "tests": res.test.value_counts().to_dict(),
                      "status_first_40": res[~late].status.value_counts().to_dict(), "status_last_20": res[late].status.value_counts().to_dict(),
                      "drifted_columns_first_40": flagged(~late), "drifted_columns_last_20": flagged(late)},
            "spec": spec}


## Report

class OtherCPU:
    "CPU used by other processes of the machine (busy CPU time in /proc/stat less this process's and its reaped children's) and steal time, from creation to `stop()`."
    @staticmethod
    def _mark() -> tuple:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, open("/proc/stat").readline().split()[1:9])
        hz, me, kids = os.sysconf("SC_CLK_TCK"), resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return (user + nice + system + irq + softirq) / hz, steal / hz, me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, time.perf_counter()

    def __init__(self): self.start = self._mark()

    def stop(self) -> dict:
        d = [b - a for a, b in zip(self.start, self._mark())]
        return {"other_cpu_s": round(max(d[0] - d[2], 0.0), 2), "steal_s": round(d[1], 2), "share_of_one_core": round(max(d[0] - d[2], 0.0) / d[3], 3)}


def machine() -> dict:
    import pyarrow, whylogs
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "pandas": pd.__version__, "numpy": np.__version__,
            "pyarrow": pyarrow.__version__, "whylogs": whylogs.__version__,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def wait_for_quiet(limit: float = 120, level: float = 0.5) -> dict:
    "Wait up to `limit` s for the 1-minute load average to drop to `level`."
    first = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    if first[0] > level: log(f"load average {first[0]} > {level}: waiting up to {limit:.0f} s for it to drop")
    while os.getloadavg()[0] > level and time.perf_counter() - t0 < limit: time.sleep(5)
    return {"load_initial": first, "waited_s": round(time.perf_counter() - t0, 1), "load_before": [round(x, 2) for x in os.getloadavg()]}


def table(res: dict) -> str:
    b, a, h = res["bare"], res["args"], res["headline"]
    lines = [f"{res['rows']:,} rows x {res['columns']} columns, {res['row_groups']} row groups, {a['workers']} workers, best of {a['repeat']}",
             "", f"{'profiling':52} {'seconds':>8} {'rows/s':>10} {'vs bare':>8} {'merge s':>8} {'other CPU':>10}",
             f"{'bare why.log(pandas=df).view() (data in memory)':52} {b['best_s']:8.2f} {b['rows_per_s']:10,.0f} {'1.00x':>8} {'':>8} {b['other_cpu']['other_cpu_s']:9.1f}s"]
    for name, v in res["variants"].items():
        mark = " *" if name == h["variant"] else ""
        lines.append(f"{(name + mark):52} {v['best_s']:8.2f} {v['rows_per_s']:10,.0f} {v['ratio']:7.2f}x {v['details']['deserialize_merge_s']:8.3f} {v['other_cpu']['other_cpu_s']:9.1f}s")
    lines += ["(* headline: fastest correct variant; timed end to end: pool start-up (inside the timed region except the",
              " pre-started row), Parquet reads of each task's own row groups, profiling, deserialize + merge, pool shut-down;",
              " the bare call profiles a DataFrame already in memory. Every merged profile checked: counts/types exact,",
              f" max median rank error {max(v['check']['max_median_rank_error']['merged'] for v in res['variants'].values()):.4f}.",
              " other CPU: CPU seconds other processes of the machine used during the best sample)",
              f"fork vs spawn (one row partition per worker): {res['fork_vs_spawn']}",
              "", f"serialized profile of {res['rows']:,} rows: {res['sizes']['total_bytes']:,} bytes; per column by type:"]
    for k, s in res["sizes"]["by_type"].items():
        lines.append(f"  {k:8} {s['columns']:2} columns  mean {s['mean']:8,.0f}  min {s['min']:8,}  max {s['max']:8,} bytes")
    w, d = res["windows"], res["windows"]["drift"]
    lines += ["", f"{w['windows']} windows of {w['window_rows']:,} rows x {w['columns']} columns (profile ~{w['window_profile_bytes_mean'] / 1024:.0f} KiB each):",
              f"  merge 60 views in memory              {w['merge_60_in_memory_s'] * 1000:8.1f} ms",
              f"  deserialize + merge 60 profiles       {w['deserialize_merge_60_s'] * 1000:8.1f} ms",
              f"  drift, {d['features']} features + p_1 x 60 windows  {d['total_s']:8.2f} s  ({d['per_window_ms']:.0f} ms/window: "
              f"read {d['read_s']:.2f} s, drift() {d['drift_s']:.2f} s; reference {w['reference_rows']:,} rows)",
              f"  status 'drift' in windows 0-39: {d['drifted_columns_first_40'] or 'none'}; in the shifted 40-59: {d['drifted_columns_last_20']}",
              "", "targets: " + ", ".join(f"{k} {'MET' if ok else 'MISSED'}" for k, ok in res["verdicts"].items()),
              f"load average (1, 5, 15 min) at start {res['load']['load_initial']}, after waiting {res['load']['waited_s']} s "
              f"{res['load']['load_before']}, at the end {res['load_after']}; {res['machine']['nproc']} cores"]
    return "\n".join(lines)


VARIANTS = {  # name: start method, split, pool started before the timed region
    "rows, 1 partition/worker, fork": {"method": "fork", "split": "rows"},
    "rows, 1 partition/worker, spawn": {"method": "spawn", "split": "rows"},
    "rows, 2 partitions/worker, fork": {"method": "fork", "split": "rows2"},
    "rows, 1 partition/row group, fork": {"method": "fork", "split": "groups"},
    "columns, numeric | other (2 procs), fork": {"method": "fork", "split": "cols"},
    "columns x rows, numeric | other, fork": {"method": "fork", "split": "colsrows"},
    "rows, 1 partition/worker, fork, pre-started pool": {"method": "fork", "split": "rows", "prestarted": True},
}


def main(a):
    t_start = time.perf_counter()
    load = wait_for_quiet()
    from mlpuzzle.base.compat import profile_frame  # whylogs, through its one door
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as d:
        root = Path(d)
        path = root / "table.parquet"
        log(f"generating {a.rows:,} rows x 20 columns into {a.row_groups} row groups")
        gen_s, df = timed(generate, a.rows, 7)
        n_groups = write_parquet(df, path, a.row_groups)
        del df
        import pyarrow.parquet as pq
        df = pq.read_table(path).to_pandas()  # the bare call's input: the same file, read as the workers read it
        numeric = [c for c in df if kind(df[c].dtype) in ("float", "int")]
        other = [c for c in df if c not in numeric]
        col_types = {c: kind(df[c].dtype) for c in df}
        profile_frame(df.head(1000))  # warm-up (first-call costs), for the bare call and the forked workers alike
        bare_s, bare_other, variants, bare, load_rounds = [], [], {name: [] for name in VARIANTS}, None, []
        for r in range(a.repeat):
            log(f"round {r + 1}/{a.repeat}: bare why.log")
            load_rounds.append([round(x, 2) for x in os.getloadavg()])
            cpu = OtherCPU()
            s, bare = timed(profile_frame, df)
            bare_s.append(s)
            bare_other.append(cpu.stop())
            log(f"  {s:.2f} s ({a.rows / s:,.0f} rows/s)")
            for name, v in VARIANTS.items():
                tasks = tasks_for(v, n_groups, a.workers, numeric, other)
                cpu = OtherCPU()  # (for a pre-started pool, also around its start and warm-up: its workers are reaped at shut-down)
                if v.get("prestarted"):
                    with concurrent.futures.ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context(v["method"])) as pool:
                        list(pool.map(warm, range(a.workers)))
                        s, view, det = run_parallel(path, tasks, a.workers, v["method"], pool)
                else:
                    s, view, det = run_parallel(path, tasks, a.workers, v["method"])
                other_cpu = cpu.stop()
                chk = check(view, bare, df, numeric)
                variants[name].append({"s": s, "details": det, "check": chk, "other_cpu": other_cpu})
                log(f"  {name}: {s:.2f} s ({a.rows / s:,.0f} rows/s, {bare_s[-1] / s:.2f}x this round's bare), "
                    f"{det['tasks']} tasks in {det['processes']} processes, merge {det['deserialize_merge_s']:.3f} s")
        best_bare = min(bare_s)
        out = {}
        for name, runs in variants.items():
            best = min(runs, key=lambda x: x["s"])
            out[name] = {**VARIANTS[name], "best_s": best["s"], "samples_s": [x["s"] for x in runs], "rows_per_s": a.rows / best["s"],
                         "ratio": best_bare / best["s"], "details": best["details"], "check": best["check"],
                         "other_cpu": best["other_cpu"], "other_cpu_samples": [x["other_cpu"] for x in runs]}
        log("profile sizes")
        size = sizes(bare, df)
        del df, bare
        log(f"{WINDOWS} windows of {a.window_rows:,} rows: merge and drift")
        win = windows_and_drift(root, a)
    inside = {k: v for k, v in out.items() if not v.get("prestarted")}
    head = min(inside, key=lambda k: inside[k]["best_s"])
    f, s = out["rows, 1 partition/worker, fork"], out["rows, 1 partition/worker, spawn"]
    res = {"args": vars(a), "rows": a.rows, "columns": 20, "row_groups": n_groups, "generate_s": gen_s,
           "column_types": col_types,
           "bare": {"best_s": best_bare, "samples_s": bare_s, "rows_per_s": a.rows / best_bare, "what": "why.log(pandas=df).view(), df in memory",
                    "other_cpu": bare_other[bare_s.index(best_bare)], "other_cpu_samples": bare_other},
           "variants": out,
           "headline": {"variant": head, "seconds": out[head]["best_s"], "rows_per_s": out[head]["rows_per_s"], "ratio": out[head]["ratio"],
                        "timed_region": "pool start-up, Parquet reads in the workers, profiling, serialization, deserialize + merge, pool shut-down"},
           "fork_vs_spawn": f"fork {f['best_s']:.2f} s, spawn {s['best_s']:.2f} s: {'fork' if f['best_s'] <= s['best_s'] else 'spawn'} is faster "
                            f"(spawned workers import pandas, pyarrow and whylogs again: {s['details']['worker_import_s_max']:.2f} s)",
           "sizes": size, "windows": win, "load": {**load, "at_each_round": load_rounds}, "load_after": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
           "targets": {"ratio_min": TARGET, "ratio_stretch": STRETCH}}
    res["verdicts"] = {f"parallel_ge_{TARGET}x_bare": out[head]["ratio"] >= TARGET, f"stretch_ge_{STRETCH}x_bare": out[head]["ratio"] >= STRETCH}
    res["total_bench_s"] = time.perf_counter() - t_start
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1, default=str))
    print(table(res))
    print(f"\nwritten to {RESULTS} (whole benchmark: {res['total_bench_s']:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated table (default: 1000000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default: 2, the cores here)")
    ap.add_argument("--row-groups", type=int, default=16, help="row groups of the Parquet file (default: 16)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the bare call and of each variant, interleaved; best counts (default: 3)")
    ap.add_argument("--window-rows", type=int, default=10_000, help="rows of each of the 60 windows (default: 10000)")
    ap.add_argument("--reference-rows", type=int, default=100_000, help="rows of the reference profile (default: 100000)")
    main(ap.parse_args())
