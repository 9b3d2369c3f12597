"""Latency and throughput of `mlpuzzle serve` against `mlflow models serve` on the same model, and batch
scoring against a bare `predict_proba`, in one run.

What it measures, on a demo champion (the simulated churn business: `--rows` events over 40 days,
ingested into a fresh workspace; a model trained on the latest `--train-rows` labelled rows,
registered and promoted):

1. Online, for each server in turn (`mlpuzzle serve`, 1 worker; then `mlflow models serve
   --env-manager local -w 1` on the same fitted pipeline, logged with `mlflow.sklearn.log_model(...,
   pyfunc_predict_fn="predict_proba")` and an inferred signature into a temporary sqlite store):
   a. single-record latency at a fixed rate (`--rate` req/s for `--seconds` s, open loop: request i
      is due at t0 + i/rate, sent by a pool of keep-alive clients). Latency is reported from the
      send (service latency) and from the due time (includes queueing when the server falls behind).
   b. maximum throughput: `--clients` keep-alive clients sending back to back for `--max-seconds` s.
   Then both servers again with OMP_NUM_THREADS=1 (for information: the model's predict_proba on one
   row pays for OpenMP threads it cannot use; skip with --no-omp1).
   The load generator runs in a separate process (threads, one `httpx.Client` each), started after
   a warm-up of 2 s. Every response must be 200, and one record is checked to get the same
   probability from both servers (so both serve the same model).
2. Batch: `mlpuzzle.serving.score.score(ws, profile=False)` over the workspace's snapshots (read the
   Parquet snapshot in chunks, predict, write the predictions Parquet) against a bare
   `pipeline.predict_proba` on the same rows already in memory; then `score` with the default
   profile=True (whylogs profile of the predictions) once, for information.

Targets (from the issue): p99 no worse than MLflow's and throughput at least MLflow's; at the fixed
rate on one worker p50 <= 10 ms and p99 <= 25 ms; batch scoring >= 0.8x bare predict_proba.
Both servers and the load generator share this machine's cores: the load average before and after
is recorded, and figures from a busy machine are noisy. Results are printed as a table and written
to bench/results/serve.json.

    .venv/bin/python bench/serve.py [--rows 1000000] [--rate 100] [--seconds 20] [--clients 4]
"""
import argparse, concurrent.futures, ctypes, json, multiprocessing, os, platform, signal, socket, subprocess, sys, tempfile, threading, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "serve.json"
BIN = Path(sys.executable).parent
DAYS = 40
OMP1 = {"OMP_NUM_THREADS": "1"}


from common import log, timed


## The demo champion

def build(root: Path, rows: int, train_rows: int):
    "A workspace holding `rows` simulated events whose champion was trained on the latest `train_rows` labelled rows."
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import track
    from mlpuzzle.models.registry import propose, register
    from mlpuzzle.simulator.simulate import churn_spec, simulate
    from mlpuzzle.data.labels import ingest_labels, training_set
    from mlpuzzle.data.store import ingest
    sim = simulate(DAYS, "none", seed=11, rows_per_day=rows // DAYS)
    ws = init_workspace(root / "ws", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events, profile=False)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws).tail(train_rows).reset_index(drop=True)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)  # OpenMP threads crawl when the 2 cores are busy
    v = register(ws, r.model, track(ws, r), {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]})
    assert propose(ws, v, data.tail(2000)).promote
    return ws, sim.events


def feature_records(events: pd.DataFrame, features: list, n: int = 200) -> list[dict]:
    "`n` records of features (no id or time; rows with a known fee, so MLflow's schema takes them as they are)."
    rows = events.loc[events.monthly_fee.notna(), features].head(n)
    return json.loads(rows.to_json(orient="records"))


