"""Monitoring as it runs for real: profiles merged across windows, drift that keeps quiet under no shift at
any size, alerts raised once and delivered to a flaky webhook on 127.0.0.1, the monitor pipeline through
papermill and `mlpuzzle alerts`, and the retraining its alert starts."""
import http.server, json, threading, time

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from mlpuzzle.base.compat import profile_frame
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.models.model import train
from mlpuzzle.models.tracking import track
from mlpuzzle.monitoring.alerts import alerts
from mlpuzzle.monitoring.drift import drift
from mlpuzzle.monitoring.monitor import monitor, rollup, window_results
from mlpuzzle.monitoring.windows import window_range
from mlpuzzle.monitoring.reference import save_reference, window_references
from mlpuzzle.models.registry import propose, register
from mlpuzzle.serving.score import score
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.labels import ingest_labels, training_set
from mlpuzzle.data.store import ingest


FEATURES = list(churn_spec({"kind": "dataframe"})["features"])


def _spec(**monitoring):
    from mlpuzzle.base.spec import validate_spec
    s = churn_spec({"kind": "dataframe"})
    s["monitoring"] = {**s.get("monitoring", {}), **monitoring}
    return validate_spec(s, "test", check_imports=False)


def _profile(df, with_pred=True):
    out = df[FEATURES].reset_index(drop=True)
    if with_pred: out = out.assign(p_1=1 / (1 + np.exp(-(out.tenure_days.to_numpy() - 500) / 300)))  # a score of each row itself
    df = out
    return profile_frame(df)


# --- drift from merged profiles equals drift from the rows at once ---

def test_weekly_rollup_of_daily_profiles_gives_the_same_drift():
    spec = _spec()
    ref = _profile(simulate(10, "none", seed=1, rows_per_day=2000).events)
    week = simulate(14, "covariate_drift", seed=2, rows_per_day=1500, onset=7).events
    week = week[week.event_time >= week.event_time.min().floor("D") + pd.Timedelta(days=7)]  # the 7 shifted days
    days = {f"{d:%Y-%m-%d}T000000": _profile(g) for d, g in week.groupby(week.event_time.dt.floor("D"))}
    assert len(days) == 7
    merged = rollup(days, "7d")
    assert len(merged) in (1, 2)  # 7 days fall in one or two calendar-aligned weeks
    whole = _profile(week)
    merge_all = list(merged.values())[0] if len(merged) == 1 else list(merged.values())[0].merge(list(merged.values())[1])
    by_merge = drift(merge_all, ref, spec)
    at_once = drift(whole, ref, spec)
    a, b = by_merge.set_index("column"), at_once.set_index("column")
    feats = a.role == "feature"
    assert (a.status[feats] == b.status[feats]).all(), pd.concat([a.status, b.status], axis=1)
    assert np.allclose(a.distance, b.distance, atol=0.02)  # KLL and frequent-item sketches: within their error
    assert set(a.index[(a.status == "drift") & feats]) == {"monthly_fee", "tenure_days"}
    assert merge_all.get_column("seats").get_metric("counts").n.value == len(week)


# --- no shift, no alarm: from 1k to 200k rows a window ---

@pytest.mark.parametrize("rows,windows", [(1000, 30), (200_000, 2)])
def test_no_shift_raises_no_drift(rows, windows):
    spec = _spec()
    ref = _profile(simulate(20, "none", seed=3, rows_per_day=2500).events)
    flagged = 0
    for w in range(windows):
        d = drift(_profile(simulate(1, "none", seed=100 + w, rows_per_day=rows).events), ref, spec)
        flagged += bool(((d.status == "drift") & (d.role == "feature")).any())
    assert flagged / windows <= 0.05, f"{flagged} of {windows} windows with a drifting feature at {rows} rows"


# --- a workspace with a covariate shift from day 40, its champion trained on days 0-29 ---

@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    d = tmp_path_factory.mktemp("monitor")
    sim = simulate(50, "covariate_drift", seed=3, rows_per_day=300, onset=40)
    start = sim.events.event_time.min().floor("D")
    day = lambda n: start + pd.Timedelta(days=n)
    ws = init_workspace(d / "ws", churn_spec({"kind": "dataframe"}))
    ingest(ws, df=sim.events)
    ingest_labels(ws, df=sim.labels)
    data = training_set(ws, until=day(30))
    with threadpool_limits(1): r = train(data, ws.spec, seed=0)
    info = {"threshold": r.threshold, "beats_baseline": True, "test_metrics": r.metrics["test"]}
    v = register(ws, r.model, track(ws, r), info)
    assert propose(ws, v, data.tail(2000)).promote
    save_reference(ws, v, data, r.model, {**info, "version": v})
    score(ws)
    return ws, day


def _with_webhook(ws, url):
    "Point the workspace's spec at webhook `url` and forget any alert state (a fresh start)."
    import yaml
    p = ws.path / "mlpuzzle.yml"
    spec = yaml.safe_load(p.read_text())
    spec.setdefault("monitoring", {})["webhook"] = url
    p.write_text(yaml.safe_dump(spec))
    (ws.path / "alerts" / "monitor.db").unlink(missing_ok=True)
    from mlpuzzle.base.workspace import Workspace
    return Workspace(ws.path, check_imports=False)


