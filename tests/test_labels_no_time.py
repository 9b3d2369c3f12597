"""Label files of only the id and the target (no label time), end to end: ingested by `mlpuzzle run ingest` with
this run's label delay, which the ingest report says in one line; then a model trained, the events scored, and
`monitor` run on replayed history: realized performance for exactly the windows whose labels are known by then
(event time + label delay <= as_of), none for newer ones."""
import nbformat
import pandas as pd
from threadpoolctl import threadpool_limits

from mlpuzzle.simulator.feed import write_simulation
from mlpuzzle.data.labels import load_labels, training_set
from mlpuzzle.models.model import train
from mlpuzzle.monitoring.monitor import monitor
from mlpuzzle.monitoring.reference import save_reference
from mlpuzzle.models.registry import propose, register
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.models.tracking import track
from mlpuzzle.base.workspace import init_workspace, Workspace


def _report_text(reports) -> str:
    "Every text output of the (one) executed ingest notebook under `reports`."
    [nb] = reports.glob("runs/*-ingest/ingest.ipynb")
    outs = [o for c in nbformat.read(nb, as_version=4).cells for o in c.get("outputs", [])]
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "") for o in outs)


def _ingested(tmp_path, cli, reports) -> tuple:
    "16 simulated days ingested by `mlpuzzle run ingest -p label_delay 7d`, the labels as id and target only."
    sim = simulate(16, "none", seed=11, rows_per_day=200)
    ws = tmp_path / "ws"
    write_simulation(sim, ws / "source")
    (ws / "source" / "labels").mkdir(exist_ok=True)
    for f in (ws / "source" / "labels").glob("*.csv"): f.unlink()  # the simulation's label files have a label_time
    stray = pd.DataFrame({"customer_id": [f"nobody-{i}" for i in range(5)], "churned": 0})  # ids of no event
    lab = pd.concat([sim.labels[["customer_id", "churned"]], stray]).assign(source="crm")  # an extra column
    lab.to_csv(ws / "source" / "labels" / "l.csv", index=False)
    spec = churn_spec({"kind": "csv", "path": "source/csv/events-*.csv", "labels": "source/labels/*.csv"})  # 30d
    spec["model"]["params"] = {"max_iter": 30}
    init_workspace(ws, spec)
    r = cli("run", "ingest", "-w", ws, "-q", "-p", "label_delay", "7d")
    assert r.returncode == 0, r.stderr
    return Workspace(ws), sim, len(lab)


def test_labels_without_a_label_time_give_realized_performance_once_known(tmp_path, cli, reports):
    ws, sim, n = _ingested(tmp_path, cli, reports)
    assert ("source/labels/l.csv has no label_time column: each label counts as known 7d after its event "
            f"(the run's label_delay); 5 of its {n:,} ids have no stored event yet") in _report_text(reports)
    day = lambda d: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)
    assert len(load_labels(ws)) == n and len(load_labels(ws, day(100))) == n - 5  # the stray ids: known at no time

    data = training_set(ws, until=day(6), as_of=day(14))
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    assert propose(ws, v, data.tail(500)).promote
    save_reference(ws, v, data, r.model, {**info, "version": v})
    score(ws)

    as_of = day(14) + pd.Timedelta("6h")  # business time, years before the clock
    perf = monitor(ws, as_of=as_of, deliver_alerts=False, quiet=True).performance.set_index("window")
    ev = sim.events.assign(event_time=pd.to_datetime(sim.events.event_time, utc=True))
    known = ev[ev.event_time + pd.Timedelta("7D") <= as_of]
    expected = known.groupby(known.event_time.dt.floor("D").dt.strftime("%Y-%m-%dT%H%M%S")).size()
    assert len(expected) == 8 and expected.index.max() == "2024-01-08T000000"  # days 0-6 whole, and part of day 7
    assert perf.labeled.to_dict() == expected.to_dict()  # labeled rows for exactly those, none for newer windows
    assert (perf.value.loc[expected.index[:7]] > 0.6).all()  # judged: 200 labels a day
    assert perf.index.max() < "2024-01-09"  # with the spec's 30d (not this run's 7d) nothing would be labeled