def log_mlflow_model(root: Path, model, events: pd.DataFrame, features: list) -> tuple:
    """Log `model` as an MLflow sklearn model (pyfunc predicting probabilities; MLflow's default skops format, trusting
    the pipeline's own types) in a new sqlite store: (model URI, tracking URI). Run it in its own process:
    `mlflow.set_tracking_uri` sets $MLFLOW_TRACKING_URI, which mlpuzzle would then take for the workspace's store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import skops.io as sio
    from mlflow.models import infer_signature
    uri = f"sqlite:///{root / 'mlflow-bench' / 'mlflow.db'}"
    (root / "mlflow-bench").mkdir()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-serve")
    X = events[features].head(1000)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", pyfunc_predict_fn="predict_proba",
                                        signature=infer_signature(X, model.predict_proba(X)),
                                        skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)))
    return info.model_uri, uri


## Servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try: ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no server outlives the benchmark
    except OSError: pass


def start_server(cmd: list, ready_url: str, logf: Path, env: dict | None = None, lifetime: int = 900) -> subprocess.Popen:
    "Start `cmd` in its own session (ended after `lifetime` s at most) and wait until `ready_url` answers 200."
    import httpx
    with open(logf, "w") as out:
        p = subprocess.Popen(["timeout", "-k", "5", str(lifetime), *map(str, cmd)], stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, preexec_fn=_die_with_parent, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if p.poll() is not None: raise RuntimeError(f"{cmd[0]} exited ({p.returncode}):\n{logf.read_text()[-3000:]}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200: return p
        except httpx.TransportError: pass
        time.sleep(0.25)
    stop_server(p)
    raise RuntimeError(f"{cmd[0]} not ready in 120 s:\n{logf.read_text()[-3000:]}")


def stop_server(p: subprocess.Popen):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try: os.killpg(p.pid, sig)
        except ProcessLookupError: return
        try: p.wait(15); return
        except subprocess.TimeoutExpired: continue


## Load (runs in a separate process)

def _pct(a, q) -> float: return float(np.percentile(a, q) * 1000) if len(a) else float("nan")


def load(url: str, bodies: list[bytes], mode: str, seconds: float, clients: int, rate: float = 0.0) -> dict:
    """Send single-record POSTs to `url` from `clients` keep-alive threads for `seconds` s: open loop at `rate`
    req/s (mode "rate") or back to back (mode "closed"). Latencies in ms; every status is counted."""
    import httpx
    lock, counter, out = threading.Lock(), iter(range(10**9)), []
    t0 = time.perf_counter() + 0.2
    end = t0 + seconds

    def worker():
        mine = []
        with httpx.Client(timeout=30, headers={"content-type": "application/json"}) as c:
            while True:
                with lock: i = next(counter)
                due = t0 + i / rate if mode == "rate" else None
                if (due or time.perf_counter()) >= end: break
                if due: time.sleep(max(0.0, due - time.perf_counter()))
                s = time.perf_counter()
                try: status = c.post(url, content=bodies[i % len(bodies)]).status_code
                except httpx.HTTPError as e: status = type(e).__name__
                e_ = time.perf_counter()
                mine.append((due or s, s, e_, status))
        with lock: out.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    ok = [x for x in out if x[3] == 200]
    service = np.array([e - s for _, s, e, _ in ok])
    queued = np.array([e - d for d, _, e, _ in ok])
    span = max(x[2] for x in out) - t0 if out else float("nan")
    return {"mode": mode, "clients": clients, "target_rate": rate or None, "seconds": seconds, "requests": len(out),
            "ok": len(ok), "errors": {str(k): sum(1 for x in out if x[3] == k) for k in {x[3] for x in out if x[3] != 200}},
            "throughput_rps": len(ok) / span, "p50_ms": _pct(service, 50), "p90_ms": _pct(service, 90),
            "p99_ms": _pct(service, 99), "max_ms": float(service.max() * 1000) if len(service) else float("nan"),
            **({"p50_from_due_ms": _pct(queued, 50), "p99_from_due_ms": _pct(queued, 99)} if mode == "rate" else {})}


def measure(pool, url: str, bodies: list[bytes], rate: float, seconds: float, clients: int, max_seconds: float) -> dict:
    "Warm up, then the fixed-rate latency run and the maximum-throughput run, each in the load process."
    pool.submit(load, url, bodies, "closed", 2.0, 1).result()
    fixed = pool.submit(load, url, bodies, "rate", seconds, 8, rate).result()
    log(f"    {rate:.0f} req/s: p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms, {fixed['ok']}/{fixed['requests']} ok")
    top = pool.submit(load, url, bodies, "closed", max_seconds, clients).result()
    log(f"    max, {clients} clients: {top['throughput_rps']:.0f} req/s, p50 {top['p50_ms']:.2f} ms, p99 {top['p99_ms']:.2f} ms")
    return {"fixed_rate": fixed, "max_throughput": top}


def serve_mlpuzzle(root, ws, records, pool, a, env=None) -> dict:
    import httpx
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    p = start_server([BIN / "mlpuzzle", "serve", "-w", ws.path, "--port", port], f"{url}/ready", root / "mlpuzzle-serve.log", env=env)
    try:
        probe = httpx.post(f"{url}/predict", json=records[0]).json()["probabilities"]["1"]
        res = measure(pool, f"{url}/predict", [json.dumps(r).encode() for r in records], a.rate, a.seconds, a.clients, a.max_seconds)
    finally: stop_server(p)
    return {**res, "probe_p1": probe, "env": env or {}, "command": "mlpuzzle serve -w WS --port P (1 worker)"}


def serve_mlflow(root, model_uri, tracking_uri, records, pool, a, env=None) -> dict:
    import httpx
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [BIN / "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", port, "-w", 1]
    p = start_server(cmd, f"{url}/ping", root / "mlflow-serve.log", env={"MLFLOW_TRACKING_URI": tracking_uri,  # it runs `uvicorn` from PATH, as in an activated venv
                                                                          "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})})
    try:
        probe = httpx.post(f"{url}/invocations", json={"dataframe_records": records[:1]}).json()["predictions"][0][1]
        bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
        res = measure(pool, f"{url}/invocations", bodies, a.rate, a.seconds, a.clients, a.max_seconds)
    finally: stop_server(p)
    return {**res, "probe_p1": probe, "env": env or {}, "command": f"mlflow models serve -m {model_uri} --env-manager local -h 127.0.0.1 -p P -w 1"}


## Batch

def batch(ws) -> dict:
    "score(profile=False) against a bare predict_proba on the same rows; then score with its default profile=True."
    import shutil
    from mlpuzzle.models.registry import load_version
    from mlpuzzle.serving.score import score
    from mlpuzzle.data.store import snapshots
    model, info = load_version(ws, "champion")
    features = list(ws.spec["features"])
    df = pd.concat([pd.read_parquet(ws.dir("snapshots") / m["id"] / "data.parquet") for m in snapshots(ws)], ignore_index=True)
    n = len(df)
    bare_s, p = timed(model.predict_proba, df[features])
    del df
    score_s, res = timed(score, ws, profile=False)
    assert sum(r["rows"] for r in res) == n, res
    check = pd.concat([pd.read_parquet(r["path"]) for r in res])
    assert np.allclose(np.sort(check.p_1.to_numpy()), np.sort(p[:, 1]), rtol=0, atol=1e-12), "score gave other probabilities"
    shutil.rmtree(ws.dir("predictions")); ws.dir("predictions")  # (re)created empty
    profiled_s, _ = timed(score, ws, profile=True)
    return {"rows": n, "chunk_rows": ws.spec["source"]["chunk_rows"], "bare_predict_proba_s": bare_s, "score_s": score_s,
            "score_profiled_s": profiled_s, "bare_rows_per_s": n / bare_s, "score_rows_per_s": n / score_s,
            "score_profiled_rows_per_s": n / profiled_s, "score_throughput_ratio": bare_s / score_s,
            "score_profiled_throughput_ratio": bare_s / profiled_s}


## Report

def machine() -> dict:
    import fastapi, mlflow, sklearn, uvicorn
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    return {"nproc": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version(),
            "sklearn": sklearn.__version__, "mlflow": mlflow.__version__, "fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__,
            "git_commit": git("rev-parse", "HEAD"), "git_dirty_files": len(git("status", "--porcelain").splitlines()),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def verdicts(res: dict) -> dict:
    on, b = res["online"], res["batch"]
    m, f = on["mlpuzzle"], on.get("mlflow")
    v = {"p50_at_rate_le_10ms": m["fixed_rate"]["p50_ms"] <= 10, "p99_at_rate_le_25ms": m["fixed_rate"]["p99_ms"] <= 25,
         "batch_ge_0.8x_bare": b["score_throughput_ratio"] >= 0.8}
    if f and "error" not in f:
        v["p99_at_rate_le_mlflow"] = m["fixed_rate"]["p99_ms"] <= f["fixed_rate"]["p99_ms"]
        v["max_throughput_ge_mlflow"] = m["max_throughput"]["throughput_rps"] >= f["max_throughput"]["throughput_rps"]
    return v


def table(res: dict) -> str:
    on, b, a = res["online"], res["batch"], res["args"]
    m, f = on["mlpuzzle"], on.get("mlflow") or {}
    has_f = "error" not in f and f
    ratio = lambda x, y: f"{x / y:6.2f}x" if has_f else ""
    extra = [k for k in ("mlpuzzle_omp1", "mlflow_omp1") if k in on]
    lines = [f"{'online, single record, keep-alive':46} {'mlpuzzle':>10} {'mlflow':>10} {'ratio':>8}" + "".join(f" {k.replace('_omp1', ' OMP=1'):>14}" for k in extra)]
    for run, key, label in (("fixed_rate", "p50_ms", f"p50 ms at {a['rate']:.0f} req/s"), ("fixed_rate", "p99_ms", f"p99 ms at {a['rate']:.0f} req/s"),
                            ("fixed_rate", "p99_from_due_ms", f"p99 ms from due time at {a['rate']:.0f} req/s"),
                            ("max_throughput", "throughput_rps", f"max throughput req/s, {a['clients']} clients"),
                            ("max_throughput", "p50_ms", "  p50 ms at max throughput"), ("max_throughput", "p99_ms", "  p99 ms at max throughput")):
        x, y = m[run][key], f[run][key] if has_f else float("nan")
        lines.append(f"{label:46} {x:10.2f} {y:10.2f} {ratio(x, y):>8}" + "".join(f" {on[k][run][key]:14.2f}" for k in extra))
    if not has_f: lines.append(f"mlflow models serve could not be measured: {f.get('error', 'not run')}")
    lines += ["", f"{'batch, ' + format(b['rows'], ',') + ' rows':46} {'seconds':>10} {'rows/s':>10} {'vs bare':>8}",
              f"{'bare pipeline.predict_proba (in memory)':46} {b['bare_predict_proba_s']:10.2f} {b['bare_rows_per_s']:10,.0f} {'1.00x':>8}",
              f"{'score(ws, profile=False)':46} {b['score_s']:10.2f} {b['score_rows_per_s']:10,.0f} {b['score_throughput_ratio']:7.2f}x",
              f"{'score(ws) (profile=True, the default)':46} {b['score_profiled_s']:10.2f} {b['score_profiled_rows_per_s']:10,.0f} {b['score_profiled_throughput_ratio']:7.2f}x",
              "", "targets: " + ", ".join(f"{k} {'MET' if ok else 'MISSED'}" for k, ok in res["verdicts"].items()),
              "(ratio: mlpuzzle / mlflow; the OMP=1 columns are for information, the targets are judged on the defaults)",
              f"load average before/after: {res['load_before']} / {res['load_after']} on {res['machine']['nproc']} cores"]
    return "\n".join(lines)


def main(a):
    t_start = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as d, \
         concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        root = Path(d)
        log(f"demo champion: {a.rows:,} events, trained on the latest {a.train_rows:,} labelled rows")
        build_s, (ws, events) = timed(build, root, a.rows, a.train_rows)
        from mlpuzzle.models.registry import load_version
        model, info = load_version(ws, "champion")
        features = list(ws.spec["features"])
        records = feature_records(events, features)
        log(f"  {build_s:.0f} s; mlpuzzle serve")
        online = {"mlpuzzle": serve_mlpuzzle(root, ws, records, pool, a)}
        log("mlflow models serve")
        try:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as own:
                model_uri, tracking_uri = own.submit(log_mlflow_model, root, model, events.head(1000), features).result()
            online["mlflow"] = serve_mlflow(root, model_uri, tracking_uri, records, pool, a)
            online["same_model"] = abs(online["mlflow"]["probe_p1"] - online["mlpuzzle"]["probe_p1"]) <= 1e-12
        except Exception as e:
            online["mlflow"] = {"error": f"{type(e).__name__}: {e}"[:3000]}
            log(f"  failed: {online['mlflow']['error']}")
        if a.omp1:
            log("both again with OMP_NUM_THREADS=1 (one OpenMP thread for the model's predict_proba)")
            online["mlpuzzle_omp1"] = serve_mlpuzzle(root, ws, records, pool, a, env=OMP1)
            if "error" not in online["mlflow"]: online["mlflow_omp1"] = serve_mlflow(root, model_uri, tracking_uri, records, pool, a, env=OMP1)
        del events
        log(f"batch scoring of {a.rows:,} rows")
        b = batch(ws)
    res = {"args": vars(a), "build_s": build_s, "model_version": info["version"], "online": online, "batch": b,
           "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()], "machine": machine(),
           "targets": {"p50_ms_max": 10, "p99_ms_max": 25, "p99_vs_mlflow": "<=", "throughput_vs_mlflow": ">=", "batch_ratio_min": 0.8}}
    res["verdicts"] = verdicts(res)
    res["total_bench_s"] = time.perf_counter() - t_start
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1, default=str))
    print(table(res))
    print(f"\nwritten to {RESULTS} (whole benchmark: {res['total_bench_s']:.0f} s)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="simulated events, all scored in the batch part (default: 1000000)")
    ap.add_argument("--train-rows", type=int, default=20_000, help="latest labelled rows the champion is trained on (default: 20000)")
    ap.add_argument("--rate", type=float, default=100, help="requests per second of the fixed-rate latency run (default: 100)")
    ap.add_argument("--seconds", type=float, default=20, help="length of the fixed-rate run (default: 20)")
    ap.add_argument("--clients", type=int, default=4, help="keep-alive clients of the maximum-throughput run (default: 4)")
    ap.add_argument("--max-seconds", type=float, default=15, help="length of the maximum-throughput run (default: 15)")
    ap.add_argument("--no-omp1", dest="omp1", action="store_false", help="skip the second round of both servers with OMP_NUM_THREADS=1")
    main(ap.parse_args())
