"""Property-based tests: malformed batches never crash ingestion and never lose a row, and the checks on
Arrow columns (`columnar`, what ingestion runs) decide every row as `validate_batch` (pandas) does.

Whatever hypothesis throws at the contract (random types, nulls, unicode, huge numbers, NaN and inf,
empty strings, missing and extra columns, duplicated ids, bad timestamps), the only exception allowed is
the documented DataError for a batch-level problem; rows read = accepted + quarantined; and every
quarantined row carries at least one reason.
"""
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mlpuzzle.base.core import DataError
from mlpuzzle.base.workspace import init_workspace
from mlpuzzle.base.spec import validate_spec
from mlpuzzle.data.checks import validate_batch
from mlpuzzle.data.columnar import check_chunk, check_table, snapshot_schema
from mlpuzzle.data.quarantine import quarantined
from mlpuzzle.data.store import ingest, load_snapshots, snapshots

SPEC = validate_spec({
    "name": "fuzz", "problem": "binary", "source": {"kind": "dataframe"},
    "columns": {"id": "id", "timestamp": "ts", "target": "y"},
    "features": {"amount": {"type": "numeric", "min": 0, "max": 1000},
                 "count": {"type": "numeric", "min": 0, "max": 50, "integer": True, "nullable": True},
                 "plan": {"type": "categorical", "values": ["basic", "pro"]},
                 "note": {"type": "categorical", "open": True, "nullable": True},
                 "flag": {"type": "boolean", "nullable": True},
                 "since": {"type": "datetime", "nullable": True}}}, check_imports=False)

anything = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", " ", "NaN", "inf", "-inf", "1e400", "12,5", "n/a", "null", "basic", "pro", " pro ", "true",
                     "2024-02-30", "2024-01-01T10:00:00", "9999-12-31", "yesterday", "日本語", "😀", "\x00", "0", "1"]))
good = {"id": st.text(min_size=1, max_size=6), "ts": st.sampled_from(["2024-01-01", "2024-03-05T10:00:00Z"]),
        "amount": st.floats(0, 1000), "count": st.integers(0, 50), "plan": st.sampled_from(["basic", "pro"]),
        "note": st.text(max_size=5), "flag": st.booleans(), "since": st.sampled_from(["2023-05-01", None]),
        "y": st.sampled_from([0, 1, None])}

@st.composite
def batches(draw):
    "A DataFrame whose columns are each well-formed, or anything, or missing, plus maybe extra columns."
    n = draw(st.integers(0, 25))
    cols = {}
    for c, gen in good.items():
        mode = draw(st.sampled_from(["good", "good", "anything", "missing"]))
        if mode == "missing": continue
        cols[c] = draw(st.lists(gen if mode == "good" else anything, min_size=n, max_size=n))
    for i in range(draw(st.integers(0, 2))): cols[f"extra_{i}"] = draw(st.lists(anything, min_size=n, max_size=n))
    if "id" in cols and n and draw(st.booleans()): cols["id"][-1] = cols["id"][0]  # a duplicated id
    return pd.DataFrame(cols, dtype=object) if draw(st.booleans()) else pd.DataFrame(cols)

REQUIRED = {"id", "ts", "amount", "plan"}

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_validate_batch_loses_nothing(df):
    try: chk = validate_batch(df, SPEC, "fuzz.csv", now="2025-01-01")
    except DataError as e:
        assert not REQUIRED <= set(df.columns) and "fuzz.csv: lacks the required column(s)" in str(e)
        return
    assert REQUIRED <= set(df.columns)
    assert len(chk.accepted) + len(chk.rejected) == len(df)
    assert chk.rejected["_reasons"].str.len().gt(0).all() if len(chk.rejected) else True
    acc = chk.accepted
    if len(acc):  # what is accepted honours the contract
        assert acc["amount"].between(0, 1000).all() and acc["plan"].isin(["basic", "pro"]).all()
        assert acc["id"].notna().all() and acc["id"].is_unique and acc["ts"].notna().all()
        c = acc["count"].dropna()
        assert ((c % 1 == 0) & c.between(0, 50)).all()
        assert not np.isinf(acc["amount"]).any()


