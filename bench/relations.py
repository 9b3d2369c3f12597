"""Multivariate drift: does a broken relationship between columns get found, when every column's own distribution is
unchanged? `mlpuzzle.monitoring.multivariate` (relation drift) side by side with NannyML 0.13.1's data reconstruction
(PCA) and domain classifier calculators, with their defaults, on the same data in the same run.

The data (seeded): eight numeric columns (log-normal, integer and rounded ones; two driven by one hidden factor with
`income`, `balance`, `age`, two by a second factor, a `price` and a `discount` that go against each other), a
`segment` that follows the first factor (one of its five categories on about 2% of the rows), a `channel` on its
own; `spend` 5% null, `visits` 10% null, `channel` 3% null. A reference of `--reference-rows` rows (default: the
larger of 10,000 and 5 windows), then 150 daily windows of `--rows` rows: 80 stable, 70 changed from the onset.
Scenarios:
- misaligned_join: `balance` shuffled within each window from the onset (a join on a misaligned key): every column's
  distribution is unchanged, its relations to income (0.46), spend (0.40), age and segment are gone;
- correlation_flip: `discount` follows `price` up instead of down (Spearman -0.58 -> +0.58), marginals unchanged;
- marginal_shift: the first hidden factor's mean moves by half a standard deviation: income, spend, balance, age and
  segment shares all shift, the numeric columns' relations hold (univariate drift's job; reported, not a target).

Targets (issue 30): found on the onset window or the next; 0 false alarms over the 80 stable windows at 100 and 400
rows; seconds; the changed columns named. Times: ours is `fit_relations` plus `relation_drift` on the 150 windows;
NannyML's is `fit` plus `calculate` inside its worker (without its import or reading the data). The machine is shared,
so the ratio of the two, measured in the same run, is the figure to quote.

    .venv/bin/python bench/relations.py [--rows 100 400 1000 10000] [--scenarios misaligned_join ...]
        [--nannyml-python /work/nml-venv/bin/python] [--domain-classifier-rows 100 400]
        [--domain-classifier-scenarios misaligned_join] [--out PATH]

NannyML runs in its own virtual environment (it pins pandas < 3), called through `bench/nannyml_worker.py`:
    python3.11 -m venv /work/nml-venv && /work/nml-venv/bin/pip install nannyml==0.13.1 'pandas<3' statsmodels pyarrow
Without `--nannyml-python` its rows are skipped (said on stderr and in the table).

Results: bench/results/relations.json and relations.md (or `--out` and the same name with .md); the table on stdout.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log, timed

RESULTS = Path(__file__).parent / "results" / "relations.json"
WORKER = Path(__file__).parent / "nannyml_worker.py"
NUMERIC = ["income", "spend", "balance", "tenure", "visits", "age", "price", "discount"]
CATEGORICAL = ["segment", "channel"]
SCENARIOS = ["misaligned_join", "correlation_flip", "marginal_shift"]
STABLE, DRIFTED = 80, 70
SHUFFLED, FLIPPED = "balance", ("price", "discount")
CHANGED = {"misaligned_join": [SHUFFLED], "correlation_flip": list(FLIPPED), "marginal_shift": []}


def population(n: int, rng, flip: bool = False, shift: float = 0.0) -> pd.DataFrame:
    "`n` rows of the bench's population; `flip`: discount follows price up; `shift`: the first factor's mean moves."
    f1, f2, u = rng.normal(shift, 1, n), rng.normal(size=n), rng.normal(size=n)
    def e(): return rng.normal(size=n)  # a fresh draw each call
    df = pd.DataFrame({
        "income": np.exp(10 + 0.5 * (0.8 * f1 + 0.6 * e())), "spend": np.round(np.exp(5 + 0.4 * (0.7 * f1 + 0.71 * e())), 2),
        "balance": 1000 * (0.6 * f1 + 0.8 * e()), "tenure": rng.poisson(np.exp(2 + 0.3 * (0.6 * f2 + 0.8 * e()))),
        "visits": 20 * (0.8 * f2 + 0.6 * e()) + 50, "age": np.round(40 + 10 * (0.5 * f1 + 0.5 * f2 + 0.71 * e())),
        "price": 100 + 10 * u, "discount": np.exp(0.3 * ((0.6 if flip else -0.6) * u + 0.8 * e())),
        "segment": np.array(["a", "b", "c", "d", "rare"])[np.digitize(f1 + 0.5 * e(), [-1.2, 0.0, 1.2, 2.4])],
        "channel": rng.choice(["web", "app", "store"], n, p=[.5, .3, .2])})
    for col, share in (("spend", 0.05), ("visits", 0.10), ("channel", 0.03)):
        df.loc[rng.random(n) < share, col] = None
    return df


def window(rows: int, rng, scenario: str, changed: bool) -> pd.DataFrame:
    "One daily window of `scenario`, changed from the onset on."
    df = population(rows, rng, flip=changed and scenario == "correlation_flip",
                    shift=0.5 if changed and scenario == "marginal_shift" else 0.0)
    if changed and scenario == "misaligned_join": df[SHUFFLED] = rng.permutation(df[SHUFFLED].to_numpy())
    return df


def scenario_data(rows: int, scenario: str, reference_rows: int, seed: int) -> tuple:
    "(reference, [150 windows]) of `scenario`."
    rng = np.random.default_rng([seed, rows, SCENARIOS.index(scenario)])
    reference = population(reference_rows, rng)
    return reference, [window(rows, rng, scenario, d >= STABLE) for d in range(STABLE + DRIFTED)]


def summary(alerts: list, seconds: float) -> dict:
    "False alarms before the onset, the first alert from it (windows late), the changed windows alerted, the time."
    a = np.asarray(alerts, bool)
    late = int(np.argmax(a[STABLE:])) if a[STABLE:].any() else None
    return {"false_alarms": int(a[:STABLE].sum()), "windows_late": late, "alerted": int(a[STABLE:].sum()),
            "seconds": round(seconds, 2)}


def run_ours(reference: pd.DataFrame, windows: list, rows: int) -> dict:
    "Relation drift: fit on the reference for windows of `rows`, then judge each window."
    from mlpuzzle.monitoring.multivariate import fit_relations, relation_drift
    def fit_and_judge():
        fitted = fit_relations(reference, NUMERIC, CATEGORICAL, window_rows=rows)
        return fitted, [relation_drift(fitted, w) for w in windows]
    seconds, (fitted, res) = timed(fit_and_judge)
    first = next((r for r in res[STABLE:] if r["drifted"]), {"features": [], "pairs": []})
    return {"method": "relation drift (ours)", **summary([r["drifted"] for r in res], seconds),
            "threshold": round(fitted.threshold, 3), "stable_max": round(max(r["statistic"] for r in res[:STABLE]), 3),
            "named": first["features"][:3], "pairs": first["pairs"][:3]}


def write_data(tmp: Path, reference: pd.DataFrame, windows: list):
    "The scenario as the worker reads it."
    reference.to_parquet(tmp / "reference.parquet")
    pd.concat(windows, ignore_index=True).to_parquet(tmp / "analysis.parquet")
    (tmp / "columns.json").write_text(json.dumps({"numeric": NUMERIC, "categorical": CATEGORICAL}))


def run_nannyml(python: str, tmp: Path, method: str, rows: int) -> dict:
    "NannyML's `method` (pca or dc) in its own environment; its chunks are the windows."
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1", "NML_DISABLE_USER_ANALYTICS": "1", "PYTHONPATH": ""}
    out = subprocess.run([python, str(WORKER), str(tmp), method, str(rows)], capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f"NannyML's {method} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    name = {"pca": "NannyML PCA data reconstruction", "dc": "NannyML domain classifier"}[method]
    return {"method": name, **summary(res["alerts"], res["seconds"])}


def one_scenario(args, rows: int, scenario: str) -> list:
    "Ours and NannyML's results on one scenario at `rows` a window."
    reference_rows = args.reference_rows or max(10_000, 5 * rows)
    reference, windows = scenario_data(rows, scenario, reference_rows, args.seed)
    out = [run_ours(reference, windows, rows)]
    slow = rows in args.domain_classifier_rows and scenario in args.domain_classifier_scenarios
    methods = ["pca"] + (["dc"] if slow else [])
    with tempfile.TemporaryDirectory() as tmp:
        if args.nannyml_python: write_data(Path(tmp), reference, windows)
        for m in methods if args.nannyml_python else []:
            log(f"  NannyML {m} at {rows} rows, {scenario}")
            out.append(run_nannyml(args.nannyml_python, Path(tmp), m, rows))
    for r in out:
        r.update(rows=rows, scenario=scenario, reference_rows=reference_rows,
                 time_ratio=round(r["seconds"] / out[0]["seconds"], 1))
    return out


def first_alert(r: dict) -> str:
    "The first alert from the onset, in words."
    late = r["windows_late"]
    return "never" if late is None else "onset" if late == 0 else f"onset + {late}"


def table(results: list) -> str:
    "The results as a markdown table."
    head = ("| method | scenario | rows a window | false alarms (of 80) | first alert | drifted windows alerted | time | "
            "time / ours | named first |\n|---|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r['method']} | {r['scenario']} | {r['rows']:,} | {r['false_alarms']} | {first_alert(r)} | "
            f"{r['alerted']}/{DRIFTED} | {r['seconds']:.1f} s | {r['time_ratio']:g} | {', '.join(r.get('named', []))} |"
            for r in results]
    return head + "\n".join(rows) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[100, 400], help="rows a window (default 100 400)")
    p.add_argument("--scenarios", nargs="+", default=SCENARIOS, choices=SCENARIOS)
    p.add_argument("--reference-rows", type=int, help="the reference's rows (default: max(10,000, 5 windows))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nannyml-python", help="the python of a virtual environment with nannyml==0.13.1 (else skipped)")
    p.add_argument("--domain-classifier-rows", type=int, nargs="*", default=[100, 400],
                   help="window sizes at which NannyML's domain classifier runs too (it is slow; default 100 400)")
    p.add_argument("--domain-classifier-scenarios", nargs="*", default=["misaligned_join"], choices=SCENARIOS,
                   help="the scenarios it runs on (default misaligned_join: over 13 CPU-minutes a scenario at 100 rows)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.nannyml_python and not Path(args.nannyml_python).exists():
        log(f"no python at {args.nannyml_python}: NannyML's rows are skipped"); args.nannyml_python = None
    if not args.nannyml_python: log("NannyML skipped: pass --nannyml-python PATH (a venv with nannyml==0.13.1)")
    results = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        for scenario in args.scenarios:
            log(f"{scenario} at {rows} rows a window")
            results += one_scenario(args, rows, scenario)
            save(args.out, results)  # after each scenario: a long run stopped early keeps what it measured
    print(table(results))


def save(out: Path, results: list):
    "The results as JSON at `out` and as a table beside it (.md), under the command that made them."
    out.write_text(json.dumps({"argv": sys.argv[1:], "results": results}, indent=1))
    head = (f"# bench/relations.py, {time.strftime('%Y-%m-%d')}\n\nCommand: `python bench/relations.py "
            f"{' '.join(sys.argv[1:])}`. Times: ours is the fit plus the 150 windows judged; NannyML's its fit plus "
            "calculate in its own environment. One thread each, on a shared 2-core machine: quote the ratio.\n\n")
    out.with_suffix(".md").write_text(head + table(results))


if __name__ == "__main__":
    main()
