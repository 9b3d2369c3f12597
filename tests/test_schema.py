"""The spec's JSON Schema (`mlpuzzle schema`): it covers every section, a drafted spec validates against it with
`jsonschema`, a wrong type fails it at the key path, and a drafted spec names the schema file written beside it."""
import json

import jsonschema
import pytest
import yaml

from mlpuzzle.base.schema import Spec


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    "A workspace drafted from the simulator's sample with `init --from-data`, and the schema `mlpuzzle schema` prints."
    from conftest import run_mlpuzzle
    from mlpuzzle.simulator.simulate import churn_sample
    d = tmp_path_factory.mktemp("schema")
    churn_sample(300, seed=5).to_csv(d / "customers.csv", index=False)
    r = run_mlpuzzle("init", d / "ws", "--from-data", d / "customers.csv", "--target", "churned")
    assert r.returncode == 0, r.stderr
    s = run_mlpuzzle("schema")
    assert s.returncode == 0, s.stderr
    return d / "ws", json.loads(s.stdout)


def test_schema_has_every_top_level_section(drafted):
    _, schema = drafted
    assert set(schema["properties"]) == set(Spec.model_fields)
    assert {"name", "problem", "source", "columns", "features"} <= set(schema["required"])
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid JSON Schema itself


def test_drafted_spec_validates_and_names_its_schema_file(drafted):
    ws, schema = drafted
    text = (ws / "mlpuzzle.yml").read_text()
    first = text.splitlines()[0]
    assert first == "# yaml-language-server: $schema=mlpuzzle.schema.json", first
    assert json.loads((ws / "mlpuzzle.schema.json").read_text()) == schema  # the file beside it is what `schema` prints
    jsonschema.validate(yaml.safe_load(text), schema)


@pytest.mark.parametrize("path,value,where", [
    (("monitoring", "window"), 7, ["monitoring", "window"]),
    (("source", "chunk_rows"), "many", ["source", "chunk_rows"]),
    (("monitoring", "alerts"), [{"kind": "drift", "consecutive": "two"}], ["monitoring", "alerts", 0]),
    (("colour",), "red", []),
])
def test_a_wrong_type_fails_with_the_key_path(drafted, path, value, where):
    ws, schema = drafted
    spec = yaml.safe_load((ws / "mlpuzzle.yml").read_text())
    node = spec
    for k in path[:-1]: node = node[k]
    node[path[-1]] = value
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(spec))
    assert errors, f"{path} = {value!r} passed the schema"
    assert any(list(e.absolute_path)[:len(where)] == where for e in errors), [list(e.absolute_path) for e in errors]


def test_schema_out_writes_a_file(cli, tmp_path):
    r = cli("schema", "--out", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["title"] == "Spec"
