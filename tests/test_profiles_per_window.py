"""Profiles per window made in one pass (`compat.WindowProfiles`, used by the snapshot writer) are the profiles
whylogs makes of each window's rows alone.

1. End to end: a batch spanning 40 daily windows, read in chunks of 700 rows from CSV (shuffled) and from SQL, is
   ingested with profiles; each `profiles/<window>.bin` of the snapshot is compared with `profile_frame` of
   that window's stored rows: row, null and type counts and frequent items equal, quantiles and
   cardinalities within the sketches' error.
2. Property: whatever columns hypothesis makes (numbers with NaN and infinities, booleans, text with None
   and NaN, times, objects of anything, pandas' nullable boolean, Int64 and Float64), each window's profile
   made in one pass serializes to the same bytes as `profile_frame` of its rows; added in two chunks, its
   counts agree.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mlpuzzle.base.compat import WindowProfiles, profile_frame, read_profile
from mlpuzzle.base.core import window_keys
from mlpuzzle.simulator.feed import write_simulation
from mlpuzzle.simulator.simulate import churn_spec, simulate
from mlpuzzle.data.store import ingest, load_snapshots
from mlpuzzle.base.workspace import init_workspace

EXACT = ("counts/n", "counts/null", "counts/nan", "counts/inf", "types/integral", "types/fractional", "types/boolean",
         "types/string", "types/object", "ints/max", "ints/min", "distribution/n")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    "Forty days of the demo business as one CSV file (rows shuffled: each chunk meets every window) and a SQLite table."
    d = tmp_path_factory.mktemp("sim")
    s = simulate(40, "none", seed=7, rows_per_day=120)
    paths = write_simulation(s, d)
    s.events.sample(frac=1, random_state=0).to_csv(d / "all.csv", index=False)
    return s, d, paths


def _ingested(tmp_path, source: dict):
    ws = init_workspace(tmp_path / "ws", churn_spec({**source, "chunk_rows": 700}))
    [m] = ingest(ws, now="2030-01-01")  # profile=True, the default
    return ws, m


def _compare(got, ref, where: str):
    "Assert profile views `got` and `ref` agree: exact counts and frequent items, sketches within their error."
    assert sorted(got.get_columns()) == sorted(ref.get_columns()), where
    for c, col in ref.get_columns().items():
        a, b = got.get_column(c).to_summary_dict(), col.to_summary_dict()
        for k in EXACT:
            assert a.get(k) == b.get(k), (where, c, k, a.get(k), b.get(k))
        fa, fb = ({i.value: i.est for i in s.get("frequent_items/frequent_strings", [])} for s in (a, b))
        assert fa == fb, (where, c)
        for q in ("distribution/median", "distribution/q_10", "distribution/q_90"):
            if b.get(q) is None or np.isnan(b[q]): continue
            spread = (b["distribution/max"] - b["distribution/min"]) or 1.0
            assert abs(a[q] - b[q]) <= 0.02 * spread, (where, c, q, a[q], b[q])  # KLL's rank error is ~1.3% at k=128
        if "cardinality/est" in b:
            assert a["cardinality/est"] == pytest.approx(b["cardinality/est"], rel=0.02), (where, c)


@pytest.mark.parametrize("kind", ["csv", "sql"])
def test_each_window_profile_is_the_profile_of_its_rows(sim, tmp_path, kind):
    s, d, paths = sim
    source = {"kind": "csv", "path": str(d / "all.csv")} if kind == "csv" else \
             {"kind": "sql", "url": f"sqlite:///{paths['sqlite']}", "table": "events"}
    ws, m = _ingested(tmp_path, source)
    assert m["rows"]["accepted"] == len(s.events) and len(m["windows"]) >= 40
    rows = load_snapshots(ws)
    keys = window_keys(rows["event_time"], pd.Timedelta("1D"))
    files = sorted((ws.path / "snapshots" / m["id"] / "profiles").glob("*.bin"))
    assert [f.stem for f in files] == sorted(m["windows"])
    for f in files:
        part = rows[(keys == f.stem).to_numpy()]
        got = read_profile(f)
        n = int(got.get_column("event_time").to_summary_dict()["counts/n"])
        assert n == m["windows"][f.stem]["accepted"] == len(part)
        _compare(got, profile_frame(part), f"{kind} {f.stem}")


floats, ints, text = st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.text(max_size=5)
anything = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), floats, st.text(max_size=4), st.just(float("nan")))
VALUES = {  # name -> (values, the dtype of the column made of them)
    "f": (floats, float), "i": (ints, np.int64), "b": (st.booleans(), bool),
    "s": (st.one_of(st.none(), text), "str"),
    "o": (st.one_of(st.none(), st.just(float("nan")), text), object), "x": (anything, object),
    "nb": (st.one_of(st.none(), st.booleans()), "boolean"), "ni": (st.one_of(st.none(), ints), "Int64"),
    "nf": (st.one_of(st.none(), floats), "Float64"), "t": (st.one_of(st.none(), st.integers(0, 10**9)), "Int64")}


def column(name: str, n: int):
    "A strategy of a column `name` of `n` values (`t`: times, from seconds)."
    values, dtype = VALUES[name]
    s = st.lists(values, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=dtype))
    return s.map(lambda c: pd.to_datetime(c.astype(float), unit="s", utc=True)) if name == "t" else s


@st.composite
def frames(draw):
    "A frame of some of the kinds of columns, and each row's window (one of three, or none)."
    n = draw(st.integers(1, 40))
    cols = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=5, unique=True))
    df = pd.DataFrame({c: draw(column(c, n)) for c in cols})
    keys = pd.Series(draw(st.lists(st.sampled_from(["w1", "w2", "w3", None]), min_size=n, max_size=n)), dtype=object)
    return df, keys, draw(st.integers(0, n))


def _bytes(view) -> dict:
    return {c: col.to_protobuf().SerializeToString(deterministic=True) for c, col in view.get_columns().items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_one_pass_profiles_are_whylogs_profiles_of_each_window(case):
    df, keys, cut = case
    alone = {k: profile_frame(df[(keys == k).to_numpy()]) for k in keys.dropna().unique()}
    got = WindowProfiles().track(df, keys).views()
    assert sorted(got) == sorted(alone)
    for k, v in got.items(): assert _bytes(v) == _bytes(alone[k]), k
    two = WindowProfiles().track(df.iloc[:cut], keys.iloc[:cut]).track(df.iloc[cut:], keys.iloc[cut:]).views()
    assert sorted(two) == sorted(alone)
    for k, v in two.items():
        for c, col in v.get_columns().items():
            a, b = col.to_summary_dict(), alone[k].get_column(c).to_summary_dict()
            for m in EXACT: assert a.get(m) == b.get(m), (k, c, m)
