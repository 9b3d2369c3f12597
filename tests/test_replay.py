"""`mlpuzzle replay` end to end, on CSV files of the simulated business dated 2019 (a new user's history):
- no change: `on-alert` (and `on-alert:estimated`) retrain zero times and the policies tie, business value
  included; a replay stopped with Ctrl-C and started again goes on at the step it stopped, each step done once;
- hourly windows and labels without times; two replays of one workspace at once (the second refused); no secret
  copied; no label at all; the workspace's own state untouched.
A replay through a concept drift (`on-alert` recovers and beats `never`, with fewer retrainings than `every:7d`;
the report holds no wall-clock time) is the demo's: tests/test_demo.py."""
import hashlib, json, os, signal, subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import MLPUZZLE, run_mlpuzzle, stop_group
from mlpuzzle.loop.compare import compare
from mlpuzzle.simulator.feed import write_simulation
from mlpuzzle.app.demo import demo_spec
from mlpuzzle.simulator.simulate import simulate
from mlpuzzle.base.workspace import Workspace, init_workspace
from mlpuzzle.models.registry import history

START = "2019-01-01"


def _business(root: Path, scenario: str, days: int, rows: int, onset=None, business=None, webhook=None, labels=True):
    "A workspace reading CSV files (events, and labels with their time) of `days` of the demo's business from 2019-01-01."
    sim = simulate(days, scenario, seed=3, rows_per_day=rows, onset=onset, start=START)
    write_simulation(sim, root / "source")
    spec = demo_spec()  # retraining learns from the last 4 weeks; the gate asks for +0.005
    if business: spec["business"] = business
    if webhook: spec["monitoring"]["webhook"] = webhook
    if not labels: del spec["source"]["labels"]  # and the events have no target column: no label at all
    return init_workspace(root, spec)


def _state(d: Path) -> dict:
    "The hash of every file of workspace `d` but its replays: what a replay must not touch."
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and p.relative_to(d).parts[0] != "replays"}


