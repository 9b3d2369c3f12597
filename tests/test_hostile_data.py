"""Issue 33, items 2, 6 and 9: times no business has, hostile source files, a full disk.

Each case was accepted, stored or crashed with a raw error on the main of 2026-12-07; now a row no business can have
is quarantined with its reason, and a batch that cannot be read as a whole is refused in one line naming the column,
the line or the path."""
import os, re, shutil, subprocess, time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlpuzzle.base.core import DataError, SpecError, WorkspaceError
from mlpuzzle.base.spec import validate_spec
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.data.infer import infer_spec
from mlpuzzle.data.labels import ingest_labels, load_labels
from mlpuzzle.data.quarantine import quarantined
from mlpuzzle.data.store import ingest, load_snapshots, snapshots
from mlpuzzle.monitoring.windows import known_windows
from mlpuzzle.simulator.simulate import churn_spec, simulate


@pytest.fixture(scope="module")
def events():
    "Two days of the demo business, 20 rows."
    return simulate(2, "none", seed=4, rows_per_day=10).events


def workspace(tmp_path, path, kind="csv", **source):
    return init_workspace(tmp_path / "ws", churn_spec({"kind": kind, "path": str(path), **source}))


def reasons(ws) -> list[str]:
    return quarantined(ws)["_reasons"].tolist()


# --- item 2: times no business has ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_event_dated_year_1_is_quarantined(events, tmp_path, kind):
    "0001-01-01 was stored: `performance` then showed a window of year 1, and `monitor(ws)` crashed reading it."
    ev = events.copy()
    if kind == "csv": ev["event_time"] = ev["event_time"].astype(str); ev.loc[0, "event_time"] = "0001-01-01"
    else: ev["event_time"] = ev["event_time"].astype("datetime64[us]"); ev.loc[0, "event_time"] = pd.Timestamp("1969-12-31")
    p = tmp_path / f"events.{kind}"
    ev.to_csv(p, index=False) if kind == "csv" else ev.to_parquet(p, index=False)
    ws = workspace(tmp_path, p, kind)
    [m] = ingest(ws, profile=False)
    assert (m["rows"]["accepted"], m["rows"]["quarantined"]) == (len(ev) - 1, 1)
    [why] = reasons(ws)
    assert why.startswith("event_time ") and why.endswith(": is before source.earliest (1970-01-01)"), why
    assert load_snapshots(ws)["event_time"].min() >= pd.Timestamp("1970-01-01", tz="UTC")
    # the quarantined row makes no window of its own: monitoring would start its windows in year 1
    assert m["windows"]["unknown"]["time"] == 1 and known_windows(ws)[0].startswith("2024-01-01")


def test_source_earliest_is_a_spec_key_with_a_default(events, tmp_path):
    spec = churn_spec({"kind": "dataframe"})
    assert validate_spec(spec, "x").source.earliest == "1970-01-01"
    import datetime
    later = validate_spec({**spec, "source": {"kind": "dataframe", "earliest": datetime.date(2024, 1, 2)}}, "x")
    assert later.source.earliest == "2024-01-02"  # YAML reads an unquoted date as a date
    with pytest.raises(SpecError, match=r"source.earliest.*expected an ISO 8601 date or time"):
        validate_spec({**spec, "source": {"kind": "dataframe", "earliest": "last year"}}, "x")
    ws = init_workspace(tmp_path / "ws", {**spec, "source": {"kind": "dataframe", "earliest": "2024-01-02T00:00:00Z"}})
    [m] = ingest(ws, df=events, profile=False)
    early = events["event_time"] < pd.Timestamp("2024-01-02")
    assert 0 < early.sum() == m["rows"]["quarantined"] and m["rows"]["accepted"] == (~early).sum()


