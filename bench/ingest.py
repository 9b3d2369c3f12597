"""Speed and memory of `mlpuzzle.data.store.ingest` against bare pandas readers, in one run.

What it measures, on a generated, seeded table of clean data (an id, an event time, a binary
target and 17 features: floats with NaN, ints, categoricals, booleans):

1. Time of ingest (profile=False: read, validate against the contract, write the snapshot) of a
   `--rows`-row Parquet file and CSV file, each into a fresh workspace, against the bare anchors
   `pd.read_parquet(file)` and `pd.read_csv(file)`. Each is run `--repeat` times, interleaved, and
   the medians are reported as seconds, rows/s and the ratio ingest / anchor (targets stated in issue 17:
   ingest of Parquet at most 2x a bare `pd.read_parquet`, of CSV at most 2.5x a bare `pd.read_csv`, whylogs
   not counted). A second anchor in the same rounds, the copy: the same reader, then `to_parquet` of the frame
   into a file (snappy, as a snapshot is written; no fsync), the least a store of the file's rows costs. Its
   ratio says how much of ingestion's time is the checks, hashes and bookkeeping rather than reading and writing.
   Each measurement is taken twice in a row and the second kept: the first read after another job freed
   its memory pays for page faults (pd.read_parquet of 1M rows: 0.9 s cold, 0.25 s warm), which made the
   interleaved anchor swing from 0.26 s to 1.6 s and the ratio with it.
2. Profiles: `mlpuzzle.base.compat.profile_frame` on the whole table (whylogs profiling the frame at once), and
   ingest of the same Parquet file with profile=True (the default), which profiles the accepted rows per
   monitoring window: the event times spread over a year and the drafted spec's window is one day, so
   every chunk meets all 366 daily windows. Interleaved, `--whylogs-repeat` rounds, medians, and the ratio
   profiled ingest / profile_frame (target stated in issue 17: at most 1.2x).
3. Peak RSS of a subprocess that streams a `--big-rows`-row CSV (written in chunks) through ingest
   with chunk_rows 200000 and profile=False (target: under 1 GiB), next to the peak RSS of a
   subprocess that only imports pandas and mlpuzzle.data.store.
4. The top hotspots of one Parquet ingest under cProfile: mlpuzzle functions by cumulative time,
   and the pandas/pyarrow/numpy calls they make directly. cProfile sees the calling thread only: the reading,
   checking and hashing that `core.read_ahead` does a chunk ahead in its own thread show as waits on its
   `result`, and the Parquet writes as waits in the snapshot writer (py-spy --threads sees them all).

The spec is drafted with `mlpuzzle.data.infer.infer_spec` from the generated table; every manifest is
checked (rows read == accepted == rows generated, none quarantined) so the benchmark cannot time
a run that stored something else. Files are generated in a temporary directory, removed at the
end. Results are printed as a table and written to bench/results/ingest.json.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--big-rows 5000000] [--repeat 3] [--whylogs-repeat 3]
"""
import argparse, cProfile, json, os, platform, pstats, re, shutil, statistics, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

NOW = "2025-06-01"  # `now` passed to ingest: every generated event time is before it
CHUNK_ROWS = 200_000
RESULTS = Path(__file__).parent / "results" / "ingest.json"


from common import log, timed


## Data

def _with_nulls(rng, a: np.ndarray, share: float) -> np.ndarray:
    "`a` as float (or object, for text) with `share` of its values set to null."
    a = a.astype(object if a.dtype.kind in "US" else float)
    a[rng.random(len(a)) < share] = None if a.dtype == object else np.nan
    return a