def assert_same_decisions(new, old):
    "The columnar check `new` and `validate_batch`'s `old`: the same rows accepted (same values), rejected (as read) and why."
    expected = pa.Table.from_pandas(old.accepted, snapshot_schema(SPEC, old.accepted.columns), preserve_index=False)
    assert new.accepted.schema.equals(expected.schema) and new.accepted.equals(expected)
    assert new.rejected["_row"].tolist() == old.rejected["_row"].tolist()
    assert new.rejected["_reasons"].tolist() == old.rejected["_reasons"].tolist()
    if len(old.rejected):
        as_read = lambda r: r.drop(columns=["_row", "_reasons"]).astype(object)
        pd.testing.assert_frame_equal(as_read(new.rejected), as_read(old.rejected), check_dtype=False)
    assert new.flagged == old.flagged and (new.id_hashes == old.id_hashes).all()

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_columnar_checks_decide_as_validate_batch(df):
    "A DataFrame chunk (CSV, SQL, a notebook's frame), and the same rows as an Arrow table where Arrow can hold them (Parquet)."
    try: old = validate_batch(df, SPEC, "fuzz.csv", now="2025-01-01")
    except DataError as e:
        with pytest.raises(DataError, match="lacks the required column"): check_chunk(df, SPEC, "fuzz.csv", now="2025-01-01")
        return
    assert_same_decisions(check_chunk(df, SPEC, "fuzz.csv", now="2025-01-01"), old)
    try: t = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, OverflowError): return  # mixed Python values: no Parquet file holds them
    # whole numbers with nulls stay whole numbers, as the file holds them (plain to_pandas would make 0 read "0.0")
    as_read = t.to_pandas(integer_object_nulls=True)
    assert_same_decisions(check_table(t, SPEC, "fuzz.parquet", now="2025-01-01"),
                          validate_batch(as_read, SPEC, "fuzz.parquet", now="2025-01-01"))


def test_a_whole_number_column_with_nulls_reads_as_whole_numbers_in_reasons():
    "The example hypothesis found: a Parquet integer column with a null among its rejected rows read -1 as '-1.0'."
    df = pd.DataFrame({"id": ["a", "b", "c"], "ts": ["2024-01-01"] * 3, "amount": pd.array([None, -1, 5], dtype="Int64"),
                       "plan": ["basic"] * 3})
    t = pa.Table.from_pandas(df, preserve_index=False)
    new = check_table(t, SPEC, "fuzz.parquet", now="2025-01-01")
    assert new.rejected["_reasons"].tolist()[1] == "amount -1: is below the minimum 0"
    assert_same_decisions(new, validate_batch(t.to_pandas(integer_object_nulls=True), SPEC, "fuzz.parquet", now="2025-01-01"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return init_workspace(tmp_path_factory.mktemp("fuzz") / "ws", SPEC)

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches())
def test_ingest_loses_nothing_and_stores_nothing_twice(ws, df):
    before_rows, before_snaps = len(load_snapshots(ws)), len(snapshots(ws))
    before_q = len(quarantined(ws, include_settled=True))
    try: res = ingest(ws, df=df, profile=False, now="2025-01-01")
    except DataError:
        assert not REQUIRED <= set(df.columns)
        assert len(snapshots(ws)) == before_snaps  # nothing of a failed batch is stored
        return
    if not res: assert len(df) == 0; return
    [m] = res
    if m["status"] == "unchanged": return
    r = m["rows"]
    assert r["read"] == len(df) == r["accepted"] + r["quarantined"]
    assert len(load_snapshots(ws)) == before_rows + r["accepted"]
    assert len(quarantined(ws, include_settled=True)) == before_q + r["quarantined"]
    stored = load_snapshots(ws)  # no columns at all while every stored row so far was quarantined
    assert stored["id"].is_unique if len(stored) else before_rows + r["accepted"] == 0  # no id is ever stored twice
