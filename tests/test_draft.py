"""`mlpuzzle init --from-data FILE`: a sample no spec can be drafted from is refused in one line naming the file and
what to do, and nothing is created; awkward but usable samples (a stray huge cell, free text, string ids, nulls, rare
categories) still draft a spec."""
import pandas as pd
import pytest
import yaml

ROWS = "".join(f"{i},{i % 7}.5,{'ab'[i % 2]},{i % 2}\n" for i in range(1, 41))

REFUSED = [  # (id, file name, file text, what the one-line error must contain after "FILE")
    ("target-all-null", "s.csv", "id,x,plan,y\n" + "".join(f"{i},{i}.5,a,\n" for i in range(1, 41)),
     ": target column 'y' has no values (all 40 rows are empty): choose another --target"),
    ("target-one-class", "s.csv", "id,x,plan,y\n" + "".join(f"{i},{i}.5,{'ab'[i % 2]},yes\n" for i in range(1, 41)),
     ": target 'y' has a single value 'yes' (40 rows): a classifier needs at least two classes"),
    ("duplicated-column", "s.csv", "id,x,plan,plan,y\n" + "".join(f"{i},{i}.5,a,b,{i % 2}\n" for i in range(1, 41)),
     ": duplicated column name(s) 'plan': give each column its own name"),
    ("header-only", "s.csv", "id,x,plan,y\n", " has a header but no rows: nothing to draft a spec from"),
    ("semicolons", "s.csv", "id;x;plan;y\n" + ROWS.replace(",", ";"),
     " looks ';'-separated (one column 'id;x;plan;y' was read): mlpuzzle reads comma-separated files; re-save it with ','"),
    ("tabs", "s.tsv", "id\tx\tplan\ty\n" + ROWS.replace(",", "\t"), " looks '\\t'-separated (one column 'id\\tx\\tplan\\ty' was read)"),
]


@pytest.mark.parametrize("name,text,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_sample_no_spec_can_be_drafted_from_is_refused_in_one_line(cli, tmp_path, name, text, expected):
    data = tmp_path / name
    data.write_text(text)
    r = cli("init", tmp_path / "ws", "--from-data", data, "--target", "y")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"mlpuzzle: error: {data}") and expected in lines[0], lines[0]
    assert not (tmp_path / "ws").exists()  # nothing was created


def draft(cli, tmp_path, df):
    "Write `df` as a CSV, draft a spec from it with `init --from-data`; (spec dict, spec text, stderr)."
    data = tmp_path / "sample.csv"
    df.to_csv(data, index=False)
    r = cli("init", tmp_path / "ws", "--from-data", data, "--target", "y")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "ws" / "mlpuzzle.yml").read_text()
    return yaml.safe_load(text), text, r.stderr


def test_a_huge_cell_is_not_an_allowed_category(cli, tmp_path):
    n = 60
    df = pd.DataFrame({"id": range(n), "plan": ["basic", "plus", "pro"] * (n // 3), "y": [0, 1] * (n // 2)})
    df.loc[7, "plan"] = "z" * 1_000_000  # one stray 1 MB cell
    spec, text, err = draft(cli, tmp_path, df)
    assert spec["features"]["plan"]["values"] == ["basic", "plus", "pro"]
    assert len(text) < 10_000
    assert "plan: 1 of 60 values over 200 characters left out of the allowed values" in err and len(err) < 1000, err[:1000]


def test_free_text_is_an_open_categorical(cli, tmp_path):
    n = 40
    df = pd.DataFrame({"id": range(n), "plan": ["basic", "pro"] * (n // 2), "y": [0, 0, 1, 1] * (n // 4),  # plan is not y
                       "note": [f"call {i}: " + "the customer asked about the invoice again, " * 6 for i in range(n)]})
    df.loc[::3, "note"] = "ok"  # short notes too
    spec, text, err = draft(cli, tmp_path, df)
    assert spec["features"]["note"] == {"type": "categorical", "values": None, "open": True, "unknown": "reject", "nullable": False}
    assert spec["features"]["plan"]["values"] == ["basic", "pro"]
    assert "call 1:" not in text and "note: free text" in err


def test_real_shapes_still_draft(cli, tmp_path):
    "String ids, nulls in features and in the target (unlabelled rows), a rare category, an all-empty column."
    n = 200
    df = pd.DataFrame({"customer_id": [f"C-{i:05d}" for i in range(n)],
                       "fee": [None if i % 9 == 0 else i * 1.5 for i in range(n)],
                       "plan": ["basic", "plus"] * (n // 2), "unused": [None] * n,
                       "y": [None if i % 10 == 0 else ("churn" if i % 3 == 0 else "stay") for i in range(n)]})
    df.loc[5, "plan"] = "enterprise"  # seen once
    spec, _, err = draft(cli, tmp_path, df)
    assert spec["problem"] == "binary" and spec["columns"]["id"] == "customer_id"
    f = spec["features"]
    assert f["plan"]["values"] == ["basic", "enterprise", "plus"] and f["fee"]["nullable"] and f["fee"]["type"] == "numeric"
    assert f["unused"]["open"] and f["unused"]["nullable"] and "unused: no values in the sample" in err


def test_a_parquet_file_with_a_duplicated_column_is_refused_in_one_line(cli, tmp_path):
    import pyarrow as pa, pyarrow.parquet as pq
    data = tmp_path / "s.parquet"
    pq.write_table(pa.table([list(range(40)), [1.5] * 40, ["a"] * 40, [i % 2 for i in range(40)]], names=["id", "x", "x", "y"]), data)
    r = cli("init", tmp_path / "ws", "--from-data", data, "--target", "y")
    assert r.returncode == 2 and r.stderr.strip() == f"mlpuzzle: error: {data}: duplicated column name(s) 'x': give each column its own name and re-run", r.stderr
    assert not (tmp_path / "ws").exists()