def test_no_change_ties_and_ctrl_c_resumes(tmp_path):
    ws = _business(tmp_path / "ws", "none", 100, 300, business={"tp": 40, "fp": -10, "tn": 0, "fn": -40})  # a retention offer
    args = [str(MLPUZZLE), "replay", "-w", str(ws.path), "--since", "2019-03-02", "--policy", "never", "--policy", "on-alert",
            "--policy", "on-alert:estimated", "--jobs", "1", "--no-report"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,  # as from a
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # terminal: a pytest-xdist worker ignores SIGINT
    try:
        seen = []
        for line in p.stdout:  # stop it as a user would, with Ctrl-C, in the second policy's third step
            seen.append(line)
            if "on-alert step   2/" in line: os.killpg(p.pid, signal.SIGINT); break
        assert p.wait(120) == 130, "".join(seen) + p.stdout.read()
    finally: stop_group(p)
    done = json.loads((ws.path / "replays" / "on-alert" / "replay.json").read_text())["done"]
    assert done in (2, 3)
    r = run_mlpuzzle(*args[1:], timeout=900)
    assert r.returncode == 0, r.stderr
    assert f"on-alert resumes at step {done + 1}" in r.stdout and "never step" not in r.stdout
    steps = [s["step"] for s in json.loads((ws.path / "replays" / "on-alert" / "replay.json").read_text())["steps"]]
    n = len(json.loads((ws.path / "replays" / "feed" / "feed.json").read_text())["bounds"]) - 1
    assert n == 6 and steps == list(range(1, n + 1))  # 2019-03-02 to the end of the data, 2019-04-11: six steps, each once
    c = compare(ws)
    asking = {"drift", "performance", "estimated_performance"}  # the kinds that start a retraining here
    for p in ("on-alert", "on-alert:estimated"):  # no such alert, so no retraining: neither realized nor estimated performance fell
        res = next(r for r in c["results"] if r["policy"] == p)
        assert c["table"].loc[p, "retrainings"] == 0 and not asking & set(res["alerts"].get("kind", [])), c["table"]
    # (a `prediction_balance` warning may come: at 300 rows a window and a threshold near 50% predicted positive, one
    # window of this run moved 11 points; see the closing note of issue 16)
    assert c["verdict"].startswith("the policies tie"), c["verdict"]
    value = c["table"]["business value"]  # the same champion all along: the same predictions, the same value
    assert value.notna().all() and value["on-alert"] == value["never"] != 0


def test_hourly_windows_and_labels_without_times(tmp_path):
    "Hourly windows in 12-hour steps, history dated 2018, label files of only the id and the target (labels a day late)."
    sim = simulate(14, "covariate_drift", seed=2, rows_per_day=1200, onset=12, start="2018-06-01", label_delay_days=1)
    write_simulation(sim, tmp_path / "ws" / "source")
    for f in (tmp_path / "ws" / "source" / "labels").glob("*.csv"):  # id and target only
        pd.read_csv(f)[["customer_id", "churned"]].to_csv(f, index=False)
    spec = demo_spec()
    spec["monitoring"].update(window="1h", label_delay="1d")
    ws = init_workspace(tmp_path / "ws", spec)
    r = run_mlpuzzle("replay", "-w", ws.path, "--since", "2018-06-11", "--step", "12h", "--gate-days", "2",
                     "--policy", "never", "--policy", "on-alert", "--no-report", timeout=900)
    assert r.returncode == 0, r.stderr + r.stdout[-2000:]
    assert "never step   1/8 to 2018-06-11 12:00" in r.stdout, r.stdout  # a step shorter than a day says its hour
    lab = pd.read_parquet(ws.path / "replays" / "feed" / "labels-0003.parquet").merge(sim.events[["customer_id", "event_time"]])
    known = pd.to_datetime(lab["label_time"], utc=True) - pd.to_datetime(lab["event_time"], utc=True)
    assert len(lab) and (known == pd.Timedelta(days=1)).all()  # no label time: event time plus monitoring.label_delay
    steps = {json.loads((ws.path / "replays" / p / "replay.json").read_text())["policy"]:
             json.loads((ws.path / "replays" / p / "replay.json").read_text())["steps"] for p in ("never", "on-alert")}
    drift = [s["step"] for s in steps["never"] if "drift" in s["alerts"]]
    assert drift and drift[0] in (5, 6), steps["never"]  # the shift starts 06-13 00:00, in step 5: found within 2 steps
    assert any(s["retrained"] for s in steps["on-alert"]) and not any(s["retrained"] for s in steps["never"])
    assert {k[:4] for k in compare(ws)["windows"].index} == {"2018"}


# issue 33: two replays of one workspace at once; no webhook secret copied into a replay; no labels at all
WEBHOOK = "https://hookuser:hookpass@hooks.example.test/services/T0K3NPATH?key=QK3YSECRET"
SECRETS = ("hookuser", "hookpass", "T0K3NPATH", "QK3YSECRET")


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """Two `mlpuzzle replay` of one small workspace (80 days, 3 weekly steps; a webhook with a user, a password, a
    token in its path and a key in its query), the second started while the first runs."""
    root = tmp_path_factory.mktemp("twice")
    ws = _business(root / "ws", "none", 80, 200, webhook=WEBHOOK)
    before = _state(ws.path)
    args = [str(MLPUZZLE), "replay", "-w", str(ws.path), "--since", "2019-03-02", "--policy", "never", "--policy",
            "every:7d", "--jobs", "1", "--no-report"]
    with open(root / "first.err", "w") as err:
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
        try:
            line = first.stdout.readline()  # "replay of ...": the first has cut the feed, holding the replays' lock
            second = run_mlpuzzle(*args[1:], timeout=900)
            out = line + first.communicate(timeout=900)[0]
        finally: stop_group(first)
    return ws, first, out + (root / "first.err").read_text(), second, before


def test_a_second_replay_at_once_is_refused(twice):
    ws, first, out, second, _ = twice
    assert first.returncode == 0, out[-3000:]
    assert second.returncode == 2, second.stderr + second.stdout[-3000:]
    [line] = second.stderr.strip().splitlines()  # one line naming the first one and what to do
    assert "another replay of this workspace is running" in line and f"pid {first.pid})" in line, line
    assert "wait for it to end" in line and not second.stdout, line
    for d in ("never", "every-7d"):  # each step once; one training per retraining, plus the start's champion
        pws = Workspace(ws.path / "replays" / d, check_imports=False)
        steps = json.loads((pws.path / "replay.json").read_text())["steps"]
        assert [s["step"] for s in steps] == [1, 2, 3], steps
        h = history(pws)
        assert (h.action == "register").sum() == 1 + sum(bool(s["retrained"]) for s in steps), h
    assert sum(bool(s["retrained"]) for s in steps) >= 2  # every:7d trained


def test_no_webhook_secret_in_any_file_of_the_workspace(twice):
    ws = twice[0]
    live = ws.path / "mlpuzzle.yml"
    assert WEBHOOK in live.read_text()  # the live spec keeps it, and only it
    files = [p for p in ws.path.rglob("*") if p.is_file() and p != live]
    assert len(files) > 50 and any("replays" in p.parts for p in files)
    leaks = {str(p.relative_to(ws.path)): [s for s in SECRETS if s.encode() in p.read_bytes()] for p in files}
    assert not {p: found for p, found in leaks.items() if found}
    assert "https://hooks.example.test/" in (ws.path / "replays" / "every-7d" / "mlpuzzle.yml").read_text()


def test_no_labels_at_all_says_how_to_add_them(tmp_path):
    ws = _business(tmp_path / "ws", "none", 70, 50, labels=False)
    r = run_mlpuzzle("replay", "-w", ws.path, "--since", "2019-03-02", "--policy", "never", "--no-report", timeout=300)
    assert r.returncode == 2, r.stderr + r.stdout[-2000:]
    [line] = r.stderr.strip().splitlines()
    assert "the spec has no labels" in line and "set source.labels to label files" in line, line
    assert "source.event_labels: true" in line and "--gate-days" not in line, line
    assert not (ws.path / "replays" / "start").exists()  # refused before the history was ingested


def test_production_state_untouched(twice):
    "A replay reads the workspace's source and spec and writes only under its replays/."
    ws, before = twice[0], twice[-1]
    assert _state(ws.path) == before
    assert {p.name for p in (ws.path / "replays").iterdir()} >= {"feed", "start", "never", "every-7d"}
