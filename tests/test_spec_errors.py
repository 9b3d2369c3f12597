"""Malformed specs: each is rejected by `mlpuzzle init --spec` with exit code 2 and one line naming the key path."""
import pytest
import yaml

GOOD = {"name": "churn", "problem": "binary", "source": {"kind": "csv", "path": "data/*.csv"},
        "columns": {"id": "customer_id", "timestamp": "event_time", "target": "churned"},
        "features": {"tenure_days": {"type": "numeric", "min": 0, "max": 5000},
                     "plan": {"type": "categorical", "values": ["basic", "plus", "pro"]},
                     "autopay": {"type": "boolean"}}}

def with_(path, value):
    "A copy of GOOD with the key at dotted `path` set to `value` (or removed, for `...`)."
    d = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = path.split(".")
    node = d
    for p in parents: node = node.setdefault(p, {})
    if value is ...: del node[last]
    else: node[last] = value
    return yaml.safe_dump(d)

CASES = [  # (id, spec text, what the one-line error must contain)
    ("unknown-top-key", with_("colour", "red"), "colour: unknown key"),
    ("unknown-nested-key", with_("features.tenure_days.mni", 3), "features.tenure_days.mni: unknown key"),
    ("wrong-type", with_("features.tenure_days.min", "zero"), "features.tenure_days.min: expected an integer or a number"),
    ("min-above-max", with_("features.tenure_days.min", 9000), "features.tenure_days.min: min (9000) is above max (5000)"),
    ("target-is-feature", with_("features.churned", {"type": "boolean"}), "features.churned: is the target column"),
    ("estimator-missing", with_("model", {"estimator": "sklearn.nothing.Here"}), "model.estimator: does not import"),
    ("estimator-bad-param", with_("model", {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"depth": 3}}), "model.params: not accepted"),
    ("regressor-for-binary", with_("model", {"estimator": "sklearn.linear_model.Ridge"}), "model.estimator: sklearn.linear_model.Ridge is not a classifier"),
    ("p-value-out-of-range", with_("monitoring", {"drift": {"p_value": 2}}), "monitoring.drift.p_value: expected a number in (0, 1)"),
    ("distance-out-of-range", with_("monitoring", {"drift": {"distance": -0.5}}), "monitoring.drift.distance: expected a number in [0, 1]"),
    ("bad-window", with_("monitoring", {"window": "fortnightly"}), "monitoring.window: expected a positive duration"),
    ("bad-problem", with_("problem", "ranking"), "problem: expected one of binary, multiclass, regression"),
    ("metric-for-other-problem", with_("promotion", {"metric": "rmse"}), "promotion.metric: expected one of roc_auc"),
    ("missing-target", with_("columns.target", ...), "columns.target: missing"),
    ("bad-feature-type", with_("features.plan.type", "text"), "features.plan.type: expected one of numeric, categorical"),
    ("categorical-without-values", with_("features.plan", {"type": "categorical"}), "features.plan.values: expected a list of allowed values, or open: true"),
    ("bad-alert-kind", with_("monitoring", {"alerts": [{"kind": "vibes"}]}), "monitoring.alerts[0].kind: expected one of drift"),
    ("slice-not-categorical", with_("promotion", {"slices": ["tenure_days"]}), "promotion.slices[0]: expected a categorical feature"),
    ("source-without-path", with_("source", {"kind": "parquet"}), "source.path: missing"),
    ("bad-version", with_("version", 7), "version: expected one of 1"),
    ("not-yaml", "name: [unclosed\n", "not valid YAML: line"),
    ("not-a-mapping", "- just\n- a list\n", "expected a mapping of keys"),
    ("empty-file", "", "expected a mapping of keys"),
    ("id-is-target", with_("columns.id", "churned"), "columns.id: is the target column too (columns.target)"),
    ("timestamp-is-id", with_("columns.timestamp", "customer_id"), "columns.timestamp: is the id column too"),
    ("nested-50000-deep", "name: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than"),
    ("nested-60-deep-mapping", "name: " + "{a: " * 60 + "1" + "}" * 60 + "\n", "nested more than"),
]

@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_spec_is_rejected_in_one_line(cli, tmp_path, text, expected):
    spec = tmp_path / "mlpuzzle.yml"
    spec.write_text(text)
    r = cli("init", tmp_path / "ws", "--spec", spec)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"mlpuzzle: error: {spec}: ") and expected in lines[0], lines[0]
    assert not (tmp_path / "ws").exists()  # nothing was created


def test_good_spec_creates_workspace(cli, tmp_path):
    spec = tmp_path / "mlpuzzle.yml"
    spec.write_text(yaml.safe_dump(GOOD))
    r = cli("init", tmp_path / "ws", "--spec", spec)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ws" / "mlpuzzle.yml").is_file() and (tmp_path / "ws" / "snapshots").is_dir()


def test_debug_shows_the_traceback(cli, tmp_path):
    spec = tmp_path / "mlpuzzle.yml"
    spec.write_text(with_("colour", "red"))
    r = cli("--debug", "init", tmp_path / "ws", "--spec", spec)
    assert r.returncode != 0 and "Traceback" in r.stderr and "SpecError" in r.stderr


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefghi", "bcdefghij"))  # billion laughs, 10 levels


@pytest.mark.parametrize("where", ["init", "workspace"])
def test_a_yaml_bomb_is_refused_at_once(cli, tmp_path, where):
    "10^10 values behind 10 levels of aliases: refused in one line, well under a second of work, by init and by any command reading the workspace."
    import time
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(BOMB)
    if where == "init":
        t0 = time.monotonic(); r = cli("init", tmp_path / "ws", "--spec", bomb); took = time.monotonic() - t0
    else:
        assert cli("init", tmp_path / "ws", "--spec", _good(tmp_path)).returncode == 0
        (tmp_path / "ws" / "mlpuzzle.yml").write_text(BOMB)
        t0 = time.monotonic(); r = cli("status", "-w", tmp_path / "ws"); took = time.monotonic() - t0
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "expand to more than 100,000 values" in r.stderr and len(r.stderr) < 400
    assert took < 10  # the command's start-up included; the check itself takes milliseconds


def _good(tmp_path):
    p = tmp_path / "good.yml"
    p.write_text(yaml.safe_dump(GOOD))
    return p