def generate(n: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """`n` rows of clean event data: id, event time (2024, UTC), binary target, 17 features, each clipped at bounds
    that a sample of 50k rows already reaches (so a spec drafted from one sample accepts every other)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-01-01", tz="UTC").value // 1000  # microseconds
    year_us = 366 * 86400 * 10**6
    pick = lambda vals, p=None: rng.choice(np.array(vals), n, p=p)
    return pd.DataFrame({
        "event_id": np.arange(first_id, first_id + n, dtype=np.int64),
        "event_time": pd.to_datetime(t0 + rng.integers(0, year_us, n), unit="us", utc=True),
        "amount": _with_nulls(rng, np.round(np.clip(rng.lognormal(3, 1, n), 0, 500), 2), 0.05),
        "score": np.round(rng.random(n), 4),
        "ratio": _with_nulls(rng, np.round(rng.beta(2, 5, n), 4), 0.10),
        "temperature": np.round(np.clip(rng.normal(20, 5, n), 5, 35), 1),
        "distance_km": _with_nulls(rng, np.round(rng.uniform(0, 500, n), 3), 0.02),
        "balance": np.round(rng.uniform(-1000, 5000, n), 2),
        "latency_ms": np.round(np.clip(rng.exponential(80, n), 0, 400), 1),
        "discount": _with_nulls(rng, np.round(rng.uniform(0, 0.5, n), 3), 0.30),
        "age": rng.integers(18, 91, n),
        "n_items": np.clip(rng.poisson(3, n), 0, 10),
        "day_of_week": rng.integers(0, 7, n),
        "visits_30d": np.clip(rng.poisson(8, n), 0, 20),
        "channel": pick(["web", "app", "store", "phone"], [0.5, 0.3, 0.15, 0.05]),
        "region": pick(["north", "south", "east", "west", "central"]),
        "plan": _with_nulls(rng, pick(["free", "basic", "pro"], [0.6, 0.3, 0.1]), 0.02),
        "is_member": rng.random(n) < 0.4,
        "has_coupon": rng.random(n) < 0.15,
        "target": (rng.random(n) < 0.2).astype(np.int64),
    })


def write_csv_in_chunks(path: Path, n: int, chunk: int = 500_000) -> int:
    "Write `n` generated rows to CSV `path`, `chunk` rows at a time; return the rows written."
    for i, start in enumerate(range(0, n, chunk)):
        generate(min(chunk, n - start), seed=1000 + i, first_id=start).to_csv(path, mode="w" if i == 0 else "a", header=i == 0, index=False)
    return n


## Spec and workspaces

def _widen(spec: dict, rejected: pd.DataFrame) -> list[str]:
    "Drop the bounds / value lists of the features named in the reasons of `rejected`; return their names."
    cols = sorted({r.split(" ", 1)[0] for rs in rejected["_reasons"] for r in rs.split("; ")})
    for c in cols:
        f = spec["features"].get(c)
        if f is None: raise SystemExit(f"generated data rejected on non-feature column {c}: {rejected['_reasons'].iloc[0]}")
        if f["type"] == "numeric": f.update(min=None, max=None)
        elif f["type"] == "categorical": f.update(values=None, open=True)
        f["nullable"] = True
    return cols


def draft_spec(df: pd.DataFrame) -> tuple:
    "(spec, widened features): the spec infer_spec drafts from `df`, widened until `df` is fully accepted."
    from mlpuzzle.base.spec import validate_spec
    from mlpuzzle.data.checks import validate_batch
    from mlpuzzle.data.infer import infer_spec
    spec = infer_spec(df, target="target", id="event_id", timestamp="event_time", name="bench-ingest")
    widened = []
    for _ in range(3):
        chk = validate_batch(df, spec, "generated", now=NOW)
        if not len(chk.rejected): return spec, widened
        widened += _widen(spec, chk.rejected)
        spec = validate_spec(spec)
    raise SystemExit("generated data still rejected after widening the spec")


def workspace(root: Path, name: str, spec: dict, kind: str, path: Path):
    "A fresh workspace `root/name` whose source is `path`."
    from mlpuzzle.base.workspace import init_workspace
    spec = {**spec, "source": {**spec["source"], "kind": kind, "path": str(path), "chunk_rows": CHUNK_ROWS}}
    d = root / name
    shutil.rmtree(d, ignore_errors=True)
    return init_workspace(d, spec)


def check_manifests(ms: list, n: int, what: str):
    "Fail unless `ms` is one stored snapshot of all `n` rows, none quarantined."
    rows = [m.get("rows") for m in ms]
    ok = len(ms) == 1 and ms[0].get("status") == "stored" and rows[0] == {"read": n, "accepted": n, "quarantined": 0}
    if not ok: raise SystemExit(f"{what}: expected one stored snapshot of {n} rows, none quarantined; got {rows} ({[m.get('status') for m in ms]})")


## Measurements

def ingest_once(root: Path, spec: dict, kind: str, path: Path, n: int, profile: bool = False, profiler=None,
                manifests: list | None = None) -> float:
    "Seconds of one ingest of `path` into a fresh workspace (made and removed untimed), under `profiler` if given."
    from mlpuzzle.data.store import ingest
    ws = workspace(root, f"ws-{kind}", spec, kind, path)
    if profiler: profiler.enable()
    s, ms = timed(ingest, ws, profile=profile, now=NOW)
    if profiler: profiler.disable()
    check_manifests(ms, n, f"ingest of {path.name}")
    if profile: check_profiles(ws, ms[0])
    if manifests is not None: manifests.extend(ms)
    shutil.rmtree(ws.path)
    return s


def check_profiles(ws, m: dict):
    "Fail unless the snapshot of manifest `m` holds one profile per window, each of the window's accepted rows."
    from mlpuzzle.base.compat import read_profile, row_count
    files = sorted((ws.path / "snapshots" / m["id"] / "profiles").glob("*.bin"))
    counts = {f.stem: row_count(next(iter(read_profile(f).get_columns().values()))) for f in files}
    if counts != {k: w["accepted"] for k, w in m["windows"].items()}:
        raise SystemExit(f"profiles do not hold the windows' rows ({len(files)} files, {len(m['windows'])} windows)")


def speed(root: Path, spec: dict, pq_path: Path, csv_path: Path, n: int, repeat: int) -> dict:
    "Interleaved timings (seconds) of the anchors and ingests, `repeat` rounds each."
    copy = lambda read, path: timed(lambda: read(path).to_parquet(root / "copy.parquet", index=False))[0]
    runs = {"read_parquet": lambda: timed(pd.read_parquet, pq_path)[0],
            "copy_parquet": lambda: copy(pd.read_parquet, pq_path),
            "ingest_parquet": lambda: ingest_once(root, spec, "parquet", pq_path, n),
            "read_csv": lambda: timed(pd.read_csv, csv_path)[0],
            "copy_csv": lambda: copy(pd.read_csv, csv_path),
            "ingest_csv": lambda: ingest_once(root, spec, "csv", csv_path, n)}
    import mlpuzzle.data.store, tqdm  # noqa: F401  (imported once here, not inside the first timed ingest)
    pd.read_parquet(pq_path); pd.read_csv(csv_path)  # warm the file cache
    samples = {k: [] for k in runs}
    for i in range(repeat):
        for k, run in runs.items(): run(); samples[k].append(run())  # the second of two: warm, for anchors and ingests alike
        log(f"  round {i + 1}/{repeat}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()))
    return samples


def whylogs_cost(root: Path, spec: dict, df: pd.DataFrame, pq_path: Path, n: int, repeat: int) -> dict:
    """Seconds of profile_frame on `df` and of ingest of the Parquet file with profile=True (profiles per window),
    interleaved, `repeat` rounds each; the windows the ingest profiled, and the ratio of the medians."""
    from mlpuzzle.base.compat import profile_frame
    prof, full, ms = [], [], []
    for i in range(repeat):
        prof.append(timed(profile_frame, df)[0])
        full.append(ingest_once(root, spec, "parquet", pq_path, n, profile=True, manifests=ms))
        log(f"  round {i + 1}/{repeat}: profile_frame {prof[-1]:.2f} s, ingest parquet profile=True {full[-1]:.2f} s "
            f"({len(ms[-1]['windows'])} windows of {spec['monitoring']['window']})")
    ratio = statistics.median(full) / statistics.median(prof)
    return {"profile_frame": prof, "ingest_parquet_profiled": full, "windows": len(ms[-1]["windows"]),
            "window": spec["monitoring"]["window"], "ratio_profiled_ingest_to_profile_frame": ratio}


CHILD_INGEST = """import json, resource, sys, time
from mlpuzzle.data.store import ingest
t0 = time.perf_counter()
ms = ingest(sys.argv[1], profile=False, now=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t0, "manifests": [{"status": m.get("status"), "rows": m.get("rows")} for m in ms],
                  "self_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"""
CHILD_IMPORT = """import json, resource
import pandas, mlpuzzle.data.store
print(json.dumps({"self_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))"""


def peak_rss(code: str, *args) -> dict:
    "Run `code` in a subprocess; its JSON output plus its peak RSS in MiB (from /usr/bin/time -v when present)."
    gnu_time = Path("/usr/bin/time")
    cmd = [sys.executable, "-c", code, *map(str, args)]
    p = subprocess.run(([str(gnu_time), "-v"] if gnu_time.exists() else []) + cmd, capture_output=True, text=True)
    if p.returncode: raise SystemExit(f"subprocess failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    out["peak_rss_mib"] = (int(m.group(1)) if m else out["self_maxrss_kb"]) / 1024
    out["measured_by"] = "/usr/bin/time -v" if m else "getrusage(RUSAGE_SELF).ru_maxrss in the child"
    return out


def ingest_in_child(root: Path, spec: dict, path: Path, n: int) -> dict:
    "Peak RSS and seconds of ingesting CSV `path` (`n` rows) in a subprocess, into a fresh workspace."
    ws = workspace(root, "ws-child", spec, "csv", path)
    out = peak_rss(CHILD_INGEST, ws.path, NOW)
    check_manifests(out["manifests"], n, f"ingest of {path.name}")
    shutil.rmtree(ws.path)
    log(f"  ingest of {n:,} CSV rows in a subprocess: peak RSS {out['peak_rss_mib']:.0f} MiB, {out['seconds']:.1f} s")
    return out


def memory(root: Path, spec: dict, big_rows: int, csv_path: Path, rows: int) -> dict:
    """Peak RSS of streaming a `big_rows`-row CSV through ingest in a subprocess; for context, the same
    for the `rows`-row CSV `csv_path` (is memory flat in rows?) and for a subprocess that only imports."""
    base = peak_rss(CHILD_IMPORT)
    log(f"  import only: peak RSS {base['peak_rss_mib']:.0f} MiB")
    small = ingest_in_child(root, spec, csv_path, rows)
    path = root / "big.csv"
    s, _ = timed(write_csv_in_chunks, path, big_rows)
    log(f"  wrote {big_rows:,}-row CSV ({path.stat().st_size / 2**20:.0f} MiB) in {s:.1f} s")
    big = ingest_in_child(root, spec, path, big_rows)
    out = {"rows": big_rows, "csv_mib": path.stat().st_size / 2**20, "write_csv_s": s, "import_only": base,
           "ingest_csv": big, f"ingest_csv_{rows}_rows": small, "small_rows": rows}
    path.unlink()
    return out


def _short(func) -> str:
    file, line, name = func
    for root in ("mlpuzzle/", "pandas/", "pyarrow/", "numpy/"):
        if root in file: return f"{root}{file.split(root, 1)[1]}:{line}({name})"
    return f"{Path(file).name}:{line}({name})" if file != "~" else name


def _ours(func) -> bool: return "/mlpuzzle/" in func[0]


def hotspots(root: Path, spec: dict, pq_path: Path, n: int, top: int = 10) -> dict:
    "One Parquet ingest under cProfile: top mlpuzzle functions by cumulative time, and the calls they make into other libraries."
    pr = cProfile.Profile()
    total = ingest_once(root, spec, "parquet", pq_path, n, profiler=pr)
    st = pstats.Stats(pr).stats
    ours = sorted(((ct, f) for f, (_, _, _, ct, _) in st.items() if _ours(f)), reverse=True)[:top]
    called = {}  # a function outside mlpuzzle -> cumulative seconds of its calls from mlpuzzle functions
    for f, (_, _, _, _, callers) in st.items():
        if _ours(f): continue
        t = sum(v[3] for c, v in callers.items() if _ours(c))
        if t: called[f] = t
    libs = sorted(((t, f) for f, t in called.items()), reverse=True)[:top]
    return {"profiled_ingest_s": total,
            "mlpuzzle_cumulative": [{"function": _short(f), "cum_s": round(t, 3)} for t, f in ours],
            "calls_from_mlpuzzle": [{"function": _short(f), "cum_s": round(t, 3)} for t, f in libs]}


## Report

def machine() -> dict:
    import pyarrow, whylogs
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "pandas": pd.__version__, "numpy": np.__version__,
            "pyarrow": pyarrow.__version__, "whylogs": whylogs.__version__,
            "git_commit": git("rev-parse", "HEAD"), "git_dirty_files": len(git("status", "--porcelain").splitlines()),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def summarize(samples: dict, n: int) -> dict:
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = {k: {"median_s": s, "rows_per_s": n / s, "samples_s": samples[k]} for k, s in med.items()}
    for fmt, anchor in (("parquet", "read_parquet"), ("csv", "read_csv")):
        rows[f"ingest_{fmt}"]["ratio_to_anchor"] = med[f"ingest_{fmt}"] / med[anchor]
        rows[f"copy_{fmt}"]["ratio_to_anchor"] = med[f"copy_{fmt}"] / med[anchor]
        rows[f"ingest_{fmt}"]["ratio_to_copy"] = med[f"ingest_{fmt}"] / med[f"copy_{fmt}"]
    return rows


def table(res: dict) -> str:
    n, sp, wl, mem = res["rows"], res["speed"], res["whylogs"], res["memory"]
    wl_ratio = wl["ratio_profiled_ingest_to_profile_frame"]
    small = mem[f"ingest_csv_{n}_rows"]
    lines = [f"{'measurement (' + format(n, ',') + ' rows, median of ' + str(res['repeat']) + ')':48} {'seconds':>8} {'rows/s':>11} "
             f"{'/reader':>8} {'/copy':>7}"]
    for k, label in (("read_parquet", "pd.read_parquet (anchor)"), ("copy_parquet", "pd.read_parquet + to_parquet (copy)"),
                     ("ingest_parquet", "ingest parquet, profile=False"), ("read_csv", "pd.read_csv (anchor)"),
                     ("copy_csv", "pd.read_csv + to_parquet (copy)"), ("ingest_csv", "ingest csv, profile=False")):
        r = sp[k]
        ratios = [f"{r[x]:6.2f}x" if x in r else "" for x in ("ratio_to_anchor", "ratio_to_copy")]
        lines.append(f"{label:48} {r['median_s']:8.2f} {r['rows_per_s']:11,.0f} {ratios[0]:>8} {ratios[1]:>7}")
    for k, label in (("profile_frame", f"whylogs profile_frame, whole frame ({len(wl['profile_frame'])} runs)"),
                     ("ingest_parquet_profiled", f"ingest parquet, profile=True, {wl['windows']} windows")):
        s = statistics.median(wl[k])
        ratio = f"{wl_ratio:6.2f}x" if k == "ingest_parquet_profiled" else ""
        lines.append(f"{label:48} {s:8.2f} {n / s:11,.0f} {ratio:>7}")
    target = lambda fmt, reader, most: (f"target: ingest {fmt} (profile=False) <= {most}x {reader}: "
                                        f"{'MET' if sp['ingest_' + fmt]['ratio_to_anchor'] <= most else 'MISSED'} "
                                        f"({sp['ingest_' + fmt]['ratio_to_anchor']:.2f}x; the copy alone {sp['copy_' + fmt]['ratio_to_anchor']:.2f}x)")
    lines += ["", target("parquet", "pd.read_parquet", 2), target("csv", "pd.read_csv", 2.5),
              f"target: ingest parquet with profiles per window ({wl['windows']} windows of {wl['window']}) <= 1.2x "
              f"profile_frame of the whole frame: {'MET' if wl_ratio <= 1.2 else 'MISSED'} ({wl_ratio:.2f}x)",
              f"peak RSS, ingest of a {mem['rows']:,}-row CSV ({mem['csv_mib']:.0f} MiB), chunk_rows {CHUNK_ROWS:,}: "
              f"{mem['ingest_csv']['peak_rss_mib']:.0f} MiB in {mem['ingest_csv']['seconds']:.1f} s "
              f"({mem['rows'] / mem['ingest_csv']['seconds']:,.0f} rows/s); target < 1024 MiB: "
              f"{'MET' if mem['ingest_csv']['peak_rss_mib'] < 1024 else 'MISSED'}",
              f"peak RSS, same ingest of the {n:,}-row CSV: {small['peak_rss_mib']:.0f} MiB in {small['seconds']:.1f} s "
              f"({n / small['seconds']:,.0f} rows/s)",
              f"peak RSS, import pandas + mlpuzzle.data.store only: {mem['import_only']['peak_rss_mib']:.0f} MiB "
              f"(measured by {mem['ingest_csv']['measured_by']})"]
    if res["widened_features"]: lines.append(f"spec widened so the clean data is accepted: {', '.join(res['widened_features'])}")
    lines += ["", "hotspots of one parquet ingest (cProfile), mlpuzzle functions by cumulative seconds:"]
    lines += [f"  {h['cum_s']:7.2f}  {h['function']}" for h in res["hotspots"]["mlpuzzle_cumulative"]]
    lines += ["calls from mlpuzzle functions into other libraries, by cumulative seconds:"]
    lines += [f"  {h['cum_s']:7.2f}  {h['function']}" for h in res["hotspots"]["calls_from_mlpuzzle"]]
    return "\n".join(lines)


def main(rows: int, big_rows: int, repeat: int, whylogs_repeat: int):
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as d:
        root = Path(d)
        log(f"generating {rows:,} rows")
        gen_s, df = timed(generate, rows, seed=0)
        pq_path, csv_path = root / "events.parquet", root / "events.csv"
        pq_s, _ = timed(df.to_parquet, pq_path, index=False)
        csv_s, _ = timed(df.to_csv, csv_path, index=False)
        log(f"  generate {gen_s:.1f} s, write parquet {pq_s:.1f} s, write csv {csv_s:.1f} s")
        spec, widened = draft_spec(df)
        log(f"spec drafted{'; widened: ' + ', '.join(widened) if widened else ''}\nspeed ({repeat} interleaved rounds)")
        samples = speed(root, spec, pq_path, csv_path, rows, repeat)
        log("whylogs")
        wl = whylogs_cost(root, spec, df, pq_path, rows, whylogs_repeat)
        log("cProfile of one parquet ingest")
        hot = hotspots(root, spec, pq_path, rows)
        files = {"parquet_mib": pq_path.stat().st_size / 2**20, "csv_mib": csv_path.stat().st_size / 2**20,
                 "generate_s": gen_s, "write_parquet_s": pq_s, "write_csv_s": csv_s}
        del df
        log("peak memory")
        mem = memory(root, spec, big_rows, csv_path, rows)
    res = {"rows": rows, "columns": 20, "repeat": repeat, "chunk_rows": CHUNK_ROWS, "now": NOW, "files": files,
           "widened_features": widened, "speed": summarize(samples, rows),
           "whylogs": wl, "memory": mem, "hotspots": hot, "machine": machine(),
           "targets": {"ingest_parquet_ratio_max": 2.0, "ingest_csv_ratio_max": 2.5, "peak_rss_mib_max": 1024, "profiled_ingest_to_profile_frame_max": 1.2},
           "total_bench_s": time.perf_counter() - t_start}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"\nwritten to {RESULTS} (whole benchmark: {res['total_bench_s']:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the speed table (default: 1000000)")
    ap.add_argument("--big-rows", type=int, default=5_000_000, help="rows of the CSV streamed for peak memory (default: 5000000)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds of each speed measurement (default: 3)")
    ap.add_argument("--whylogs-repeat", type=int, default=3, help="interleaved rounds of profile_frame and profiled ingest (default: 3)")
    a = ap.parse_args()
    main(a.rows, a.big_rows, a.repeat, a.whylogs_repeat)
