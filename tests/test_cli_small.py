"""Small things a new user meets (issue 14.7): `run ingest -p path FILE` alone reads that file, and a listing piped
into a reader that goes away (`| head`) ends quietly. The real `mlpuzzle` command, in subprocesses, with real pipes."""
import os, sqlite3, subprocess, time

import pandas as pd
import pytest
from conftest import MLPUZZLE

from mlpuzzle.loop.runs import list_runs
from mlpuzzle.data.store import load_snapshots, snapshots
from mlpuzzle.base.workspace import Workspace


def user_env(reports, buffered: bool = True) -> dict:
    "The environment of a user's shell: stdout block-buffered into a pipe (no PYTHONUNBUFFERED), unless not `buffered`."
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, "MLPUZZLE_REPORTS": str(reports), **({} if buffered else {"PYTHONUNBUFFERED": "1"})}


def mlpuzzle(*args, cwd, reports, timeout=300) -> subprocess.CompletedProcess:
    "Run `mlpuzzle ARGS...` from directory `cwd`, as a user would."
    return subprocess.run([str(MLPUZZLE), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=user_env(reports))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    "A user's directory holding a simulated workspace `ws` (2 days, 20 events a day, nothing ingested yet)."
    d = tmp_path_factory.mktemp("home")
    r = mlpuzzle("simulate", "-w", "ws", "--days", "2", "--rows-per-day", "20", cwd=d, reports=d / "reports")
    assert r.returncode == 0, r.stderr
    return d


def day(home, n: int) -> pd.DataFrame:
    "The events the simulation wrote for day `n` (1-based) into the workspace's own source."
    return pd.read_csv(home / "ws" / "source" / "csv" / f"events-2024-01-0{n}.csv")


def ingested(home, before: set) -> tuple:
    "(names of the files read, ids stored) by the snapshots made since the snapshot ids `before`."
    ws = Workspace(home / "ws")
    new = [m for m in snapshots(ws) if m["id"] not in before]
    ids = load_snapshots(ws, ids=[m["id"] for m in new])[ws.spec["columns"]["id"]] if new else pd.Series(dtype=object)
    return sorted(m["source"]["name"] for m in new), sorted(ids)


def snapshot_ids(home) -> set: return {m["id"] for m in snapshots(Workspace(home / "ws"))}


def test_nothing_is_written_into_the_workspace_after_a_run_returns(tmp_path):
    "Issue 33.10: the dashboard rebuilt after `run ingest` reads the workspace and writes only its reports; --wait waits."
    r = mlpuzzle("simulate", "-w", "ws", "--days", "2", "--rows-per-day", "20", cwd=tmp_path, reports=tmp_path / "reports")
    assert r.returncode == 0, r.stderr
    ws, page = tmp_path / "ws", tmp_path / "reports" / "index.html"
    def listing(): return sorted(str(p.relative_to(ws)) for p in ws.rglob("*"))
    r = mlpuzzle("run", "ingest", "-w", "ws", "-q", cwd=tmp_path, reports=tmp_path / "reports")
    assert r.returncode == 0, r.stderr
    after = listing()
    for _ in range(120):  # the rebuild in the background: until its page is written, and a little more
        if page.exists(): break
        time.sleep(0.5)
    time.sleep(2)
    assert page.exists() and listing() == after  # no reader created state (mlflow/history.db was one)
    assert not (ws / "mlflow" / "history.db").exists()
    page.unlink()
    r = mlpuzzle("run", "ingest", "-w", "ws", "-q", "--wait", cwd=tmp_path, reports=tmp_path / "reports")
    assert r.returncode == 0, r.stderr
    assert page.exists()  # --wait: rebuilt before the command returned
    after = listing(); time.sleep(3)
    assert listing() == after


def test_path_alone_reads_a_csv_file_typed_from_here(home):
    rows = day(home, 1).head(7)
    rows.to_csv(home / "new.csv", index=False)
    before = snapshot_ids(home)
    r = mlpuzzle("run", "ingest", "-w", "ws", "-q", "-p", "path", "new.csv", "-p", "labels", "false", cwd=home, reports=home / "reports")
    assert r.returncode == 0, r.stderr
    assert ingested(home, before) == ([str(home / "new.csv")], sorted(rows.customer_id))  # that file, not the spec's source


def test_path_alone_reads_parquet_though_the_spec_says_csv(home):
    assert Workspace(home / "ws").spec["source"]["kind"] == "csv"
    rows = day(home, 2)
    rows.head(5).to_parquet(home / "new.parquet")
    (home / "dataset").mkdir()  # a directory of Parquet files, as Spark writes them
    rows.iloc[5:9].to_parquet(home / "dataset" / "part-0.parquet"); rows.iloc[9:12].to_parquet(home / "dataset" / "part-1.parquet")
    (home / "dataset" / "_SUCCESS").write_text("")
    for path, want in (("new.parquet", rows.head(5)), ("dataset", rows.iloc[5:12])):
        before = snapshot_ids(home)
        r = mlpuzzle("run", "ingest", "-w", "ws", "-q", "-p", "path", path, "-p", "labels", "false", cwd=home, reports=home / "reports")
        assert r.returncode == 0, r.stderr
        names, ids = ingested(home, before)
        assert ids == sorted(want.customer_id) and all(n.startswith(str(home / path)) for n in names), (path, names)


def test_a_path_whose_name_says_no_kind_is_refused_before_any_run(home):
    (home / "new.txt").write_text("customer_id,x\n1,2\n")
    for path, says in (("new.txt", f"{home / 'new.txt'}: cannot tell whether it is csv or parquet (new.txt is neither); "
                                   "name a file or glob ending in .csv, .csv.gz, .parquet, .pq, or a directory of such files"),
                       ("gone.csv", "-p path gone.csv: no such file here")):
        r = mlpuzzle("run", "ingest", "-w", "ws", "-q", "-p", "path", path, cwd=home, reports=home / "reports")
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert not any(path in str(run["parameters"]) for run in list_runs(Workspace(home / "ws"), 10**6))  # no run started


def quiet(err: str) -> bool:
    "Whether stderr `err` holds no complaint about the closed pipe."
    return not any(s in err for s in ("BrokenPipe", "Exception ignored", "unexpected error", "Traceback"))


@pytest.fixture(scope="module")
def many_runs(home):
    "The workspace of `home` with 3000 runs in its run log: copies of one real run, so `status` writes ~250 kB."
    r = mlpuzzle("run", "ingest", "-w", "ws", "-q", "-p", "labels", "false", cwd=home, reports=home / "reports")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(home / "ws" / "runs.db") as con:
        cols = [c[1] for c in con.execute("PRAGMA table_info(runs)") if c[1] != "id"]
        one = con.execute("SELECT id FROM runs LIMIT 1").fetchone()[0]
        for i in range(3000):
            con.execute(f"INSERT INTO runs (id, {', '.join(cols)}) SELECT ?, {', '.join(cols)} FROM runs WHERE id = ?", (f"{one}-{i}", one))
    return home


def test_head_closes_a_long_listing_and_the_command_ends_quietly(many_runs):
    home = many_runs
    sh = f"'{MLPUZZLE}' status -w ws -n 5000 2>err | head -3; echo ${{PIPESTATUS[0]}} >rc"
    r = subprocess.run(["bash", "-c", sh], cwd=home, capture_output=True, text=True, timeout=120, env=user_env(home / "reports"))
    assert r.stdout.startswith("run ") and len(r.stdout.splitlines()) == 3
    assert (home / "rc").read_text().strip() in ("0", "141") and quiet((home / "err").read_text()), (home / "err").read_text()
    for buffered in (True, False):  # the reader goes after one line, mid-listing
        p = subprocess.Popen([str(MLPUZZLE), "status", "-w", "ws", "-n", "5000"], cwd=home, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=user_env(home / "reports", buffered))
        assert p.stdout.readline().startswith("run ")
        p.stdout.close()
        err = p.stderr.read()
        assert p.wait(120) == 0 and quiet(err), (buffered, err)


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["--version"], ["status", "-w", "ws"], ["alerts", "-w", "ws"],
                                  ["alerts", "-w", "ws", "--json"], ["models", "-w", "ws"], ["quarantine", "-w", "ws"]])
def test_a_reader_gone_before_the_first_line_is_no_error(many_runs, args):
    "The reader closes before anything is written; the output waits in the buffer until the end (--help: Python's exit)."
    p = subprocess.Popen([str(MLPUZZLE), *args], cwd=many_runs, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=user_env(many_runs / "reports"))
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(120) == 0 and quiet(err), (args, err)
