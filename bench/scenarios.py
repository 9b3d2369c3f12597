"""Does monitoring catch each incident of the simulated business, with the right kind of alert, in time,
and stay quiet when nothing changes? One run over the simulator's scenarios.

For each scenario: `--days` days (default 120) of the churn business at `--rows` events a day, the change
starting on day `--onset` (default 75). Days 0-59 are history: the champion is trained on the labeled
events of days 0-29 with the labels known on day 60 (labels arrive 30 days late), registered, promoted,
and its reference profile saved. Days 60-119 are production: each day's batch is ingested as it comes
(its own snapshot; a batch the contract refuses whole, e.g. a missing required column, is recorded as
a failed ingestion), scored by the champion, and monitored at the end of the day (`monitor(as_of=end
of day)`): 60 windows of one day, with the spec's default rules. The first alert of each kind, its
window, the day it was raised, and every alert outside the incident are recorded.

The data is made less tidy than the simulator's, as real references are: `monthly_fee` is `--nulls` (10%)
null on every day, reference included, and the region `west` is rare (`--rare`, 1% of the rows instead
of 10%). (`--nulls` is the share the bench nulls, on top of the simulator's own 3%: 12.7% null in all.)

Near-threshold scenarios, bench-only: an incident close to an alert threshold, made by the bench on the
untidy batches of the simulator's `none` (or `covariate_drift`) from the onset (null shares of all the rows):
- null_level: `monthly_fee` null on 1.5 points more than the reference's share plus the null_rate rule's
  default margin (0.1), to the end: about 24.2% with the reference's 12.7%, against a threshold of 22.7%;
- rare_category: the region `central`, which the contract does not know, on 1% of each day's rows (rows
  drawn at random), to the end;
- nulls_with_drift: covariate_drift, and `monthly_fee` and `usage_hours` 40% null from the same day
  (`usage_hours` is not nullable in the contract: its null rows are quarantined);
- transient_nulls: `monthly_fee` 45% null for 5 days, then as before.
The shares measured on the batches are in each result's `measured`.

Segment and relation scenarios, bench-only (issue 30), on the simulator's `none` with sharper outcomes (the
churn rule's coefficients x2.5: the champion's test ROC AUC about 0.9 instead of 0.75, so that a segment has room
to fail while the population holds; the same in every window, the reference's included):
- segment_concept: from the onset, 70% of the outcomes of `plan=pro` customers (about 10% of the rows) are a coin
  flip at the churn rate: that segment's ROC AUC falls to about 0.6, the population's stays above the floor
  (found once its labels arrive, 30 days later: `segment_performance`);
- segment_shift: from the onset, `plan=pro` customers have a quarter of their tenure: their predicted churn moves
  (`segment_balance`), tenure's relation to the plan changes (`relations`, naming both), and at 10,000 rows the
  population's tenure may drift (`drift`): any of the three is the incident;
- misaligned_join: `logins_30d` shuffled within each day from the onset (its relation to `usage_hours`, 0.86, is
  gone, every marginal unchanged: `relations`);
- correlation_flip: `logins_30d` reassigned within each day in the reverse order of `usage_hours` (Spearman +0.86
  becomes about -1, marginals unchanged: `relations`).

Targets (from the issues): each incident alerted with the right kind within 2 windows of its onset
(concept drift: within 2 windows of its labels arriving, i.e. onset + 30 days), by one alert (alerts per
incident: the alerts of the incident's kind raised from its onset on); no false alert in the stable
windows (before the onset, and all of the `none` and `seasonality` runs); at 100, 1,000 and 10,000 rows a
window. Kinds: drift -> drift; data_quality -> null_rate, quarantine_rate, category, schema or no_data;
performance -> performance. That is `ok_alerts`. `ok` counts incidents instead: when `monitor` reports
incidents (`rep.incident_events`), an incident is one detection unit; without them, each raised alert is
one. `ok`: an incident of the right kind opened within 2 windows of the onset (performance: of the labels),
exactly one incident opened from the onset's window on, none opened in an earlier window.

    .venv/bin/python bench/scenarios.py [--rows 100 1000 10000] [--scenarios covariate_drift null_level ...]
                                        [--out PATH]

Results: a table on stdout and bench/results/scenarios.json (or `--out`).
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from common import log

RESULTS = Path(__file__).parent / "results" / "scenarios.json"
CATEGORY = {"segment_performance": "segment", "segment_balance": "segment", "relations": "relations", "drift": "drift", "prediction_balance": "drift", "performance": "performance", "estimated_performance": "performance", "null_rate": "data_quality", "quarantine_rate": "data_quality",
            "schema": "data_quality", "no_data": "data_quality", "error_rate": "data_quality",
            "category": "data_quality"}
SCENARIOS = ["covariate_drift", "new_category", "unit_change", "null_column", "missing_column", "duplicate_ids",
             "numbers_as_strings", "concept_drift", "seasonality", "none"]  # the simulator's (bench/estimation.py too)
NEAR = {  # near-threshold scenario -> (the simulator's scenario under it, the categories of alert it should raise)
    "null_level": ("none", ("data_quality",)),
    "rare_category": ("none", ("data_quality",)),
    "nulls_with_drift": ("covariate_drift", ("drift", "data_quality")),
    "transient_nulls": ("none", ("data_quality",))}
DEEP = {  # segment and relation scenario -> (the simulator's under it, the categories expected, days until labels)
    "segment_concept": ("none", ("segment",), 30),
    "segment_shift": ("none", ("segment", "relations", "drift"), 0),
    "misaligned_join": ("none", ("relations",), 0),
    "correlation_flip": ("none", ("relations",), 0)}
ALL = SCENARIOS + list(NEAR) + list(DEEP)
SEGMENT, JOINED = ("plan", "pro"), ("logins_30d", "usage_hours")
NULL_MARGIN, NEAR_MARGIN = 0.1, 0.015  # the null_rate rule's default margin; null_level is above it by this
NEW_VALUE, NEW_SHARE, DRIFT_NULLS, TRANSIENT = ("region", "central"), 0.01, 0.4, (0.45, 5)


def untidy(batch: pd.DataFrame, nulls: float, rare: float, rng) -> pd.DataFrame:
    "`batch` with `monthly_fee` about `nulls` null and the region `west` kept on only `rare` of its rows."
    b = batch.copy()
    if "monthly_fee" in b: b.loc[rng.random(len(b)) < nulls, "monthly_fee"] = None
    west = (b["region"] == "west").to_numpy() & (rng.random(len(b)) >= rare / 0.1)
    b.loc[west, "region"] = "north"
    return b


def more_nulls(b: pd.DataFrame, col: str, share: float, base: float, rng) -> pd.DataFrame:
    "`b` with `col` about `share` null instead of `base` (both shares of all its rows): more of its values nulled."
    b = b.copy()
    b.loc[rng.random(len(b)) < (share - base) / (1 - base), col] = None
    return b


def new_value(b: pd.DataFrame, col: str, value: str, share: float, rng) -> pd.DataFrame:
    "`b` with `value` in `col` on `share` of its rows (rounded up), drawn at random."
    b = b.copy()
    b.loc[b.index[rng.choice(len(b), int(np.ceil(share * len(b))), replace=False)], col] = value
    return b


def near_threshold(name: str, batches: list, onset: int, rng) -> tuple[list, int]:
    """(the batches of near-threshold scenario `name`, the day after its change ends): the change from `onset`.
    Null shares are of all the rows, as monitoring sees them; `monthly_fee`'s was that of the days before the onset."""
    fee_null = lambda days: shares(batches, days)["monthly_fee_null"]
    before, level = fee_null(range(onset)), fee_null(range(30)) + NULL_MARGIN + NEAR_MARGIN  # days 0-29: the reference
    fee = lambda share: lambda b: more_nulls(b, "monthly_fee", share, before, rng)
    usage = lambda b: more_nulls(b, "usage_hours", DRIFT_NULLS, 0.0, rng)
    end, (transient, days) = len(batches), TRANSIENT
    until, change = {"null_level": (end, fee(level)),
                     "rare_category": (end, lambda b: new_value(b, *NEW_VALUE, NEW_SHARE, rng)),
                     "nulls_with_drift": (end, lambda b: usage(fee(DRIFT_NULLS)(b))),
                     "transient_nulls": (onset + days, fee(transient))}[name]
    return [(d, change(b) if onset <= i < until else b) for i, (d, b) in enumerate(batches)], until


