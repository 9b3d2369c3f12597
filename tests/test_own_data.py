"""The README's "On your own data" path, walked as a new user would, on a generated table whose file holds the target
(no labels file): the drafted spec says where labels come from and proposes a window from the volume; realized
performance appears; a replay compares two policies; and without labels `performance` says why and what to do."""
import json

import pandas as pd
import yaml

from mlpuzzle.simulator.simulate import churn_sample


def _table(path, rows: int, days: int, seed: int = 4):
    "A customers table of `rows` events over `days` days in 2021: an id, a time, features with nulls, the target."
    df = churn_sample(rows, seed=seed, days=days)
    df["event_time"] = df["event_time"] - pd.Timestamp("2024-01-01") + pd.Timestamp("2021-01-01")
    df.to_csv(path, index=False)
    return df


def test_the_own_data_path_with_the_target_in_the_file(cli, tmp_path, reports):
    data = _table(tmp_path / "customers.csv", 6000, 90)
    ws = tmp_path / "my-ws"
    r = cli("init", ws, "--from-data", tmp_path / "customers.csv", "--target", "churned", "--id", "customer_id",
            "--timestamp", "event_time")
    assert r.returncode == 0, r.stderr
    text = (ws / "mlpuzzle.yml").read_text()
    assert "# labels: the events' own churned column counts as their labels" in text
    assert "# monitoring.window 7d: the shortest of 1h, 6h, 1d, 7d, 30d expected to hold 300 rows" in text
    assert yaml.safe_load(text)["monitoring"]["window"] == "7d"  # 67 rows a day: a day is noise, a week is not

    for stage in ("check", "ingest", "train", "score", "monitor"):
        r = cli("run", stage, "-w", ws, "-q")
        assert r.returncode == 0, (stage, r.stdout[-2000:], r.stderr[-2000:])
    r = cli("performance", "-w", ws, "--json")
    perf = pd.DataFrame(json.loads(r.stdout))
    judged = perf[perf.realized.notna()]
    assert len(judged) >= 10 and (judged.labeled >= 50).all()  # without a labels file
    assert judged.labeled.sum() <= len(data)

    r = cli("replay", "-w", ws, "--since", "2021-03-01", "--step", "14d", "--policy", "never", "--policy", "every:28d",
            "--no-report")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert "every:28d" in r.stdout and "never" in r.stdout and "too few" not in r.stdout
    assert any(w in r.stdout for w in ("is best", "tie")), r.stdout[-1000:]

    spec = yaml.safe_load((ws / "mlpuzzle.yml").read_text())
    spec["source"]["event_labels"] = False  # as if the file held no target: no label is known anywhere
    (ws / "mlpuzzle.yml").write_text(yaml.safe_dump(spec))
    r = cli("performance", "-w", ws)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith(
        "no realized metric: no prediction has a known label yet; give the events their target column"), r.stdout
