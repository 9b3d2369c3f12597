"""Leaks at init (issue 14.6): `mlpuzzle init --from-data` leaves a previous model's outputs and columns that alone
predict the target out of the drafted features, and says why in the spec; `run check` warns when such a column is
put back."""
import nbformat
import numpy as np
import yaml

from mlpuzzle.simulator.simulate import churn_sample

LEFT_OUT = "If it is not, uncomment the next line to put it back."


def leaky_sample(path, n=1500, seed=5):
    "The demo business's customers with a production model's outputs and a 3%-noisy copy of the target, as CSV `path`."
    rng = np.random.default_rng(seed)
    df = churn_sample(n, seed=seed)
    proba = 1 / (1 + np.exp(-(2 * df.churned - 1 + rng.normal(0, 1.5, n))))  # a decent model (ROC AUC ~0.83), not perfect
    df.insert(3, "y_pred_proba", proba.round(4))
    df.insert(4, "y_pred", (proba > 0.5).astype(int))
    df["status"] = np.where(np.where(rng.random(n) < 0.03, 1 - df.churned, df.churned) == 1, "closed", "active")
    df.to_csv(path, index=False)
    return df


def check_output(reports):
    "The text the latest `run check` report printed."
    [nb] = sorted((reports / "runs").glob("*-check/check.ipynb"))[-1:]
    cells = nbformat.read(nb, as_version=4).cells
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)


def test_init_leaves_leaks_out_and_says_why_and_check_warns_when_one_is_put_back(cli, tmp_path, reports):
    data, ws = tmp_path / "reference.csv", tmp_path / "ws"
    leaky_sample(data)
    r = cli("init", ws, "--from-data", data, "--target", "churned")
    assert r.returncode == 0, r.stderr
    text = (ws / "mlpuzzle.yml").read_text()
    spec = yaml.safe_load(text)
    assert not {"y_pred_proba", "y_pred", "status"} & set(spec["features"]), spec["features"].keys()
    assert {"tenure_days", "monthly_fee", "seats", "support_tickets", "plan", "region", "autopay"} <= set(spec["features"])
    for why in ("y_pred_proba looks like a model's output (its name).", "y_pred looks like a model's output (its name).",
                "status alone predicts churned (ROC AUC 0.9"):
        assert f"  # left out: {why}" in text, text
    assert text.count(LEFT_OUT) == 3 and "  # status: {type: categorical, values: [active, closed]" in text, text
    assert "left out of the features: y_pred looks like a model's output" in r.stderr

    r = cli("run", "check", "-w", ws, "-q")
    assert r.returncode == 0, r.stderr
    out = check_output(reports)
    assert "7 feature(s) screened for leaks" in out and "none predicts the target suspiciously well alone" in out, out

    (ws / "mlpuzzle.yml").write_text(text.replace("  # status: ", "  status: "))  # the user puts the leak back
    r = cli("run", "check", "-w", ws, "-q")
    assert r.returncode == 0, r.stderr
    out = check_output(reports)
    assert out.count("warning: feature") == 1, out
    assert "warning: feature status alone predicts churned (ROC AUC 0.9" in out and "remove it from features in" in out, out


def test_check_joins_the_labels_to_screen_a_source_without_its_target(cli, tmp_path, reports):
    "The demo business's source has no target column: its labels arrive in their own files, joined by id for the screen."
    import pandas as pd
    from mlpuzzle.base.spec import dump_spec
    ws = tmp_path / "ws"
    assert cli("simulate", "-w", ws, "--days", "3", "--rows-per-day", "300").returncode == 0
    first = sorted((ws / "source" / "csv").glob("events-*.csv"))[0]
    labels = pd.concat(pd.read_csv(f) for f in (ws / "source" / "labels").glob("labels-*.csv"))
    events = pd.read_csv(first)
    churned = events.customer_id.map(labels.set_index("customer_id").churned)
    assert churned.notna().all() and churned.sum() >= 10  # every row of the first day is labelled, some churned
    events.assign(cancel_reason=np.where(churned == 1, "price", None)).to_csv(first, index=False)  # written after the outcome
    spec = yaml.safe_load((ws / "mlpuzzle.yml").read_text())
    spec["features"]["cancel_reason"] = {"type": "categorical", "values": ["price"], "nullable": True}
    (ws / "mlpuzzle.yml").write_text(dump_spec(spec))

    r = cli("run", "check", "-w", ws, "-q")
    assert r.returncode == 0, r.stderr
    out = check_output(reports)
    assert f"screened for leaks on {len(events)} labelled rows: 1 warning(s)" in out, out
    assert "warning: feature cancel_reason alone predicts churned (ROC AUC 1.00 on 300 labelled rows of the source)" in out, out