def test_init_drafts_source_earliest_from_the_sample(events):
    from mlpuzzle.data.infer import draft_earliest
    assert draft_earliest(pd.Series(["0001-01-01", "2024-03-05T10:00:00", None])) == "2014-01-01"  # placeholder aside
    assert draft_earliest(pd.Series([], dtype=object)) == "1970-01-01"
    df = events.assign(churned=[0, 1] * (len(events) // 2))
    assert infer_spec(df, "churned", source=None).source.earliest == "2014-01-01"


def test_labels_known_in_year_1_or_before_their_event_are_quarantined(events, tmp_path):
    "A label_time in year 1 counted as known at any time; one before its event's time was accepted without a flag."
    p = tmp_path / "events.csv"; events.to_csv(p, index=False)
    ids, t0 = events["customer_id"], events["event_time"]
    lab = pd.DataFrame({"customer_id": ids[:4], "churned": [0, 1, 0, 1],
                        "label_time": ["0001-01-01", str(t0[1] - pd.Timedelta("1h")), "2024-02-01", "2024-02-01"]})
    lp = tmp_path / "labels.csv"; lab.to_csv(lp, index=False)
    ws = workspace(tmp_path, p, labels=str(lp))
    ingest(ws, profile=False)
    [m] = ingest_labels(ws)
    assert (m["rows"]["accepted"], m["rows"]["quarantined"]) == (2, 2)
    q = quarantined(ws)
    assert (q["_kind"] == "labels").all()
    assert q["_reasons"].tolist() == [
        "label_time '0001-01-01': is before source.earliest (1970-01-01)",
        f"label_time {str(t0[1] - pd.Timedelta('1h'))!r}: is before its event (event_time {t0[1]:%Y-%m-%d %H:%M:%S} UTC): "
        "a label is known after its event"]
    known = load_labels(ws, as_of="2024-01-05")
    assert known.empty  # neither counts as known before its time any more
    assert sorted(load_labels(ws)["customer_id"]) == sorted(ids[2:4])


# --- item 6: hostile source files -----------------------------------------------------------------------------------

NESTED = {"struct": pa.array([{"a": 1}] * 20), "list": pa.array([[1, 2]] * 20),
          "map": pa.array([[("k", 1)]] * 20, pa.map_(pa.string(), pa.int64()))}

@pytest.mark.parametrize("nested", list(NESTED))
def test_a_nested_parquet_column_is_quarantined_naming_the_column(events, tmp_path, nested):
    "A struct or list column in a categorical feature failed the run with ArrowNotImplementedError, naming nothing."
    t = pa.Table.from_pandas(events, preserve_index=False)
    p = tmp_path / "events.parquet"
    pq.write_table(t.set_column(t.column_names.index("plan"), "plan", NESTED[nested]), p)
    ws = workspace(tmp_path, p, "parquet")
    [m] = ingest(ws, profile=False)
    assert (m["rows"]["accepted"], m["rows"]["quarantined"]) == (0, len(events))
    assert all(re.fullmatch(rf"plan .+: is not a categorical value \({nested}<.+>\)", r) for r in reasons(ws)), reasons(ws)


def test_a_nested_id_column_refuses_the_batch_and_an_unused_one_is_ignored(events, tmp_path):
    t = pa.Table.from_pandas(events, preserve_index=False)
    p = tmp_path / "ids.parquet"
    pq.write_table(t.set_column(0, "customer_id", NESTED["struct"]), p)
    with pytest.raises(DataError, match=r"ids.parquet: the id column 'customer_id' holds nested values \(struct<a: int64>\)"):
        ingest(workspace(tmp_path, p, "parquet"), profile=False)
    p2 = tmp_path / "extra.parquet"
    pq.write_table(t.append_column("meta", NESTED["struct"]), p2)
    [m] = ingest(init_workspace(tmp_path / "ws2", churn_spec({"kind": "parquet", "path": str(p2)})), profile=False)
    assert m["rows"]["accepted"] == len(events) and m["extra_columns"] == ["meta"]


def test_duplicate_column_names_refuse_the_batch(events, tmp_path):
    "pandas renamed them customer_id.1 and plan.1, and the first copy was used."
    lines = events.to_csv(index=False).splitlines()
    p = tmp_path / "dup.csv"
    p.write_text("\n".join([lines[0] + ",customer_id,plan", *(l + ",other,nope" for l in lines[1:])]) + "\n")
    ws = workspace(tmp_path, p)
    with pytest.raises(DataError, match=re.escape("dup.csv: duplicated column name(s) 'customer_id', 'plan'")):
        ingest(ws, profile=False)
    assert snapshots(ws) == []
    t = pa.Table.from_pandas(events, preserve_index=False)
    pp = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([*t.columns, t.column("plan")], names=[*t.column_names, "plan"]), pp)
    with pytest.raises(DataError, match=re.escape("dup.parquet: duplicated column name(s) 'plan'")):
        ingest(init_workspace(tmp_path / "ws2", churn_spec({"kind": "parquet", "path": str(pp)})), profile=False)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_id_with_a_nul_byte_is_quarantined(events, tmp_path, kind):
    ev = events.copy(); ev.loc[3, "customer_id"] = "c\x003"
    p = tmp_path / f"nul.{kind}"
    ev.to_csv(p, index=False) if kind == "csv" else ev.to_parquet(p, index=False)
    ws = workspace(tmp_path, p, kind)
    [m] = ingest(ws, profile=False)
    assert m["rows"]["quarantined"] == 1 and not load_snapshots(ws)["customer_id"].str.contains("\x00").any()
    assert reasons(ws) == [r"customer_id 'c\x003': holds a NUL character (\x00), which no id has"]


def test_a_bad_byte_is_reported_on_its_line(events, tmp_path):
    "The message said 'byte 1' for a Latin-1 byte on line 9."
    rows = events.to_csv(index=False).encode().splitlines(keepends=True)
    rows[8] = rows[8].replace(b",east,", ",\xe9ast,".encode("latin-1")).replace(b",west,", ",w\xe9st,".encode("latin-1"))
    rows[8] = rows[8].replace(b",north,", ",n\xf6rth,".encode("latin-1")).replace(b",south,", ",s\xf6uth,".encode("latin-1"))
    data = b"".join(rows)
    p = tmp_path / "mixed.csv"; p.write_bytes(data)
    at = len(b"".join(rows[:8])) + next(i for i, b in enumerate(rows[8]) if b >= 0x80)
    with pytest.raises(DataError, match=re.escape(f"mixed.csv: not UTF-8 text (line 9, byte offset {at}: ")):
        ingest(workspace(tmp_path, p), profile=False)
    p.write_bytes(rows[0].rstrip(b"\n") + ",caf\xe9\n".encode("latin-1") + b"".join(rows[1:]))
    with pytest.raises(DataError, match=re.escape(f"mixed.csv: not UTF-8 text (line 1, byte offset {len(rows[0])+3}: ")):
        ingest(workspace(tmp_path / "again", p), profile=False)


def wide_csv(path: Path, events: pd.DataFrame, extra: int):
    with open(path, "w") as f:
        f.write(",".join([*events.columns, *(f"x{i}" for i in range(extra))]) + "\n")
        for r in events.head(5).astype(str).itertuples(index=False): f.write(",".join(r) + "," * extra + "\n")

def test_a_header_of_100000_columns_is_refused_at_once_and_2000_extra_are_read(events, tmp_path):
    "5 rows under a 100,000-column header took 42.6 s."
    p = tmp_path / "wide.csv"; wide_csv(p, events, 100_000)
    ws = workspace(tmp_path, p)
    t = time.perf_counter()
    with pytest.raises(DataError, match=re.escape("wide.csv: its header names 100,016 columns, more than mlpuzzle reads (10,000)")):
        ingest(ws, profile=False)
    assert time.perf_counter() - t < 10 and snapshots(ws) == []
    p2 = tmp_path / "wider.csv"; wide_csv(p2, events, 2_000)
    [m] = ingest(init_workspace(tmp_path / "ws2", churn_spec({"kind": "csv", "path": str(p2)})), profile=False)
    assert m["rows"]["accepted"] == 5 and len(m["extra_columns"]) == 2_000


# --- item 9: a full disk --------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    "A 2 MiB tmpfs (root only): a workspace on it runs out of space."
    d = tmp_path / "small"; d.mkdir()
    if os.geteuid() != 0: pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try: yield d
    finally: subprocess.run(["umount", "-l", str(d)], check=False)


def test_a_full_disk_is_one_line_naming_the_path(small_disk, tmp_path, cli):
    "It surfaced as a raw OSError (ENOSPC, or numpy's 'n requested and m written'). Nothing is lost."
    s = simulate(3, "none", seed=4, rows_per_day=20_000)
    src = tmp_path / "src"; src.mkdir()
    small, big = s.events.iloc[:50], s.events.iloc[50:]
    small.to_csv(src / "events-1.csv", index=False); big.to_csv(src / "events-2.csv", index=False)
    ws = init_workspace(small_disk / "ws", churn_spec({"kind": "csv", "path": str(src / "events-*.csv")}))
    with pytest.raises(WorkspaceError) as e:
        ingest(ws, profile=False)
    msg = str(e.value)
    assert msg.startswith(f"{small_disk / 'ws' / 'snapshots'}") and "\n" not in msg, msg
    assert f"no space left on the file system at {small_disk} " in msg and "events-2.csv" in msg and "re-run" in msg
    [m] = snapshots(ws)  # the batch before it is stored, and nothing of the one that did not fit
    assert m["rows"]["accepted"] == 50 and not [p for p in (ws.path / "snapshots").iterdir() if p.name.startswith(".tmp")]
    r = cli("run", "ingest", "-w", ws.path, "-q")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "WorkspaceError" in r.stderr and "no space left on the file system at" in r.stderr and "OSError" not in r.stderr