class Receiver(http.server.ThreadingHTTPServer):
    "A webhook on 127.0.0.1 whose `mode` is fail (500), hang (no answer for 5 s) or ok (200, recorded)."
    def __init__(self):
        outer = self
        self.mode, self.received, self.attempts = "fail", [], 0

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.attempts += 1
                if outer.mode == "hang": time.sleep(5); code = 503
                elif outer.mode == "fail": code = 500
                else: code = 200; outer.received.append(json.loads(body))
                try: self.send_response(code); self.end_headers()
                except OSError: pass
            def log_message(self, *a): pass
        super().__init__(("127.0.0.1", 0), H)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self): return f"http://127.0.0.1:{self.server_address[1]}/alerts"


def test_flaky_webhook_never_blocks_monitoring_and_gets_the_alert_once(shifted):
    ws, day = shifted
    rx = Receiver()
    try:
        ws = _with_webhook(ws, rx.url)
        keys = window_range(ws, day(30), day(50))
        window_results(ws, keys, window_references(ws, keys))  # the windows computed beforehand: only delivery is timed
        timings = []
        for mode in ("fail", "hang", "ok", "ok"):
            rx.mode = mode
            t = time.monotonic()
            rep = monitor(ws, since=day(30), as_of=day(50), budget=3, quiet=True)
            timings.append(time.monotonic() - t)
            if mode == "fail": assert [e["kind"] for e in rep.events if e["event"] == "raised"] == ["drift"]
            else: assert rep.events == []  # raised once, not again while it holds
        assert rx.attempts >= 3  # it retried while failing and hanging
        assert all(s < 3 + 2 + 5 for s in timings), timings  # the delivery budget, one request's timeout, judging the windows
        opened = [p for p in rx.received if p["event"] == "opened"]  # one message per incident, not per alert
        assert len(opened) == 1 and opened[0]["kinds"] == ["drift"] and opened[0]["id"] == f"incident-{opened[0]['incident']}-1"
        assert opened[0]["alerts"][0]["kind"] == "drift" and "features drift" in opened[0]["message"], opened[0]
        assert alerts(ws).delivered.tolist() == [1]
    finally:
        rx.shutdown()


SECRETS = ("Pw5ecret", "K3ysecret", "P4thsecret")


def test_monitor_pipeline_alerts_cli_and_retraining(shifted, cli, tmp_path):
    """The monitor stage through the CLI raises the drift alert and retrains. Its webhook (which fails) has a
    password, a key in its query string and a token in its path: none reaches a report, a log or MLflow, and
    what the commands write is private (files 600, directories 700)."""
    ws, day = shifted
    rx = Receiver()
    hook = rx.url.replace("http://", f"http://bot:{SECRETS[0]}@") + f"/{SECRETS[2]}?key={SECRETS[1]}"
    ws = _with_webhook(ws, hook)  # a fresh alert log
    started, before = time.time(), set(ws.path.rglob("*"))
    try: r = cli("run", "monitor", "-w", ws.path, "-p", "since", str(day(30)), "-p", "as_of", str(day(50)), "--reports", tmp_path, "-q", timeout=600)
    finally: rx.shutdown()
    assert r.returncode == 0, r.stderr
    assert rx.attempts >= 1
    new = [p for p in [*tmp_path.rglob("*"), *ws.path.rglob("*")] if p not in before]
    assert any(p.suffix == ".html" for p in new) and any(p.suffix == ".ipynb" for p in new)
    for p in new: assert p.stat().st_mode & 0o077 == 0, f"{p} is {oct(p.stat().st_mode & 0o777)}"
    written = [p for p in [*tmp_path.rglob("*"), *ws.path.rglob("*")] if p.is_file() and p.stat().st_mtime >= started]
    for p in written:
        if p != ws.spec_file: assert not any(s.encode() in p.read_bytes() for s in SECRETS), f"a secret of the webhook is in {p}"
    assert not any(s in r.stdout + r.stderr for s in SECRETS)
    assert "ask for retraining (drift)" in r.stdout and "(train) succeeded" in r.stdout, r.stdout
    report = next(tmp_path.glob("runs/*-monitor/monitor.html")).read_text()
    assert "WARNING" in report and "drift" in report
    out = cli("alerts", "-w", ws.path)
    assert out.returncode == 0 and "drift" in out.stdout and "open" in out.stdout, out.stdout
    text = cli("alerts", "-w", ws.path, "--json").stdout
    rows = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))  # null, never NaN
    assert rows[0]["kinds"] == ["drift"] and rows[0]["alerts"][0]["retrain_run"] not in (None, "starting"), rows
    alone = json.loads(cli("alerts", "-w", ws.path, "--json", "--alerts").stdout)
    assert [a["id"] for a in alone] == [a["id"] for a in rows[0]["alerts"]] and alone[0]["incident_id"] == rows[0]["id"]
    status = cli("status", "-w", ws.path).stdout
    assert "train" in status and "monitor" in status
