"""Alerts per incident for a rate that moved to near its alert threshold and stays there: the rule as it was
(an alert resolves after `clear_after` windows in a row without its condition) against recovery on evidence
(`mlpuzzle.monitoring.recovery.recovered`: the windows since it last held, pooled, must be back). Null rate, reference 10%,
threshold reference + margin = 20%; each window's null count is binomial; 300 daily windows, 20 runs each.

    .venv/bin/python bench/flapping.py [--windows 300] [--runs 20]

Results: a table on stdout and bench/results/flapping.json. The real condition and recovery functions are used;
only the windows are made up.
"""
import argparse, json, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log

RESULTS = Path(__file__).parent / "results" / "flapping.json"


def _rule():
    "The spec's default null_rate rule, as the alerts module annotates it."
    from mlpuzzle.simulator.simulate import churn_spec
    from mlpuzzle.base.spec import validate_spec
    spec = validate_spec(churn_spec({"kind": "dataframe"}), "bench", check_imports=False)
    rule = next(r for r in spec["monitoring"]["alerts"] if r["kind"] == "null_rate")
    return {**rule, "_clear_after": spec["monitoring"]["clear_after"]}, spec["monitoring"]["recovery_alpha"]


def _window(k: int, n: int) -> tuple:
    "(drift, quality) of a window of `n` rows, `k` of them null in `seats` (reference: 10%)."
    q = {"rows": n, "accepted": n, "null_rates": {"seats": k / n}, "baseline_null_rates": {"seats": 0.1},
         "missing_columns": []}
    return pd.DataFrame(), q


def alerts_made(counts, n: int, rule: dict, alpha: float, on_evidence: bool) -> int:
    "How many alerts the windows' null `counts` raise: resolving on evidence of recovery, or after clear_after misses."
    from mlpuzzle.monitoring.rules import condition
    from mlpuzzle.monitoring.recovery import Pool, recovered
    holds_in, made, open_, since = condition("null_rate"), 0, False, []
    for k in counts:
        d, q = _window(int(k), n)
        holds = "seats" in holds_in(rule, d, q, [])
        if not open_:
            if holds: made, open_, since = made + 1, True, []
            continue
        if holds: since = []; continue
        since.append((d, q))
        back = recovered(rule, "seats", Pool(since, alpha)) if on_evidence else len(since) >= rule["_clear_after"]
        if back: open_ = False
    return made


def main(a):
    rule, alpha = _rule()
    rows, t = [], time.perf_counter()
    for n in a.rows:
        for rate in a.rates:
            runs = [np.random.default_rng(s).binomial(n, rate, a.windows) for s in range(a.runs)]
            before = np.mean([alerts_made(c, n, rule, alpha, False) for c in runs])
            after = np.mean([alerts_made(c, n, rule, alpha, True) for c in runs])
            rows.append({"rows": n, "null_rate": rate, "alerts_clear_after": before, "alerts_recovery": after})
            log(f"{n} rows, {rate:.1%} null: {before:.2f} alerts before, {after:.2f} after")
    df = pd.DataFrame(rows)
    print(df.to_string(index=False))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(a), "seconds": time.perf_counter() - t, "results": rows}, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 165, 1000], help="rows a window (default: 100 165 1000)")
    ap.add_argument("--rates", type=float, nargs="+", default=[0.19, 0.2, 0.215, 0.25], help="true null rates after the change")
    ap.add_argument("--windows", type=int, default=300, help="windows after the change, one incident (default: 300)")
    ap.add_argument("--runs", type=int, default=20, help="runs per cell, each its own seed (default: 20)")
    main(ap.parse_args())
