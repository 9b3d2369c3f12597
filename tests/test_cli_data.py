"""The data verbs of the CLI: simulate, run ingest, quarantine (list, export, re-admit)."""
import json

import pandas as pd

from mlpuzzle.base.workspace import Workspace
from mlpuzzle.data.quarantine import quarantined
from mlpuzzle.data.store import load_snapshots


def test_simulate_ingest_quarantine_readmit(cli, tmp_path, reports):
    ws = tmp_path / "ws"
    r = cli("simulate", "-w", ws, "--days", "8", "--scenario", "unit_change", "--onset", "6", "--rows-per-day", "50")
    assert r.returncode == 0, r.stderr
    assert "scenario unit_change" in r.stdout and "from day 6" in r.stdout
    truth = json.loads((ws / "source" / "truth.json").read_text())
    assert truth["onset_day"] == 6 and truth["scenario"] == "unit_change"

    r = cli("run", "ingest", "-w", ws, "-q", "-p", "until", "2024-01-07")
    assert r.returncode == 0, r.stderr
    w = Workspace(ws)
    assert len(load_snapshots(w)) == 300 and len(quarantined(w)) == 0
    r = cli("run", "ingest", "-w", ws, "-q")
    assert r.returncode == 0, r.stderr
    q = quarantined(w)
    late = pd.concat([pd.read_csv(ws / "source" / "csv" / f"events-2024-01-0{d}.csv") for d in (7, 8)])
    bad = late.monthly_fee.notna().sum()  # from day 6 (0-based) every known fee arrives x1000; unknown fees stay null
    assert 90 < bad < 100 and len(q) == bad and q["_reasons"].str.contains("monthly_fee").all()

    r = cli("quarantine", "-w", ws)
    assert r.returncode == 0 and f"{bad} row(s) in quarantine" in r.stdout and "monthly_fee: is above the maximum" in r.stdout
    fix = tmp_path / "fix.csv"
    assert cli("quarantine", "-w", ws, "--export", fix).returncode == 0
    rows = pd.read_csv(fix)
    rows["monthly_fee"] = rows["monthly_fee"] / 1000  # the fix: back to euros
    rows.to_csv(fix, index=False)
    r = cli("quarantine", "-w", ws, "--readmit", fix)
    assert r.returncode == 0 and f"re-admitted {bad} row(s); 0 still fail" in r.stdout
    assert len(load_snapshots(w)) == 400 and len(quarantined(w)) == 0
    r = cli("quarantine", "-w", ws, "--readmit", fix)
    assert "re-admitted 0 row(s)" in r.stdout and len(load_snapshots(w)) == 400  # nothing twice


def test_simulate_rejects_an_unknown_scenario(cli, tmp_path):
    r = cli("simulate", "-w", tmp_path / "ws", "--scenario", "meteor")
    assert r.returncode == 2 and "meteor" in r.stderr and "covariate_drift" in r.stderr and len(r.stderr.splitlines()) == 1


def test_every_command_has_help(cli):
    for verb in ("init", "run", "status", "simulate", "quarantine", "demo"):
        r = cli(verb, "--help")
        assert r.returncode == 0 and "usage: mlpuzzle" in r.stdout, verb


def test_every_verb_has_help_and_says_what_it_does(cli):
    from mlpuzzle.app.verbs import VERBS
    for verb, (_, _, description, _) in VERBS.items():
        r = cli(verb, "--help")
        assert r.returncode == 0 and f"usage: mlpuzzle {verb}" in r.stdout, verb
        assert " ".join(description.split()[:4]) in " ".join(r.stdout.split()), verb


def test_a_reader_that_goes_away_is_not_an_error(cli, tmp_path):
    "`mlpuzzle status | head -1`: the pipe closes before the command writes; it ends quietly, with 0."
    import subprocess
    from conftest import MLPUZZLE
    ws = tmp_path / "ws"
    assert cli("simulate", "-w", ws, "--days", "2", "--rows-per-day", "10").returncode == 0
    for verb in ("status", "models", "alerts"):
        p = subprocess.Popen([str(MLPUZZLE), verb, "-w", str(ws)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p.stdout.close()  # the reader is gone before the first line is written
        err = p.stderr.read()
        assert p.wait(60) == 0 and "BrokenPipe" not in err and "error" not in err.lower(), (verb, err)


def test_values_that_cannot_work_are_refused_before_anything_runs(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("simulate", "-w", ws, "--days", "2", "--rows-per-day", "10").returncode == 0
    for args, says in ((["run", "check", "-w", ws, "--timeout", "-5"], "argument --timeout: expected a number of seconds above 0"),
                       (["serve", "-w", ws, "--port", "99999"], "argument --port: expected a port number 1-65535, got '99999'"),
                       (["run", "ingest", "-w", ws, "-p", "since", "notadate"], "-p since notadate: expected a time"),
                       (["quarantine", "-w", ws, "--readmit", tmp_path / "missing.csv"], "missing.csv: no such file")):
        r = cli(*args)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "reports" / "runs").exists() or not any((tmp_path / "reports" / "runs").iterdir())  # nothing ran