def _reordered(b: pd.DataFrame, how: str, rng) -> pd.DataFrame:
    "Batch `b` with `JOINED[0]` shuffled (`shuffle`) or in the reverse order of `JOINED[1]` (`flip`): same values."
    b, (col, other) = b.copy(), JOINED
    values = b[col].to_numpy()
    if how == "shuffle": b[col] = rng.permutation(values); return b
    order = np.argsort(-b[other].rank(method="first").to_numpy())  # rows from the largest `other` down
    out = np.empty_like(values); out[order] = np.sort(values)  # the largest gets the smallest
    b[col] = out
    return b


def deep_change(name: str, sim, onset: int, rng) -> tuple[list, pd.DataFrame]:
    """(batches, labels) of segment or relation scenario `name` (see the docstring): every outcome drawn from the
    sharper rule, then the change from `onset`."""
    from mlpuzzle.simulator.simulate import CHURN_RULE, draw_churn
    sharp = {**{k: 2.5 * v for k, v in CHURN_RULE.items()}, "intercept": -1.0}
    col, value = SEGMENT
    batches, churned = [], {}
    for i, (d, b) in enumerate(sim.batches):
        y = draw_churn(rng, b, sharp).astype(float)
        seg = (b[col] == value).to_numpy()
        if i >= onset and name == "segment_concept":
            hit = seg & (rng.random(len(b)) < 0.7)
            y[hit] = rng.random(hit.sum()) < y.mean()
        if i >= onset and name == "segment_shift": b = b.assign(tenure_days=np.where(seg, b.tenure_days // 4, b.tenure_days))
        if i >= onset and name in ("misaligned_join", "correlation_flip"):
            b = _reordered(b, "shuffle" if name == "misaligned_join" else "flip", rng)
        churned.update(zip(b.customer_id, y.astype(int)))
        batches.append((d, b))
    return batches, sim.labels.assign(churned=sim.labels.customer_id.map(churned).astype(int))


def shares(batches: list, days: range) -> dict:
    "The shares the near-threshold scenarios change, over the rows of `days`: nulls of two columns, the new value."
    df = pd.concat([batches[d][1] for d in days], ignore_index=True)
    col, value = NEW_VALUE
    return {"monthly_fee_null": df["monthly_fee"].isna().mean(), "usage_hours_null": df["usage_hours"].isna().mean(),
            f"{col}_{value}": (df[col] == value).mean(), "rows": len(df)}


def scenario_data(scenario: str, rows: int, days: int, onset: int, seed: int, nulls: float, rare: float):
    "(simulation of `scenario` made untidy, and changed if near-threshold; its truth; the alert categories it expects)."
    from mlpuzzle.simulator.simulate import simulate
    base, cats = NEAR.get(scenario, DEEP.get(scenario, (scenario, None))[:2])
    sim = simulate(days, base, seed=seed, rows_per_day=rows, onset=onset)
    rng = np.random.default_rng(seed)
    if scenario in DEEP: sim.batches, sim.labels = deep_change(scenario, sim, onset, np.random.default_rng([seed, 2]))
    sim.batches = [(d, untidy(b, nulls, rare, rng)) for d, b in sim.batches]
    truth = dict(sim.truth)
    if scenario in DEEP: truth.update(scenario=scenario, onset_day=onset, alert="+".join(cats))
    if scenario in NEAR:
        sim.batches, until = near_threshold(scenario, sim.batches, onset, np.random.default_rng([seed, 1]))
        measured = {"reference": shares(sim.batches, range(30)), "incident": shares(sim.batches, range(onset, until))}
        truth.update(scenario=scenario, onset_day=onset, change_until_day=until, measured=measured)
    return sim, truth, cats or ((truth["alert"],) if truth.get("alert") else ())


def champion(ws, sim, day, start_production: int):
    "Ingest the history, train the champion on days 0-29 with the labels known at `start_production`, promote it."
    from threadpoolctl import threadpool_limits
    from mlpuzzle.models.model import train
    from mlpuzzle.models.tracking import track
    from mlpuzzle.monitoring.reference import save_reference
    from mlpuzzle.models.registry import propose, register
    from mlpuzzle.data.labels import ingest_labels, training_set
    from mlpuzzle.data.store import ingest
    ingest(ws, df=pd.concat([b for d, b in sim.batches[:start_production]], ignore_index=True), profile=False)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws, until=day(30), as_of=day(start_production))
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    assert propose(ws, v, data.tail(2000)).promote
    save_reference(ws, v, data, r.model, {**info, "version": v})


def production(ws, sim, day, t0, start_production: int, days: int) -> tuple:
    """Ingest, score and monitor each production day: (alert events, incident events or None without incidents,
    failed ingestions, the last report's incidents), each event with the day it came (`as_of_day`) and its window's."""
    from mlpuzzle.base.core import DataError
    from mlpuzzle.monitoring.monitor import monitor
    from mlpuzzle.serving.score import score
    from mlpuzzle.data.store import ingest
    window_day = lambda key: (pd.Timestamp(key) - t0).days
    events, incident_events, failed, rep = [], None, [], None
    for d in range(start_production, days):
        try: ingest(ws, df=sim.batches[d][1])
        except DataError as e: failed.append({"day": d, "error": str(e)[:200]})
        score(ws, since=day(d), until=day(d + 1))
        rep = monitor(ws, since=day(start_production), as_of=day(d + 1), deliver_alerts=False, quiet=True)
        events += [{**e, "as_of_day": d + 1, "window_day": window_day(e["window"])} for e in rep.events]
        if hasattr(rep, "incident_events"):
            incident_events = (incident_events or []) + [
                {**e, "as_of_day": d + 1, "window_day": window_day(e["first_window"])} for e in rep.incident_events]
    incidents = getattr(rep, "incidents", None)
    return events, incident_events, failed, [] if incidents is None else incidents.to_dict("records")


def alert_units(events: list) -> list[dict]:
    "Each raised alert as one detection unit (monitoring without incidents): its day, window's day, kinds, resolution."
    resolved = {e["id"]: e["as_of_day"] - 1 for e in events if e["event"] == "resolved"}
    return [{"id": e["id"], "day": e["as_of_day"] - 1, "window_day": e["window_day"], "kinds": [e["kind"]],
             "resolved_day": resolved.get(e["id"]), "reopened": 0} for e in events if e["event"] == "raised"]


def incident_units(incident_events: list) -> list[dict]:
    "Each incident opened as one detection unit, from its events: its day, first window's day, kinds, resolution."
    units = {}
    for e in incident_events:
        u = units.setdefault(e["incident"], {"id": e["incident"], "day": None, "window_day": None, "kinds": set(),
                                             "resolved_day": None, "reopened": 0})
        kinds = e.get("kinds") or []
        u["kinds"] |= set(json.loads(kinds) if isinstance(kinds, str) else kinds)
        if e["event"] == "opened" and u["day"] is None: u.update(day=e["as_of_day"] - 1, window_day=e["window_day"])
        if e["event"] == "resolved": u["resolved_day"] = e["as_of_day"] - 1
        if e["event"] == "reopened": u.update(resolved_day=None, reopened=u["reopened"] + 1)
    return [{**u, "kinds": sorted(u["kinds"])} for u in units.values() if u["day"] is not None]


def incident_scores(units: list, onset, due, cats: tuple, days: int) -> dict:
    """The incident figures of detection `units`: those opened from the onset's window on are the incident's, those
    opened earlier false alarms in stable windows; `ok` when one of the right kind is opened within 2 windows of `due`,
    it is the only one from the onset on, and none is opened earlier (no incident: none at all)."""
    mine = [u for u in units if onset is not None and u["window_day"] >= onset]
    false_stable = [u for u in units if u["window_day"] < (days if onset is None or not cats else onset)]
    right = [u for u in mine if any(CATEGORY.get(k, k) in cats for k in u["kinds"])]
    first = min(right, key=lambda u: u["day"], default=None)
    delay = None if first is None else first["day"] - due
    ends = [u["resolved_day"] for u in mine]
    return {"incidents_per_incident": len(mine) if cats else None, "first_incident_day": first and first["day"],
            "incident_delay_windows": delay, "incident_kinds": sorted({k for u in mine for k in u["kinds"]}),
            "false_incidents_stable": len(false_stable), "reopened": sum(u["reopened"] for u in mine),
            "resolved_day": max(ends) if ends and None not in ends else None, "incident_detail": units[:10],
            "ok": not units if not cats else (first is not None and delay <= 2 and len(mine) == 1 and not false_stable)}


def alert_scores(events: list, onset, due, cats: tuple, days: int) -> dict:
    "The alert figures (incidents aside): first alert of the right kind from `due` on, alerts per incident, false ones."
    raised = [e for e in events if e["event"] == "raised"]
    hits = [e for e in raised
            if CATEGORY.get(e["kind"], e["kind"]) in cats and due is not None and e["as_of_day"] - 1 >= due]
    first = min(hits, key=lambda e: e["as_of_day"]) if hits else None
    false = [e for e in raised if e not in hits]
    stable_end = days if onset is None or not cats else onset
    false_stable = [e for e in false if e["window_day"] < stable_end]
    delay = None if first is None else first["as_of_day"] - 1 - due  # windows after the one where the incident (or its labels) started
    ok = (not cats and not raised) or (first is not None and delay <= 2 and not false and len(hits) == 1)
    keys = ("kind", "subject", "window", "message")
    detail = lambda es, keys=keys: [{k: e[k] for k in keys} for e in es]
    return {"first_alert_day": first["as_of_day"] - 1 if first else None,
            "first_alert_window_day": first["window_day"] if first else None, "delay_windows": delay,
            "alert_kinds": sorted({e["kind"] for e in hits}), "alerts_per_incident": len(hits) if cats else None,
            "false_alerts": len(false), "false_alerts_stable": len(false_stable), "ok_alerts": ok,
            "false_detail": detail(false)[:10], "alerts_detail": detail(raised, (*keys, "as_of_day"))[:20]}


def replay(scenario: str, root: Path, rows: int = 1000, days: int = 120, onset: int = 75, seed: int = 7,
           start_production: int = 60, nulls: float = 0.1, rare: float = 0.01) -> dict:
    "Simulate, train on history, then ingest, score and monitor each production day; return what monitoring raised."
    from mlpuzzle.base.workspace import init_workspace
    from mlpuzzle.simulator.simulate import churn_spec
    sim, truth, cats = scenario_data(scenario, rows, days, onset, seed, nulls, rare)
    t0 = pd.Timestamp(sim.batches[0][1]["event_time"].min()).floor("D")
    day = lambda d: t0 + pd.Timedelta(days=d)
    ws = init_workspace(root / f"{scenario}-{rows}", churn_spec({"kind": "dataframe"}))
    champion(ws, sim, day, start_production)
    clock = time.perf_counter()
    events, incident_events, failed, incidents = production(ws, sim, day, t0, start_production, days)
    inc_onset = truth.get("onset_day")
    late = DEEP[scenario][2] if scenario in DEEP else 30 if "performance" in cats else 0  # the labels' delay
    due = None if inc_onset is None else inc_onset + late
    units = alert_units(events) if incident_events is None else incident_units(incident_events)
    return {"scenario": scenario, "expected": "+".join(cats) or None, "onset_day": inc_onset, "due_day": due,
            **alert_scores(events, inc_onset, due, cats, days), "rows": rows,
            "units": "alerts" if incident_events is None else "incidents",
            **incident_scores(units, inc_onset, due, cats, days),
            "failed_ingestions": len(failed), "windows": days - start_production, "incidents": incidents[:20],
            "measured": truth.get("measured"), "change_until_day": truth.get("change_until_day"),
            "monitor_s": time.perf_counter() - clock}


def save(a, out: list, t: float):
    "Write the results so far to `a.out` (after each run: a long run stopped halfway keeps what it measured)."
    a.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"args": vars(a), "seconds": time.perf_counter() - t, "results": out}
    a.out.write_text(json.dumps(doc, indent=1, default=str))


def main(a):
    import mlpuzzle
    out, root, a.package = [], Path(tempfile.mkdtemp(prefix="mlpuzzle-scenarios-")), mlpuzzle.__file__
    log(f"mlpuzzle from {a.package}")
    t = time.perf_counter()
    for rows in a.rows:
        for s in a.scenarios:
            log(f"{s} at {rows:,} rows a window ...")
            r = replay(s, root, rows, onset=a.onset, nulls=a.nulls, rare=a.rare)
            log(f"  first alert day {r['first_alert_day']} (due {r['due_day']}), kinds {r['alert_kinds']}, "
                f"alerts {r['alerts_per_incident']}, false {r['false_alerts']} ({r['false_alerts_stable']} in stable "
                f"windows), ok_alerts {r['ok_alerts']}; {r['units']}: {r['incidents_per_incident']} from the onset, "
                f"first day {r['first_incident_day']}, {r['false_incidents_stable']} in stable windows, resolved day "
                f"{r['resolved_day']}, ok {r['ok']}; {r['monitor_s']:.0f} s")
            out.append(r)
            save(a, out, t)
    df = pd.DataFrame(out)
    cols = ["rows", "scenario", "expected", "due_day", "first_alert_day", "delay_windows", "alert_kinds",
            "alerts_per_incident", "false_alerts_stable", "ok_alerts", "units", "incidents_per_incident",
            "incident_delay_windows", "false_incidents_stable", "resolved_day", "failed_ingestions", "ok"]
    print(df[cols].to_string(index=False))
    save(a, out, t)
    log(f"{sum(df.ok)}/{len(df)} scenarios meet the target ({sum(df.ok_alerts)}/{len(df)} the alert target); "
        f"{time.perf_counter() - t:.0f} s; {a.out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 1000, 10000], help="events per day, one run each (default: 100 1000 10000)")
    ap.add_argument("--nulls", type=float, default=0.1, help="share of monthly_fee that is null on every day, reference included (default: 0.1)")
    ap.add_argument("--rare", type=float, default=0.01, help="share of the rows in the rare region west (default: 0.01)")
    ap.add_argument("--onset", type=int, default=75, help="day the incident starts (default: 75)")
    ap.add_argument("--scenarios", nargs="+", default=ALL, choices=ALL, metavar="NAME",
                    help=f"default: all ({', '.join(ALL)})")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="where to write the results (default: bench/results/scenarios.json)")
    main(ap.parse_args())
