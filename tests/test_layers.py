"""The package's modules import one way: each only from modules of earlier layers (function-level imports
included), never in a circle, and never a private name of another module. The layers are the ones the
docs' home page and the README's Layout section name."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mlpuzzle"

# Modules of one layer may import any module of an earlier layer and none of their own layer or a later one.
LAYERS = [
    ["privacy"],
    ["core"],
    ["hashing"],
    ["schema"],
    ["spec"],
    ["workspace"],
    ["compat", "contracts", "simulate"],
    ["leaks", "variants"],
    ["infer"],
    ["feed"],
    ["sources"],
    ["data"],
    ["columnar"],
    ["engine"],
    ["snapshot"],
    ["store"],
    ["labels", "quarantine"],
    ["calibrate", "expected"],
    ["model"],
    ["tracking"],
    ["modelfile"],
    ["registry"],
    ["score"],
    ["contract"],
    ["fastpath"],
    ["traffic"],
    ["serve", "drift", "quality", "performance", "estimate"],
    ["reference"],
    ["labelfree", "rules", "report", "state"],
    ["recovery"],
    ["alerts"],
    ["incidents", "outbox"],
    ["monitor"],
    ["kernels"],
    ["runs"],
    ["retrain"],
    ["history"],
    ["replay"],
    ["compare"],
    ["dashboard"],
    ["demo", "docs"],
    ["commands"],
    ["cli"],
]
LAYER = {m: i for i, layer in enumerate(LAYERS) for m in layer}

# Exceptions to the rules, without line numbers (e.g. "store imports serve"): the tests fail on anything else,
# and on an entry here that no longer happens. There are none; keep it that way.
KNOWN: set[str] = set()


def check(found: list[tuple[str, str]], what: str):
    "Fail on (key, message) pairs whose key is not KNOWN, and on KNOWN keys of this kind that no longer occur."
    new = [msg for key, msg in found if key not in KNOWN]
    assert not new, f"{what}:\n" + "\n".join(new)
    return {key for key, _ in found}


def modules() -> list[str]:
    return sorted(p.stem for p in PKG.glob("*.py") if not p.stem.startswith("_"))


def imports(module: str):
    "(line, imported module, names) for every import of another mlpuzzle module in `module`, at any depth."
    tree = ast.parse((PKG / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:  # relative: from .x import y, from . import x
                if node.level != 1: raise AssertionError(f"{module}.py:{node.lineno}: relative import beyond the package")
            elif target == "mlpuzzle" or target.startswith("mlpuzzle."): target = target.removeprefix("mlpuzzle").lstrip(".")
            else: continue
            if target: yield node.lineno, target.split(".")[0], [a.name for a in node.names]
            else:  # from mlpuzzle import store (but not the package's own __version__)
                for a in node.names:
                    if not a.name.startswith("__"): yield node.lineno, a.name, []
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("mlpuzzle."): yield node.lineno, a.name.split(".")[1], []


def test_every_module_has_a_layer():
    missing = [m for m in modules() if m not in LAYER]
    assert not missing, f"modules without a layer in tests/test_layers.py LAYERS: {missing}"


def layer_violations():
    return [(f"{m} imports {t}", f"mlpuzzle/{m}.py:{line}: {m} (layer {LAYER[m]}) imports {t} (layer {LAYER.get(t, '?')})")
            for m in modules() for line, t, _ in imports(m) if t != m and LAYER.get(t, 10**6) >= LAYER[m]]


def private_imports():
    out = []
    for m in modules():
        for line, t, names in imports(m):
            private = ", ".join(n for n in names if n.startswith("_"))
            if t != m and private: out.append((f"{m} imports {private} from {t}", f"mlpuzzle/{m}.py:{line}: imports {private} from {t}"))
    return out


def test_imports_follow_the_layers():
    check(layer_violations(), "imports against the layer order")


def test_no_private_name_crosses_a_module():
    check(private_imports(), "private names imported from another module")


def cycles() -> list[str]:
    graph = {m: {t for _, t, _ in imports(m) if t != m and t in LAYER} for m in modules()}
    state, cycles = {}, []

    def visit(m, path):
        if state.get(m) == "done": return
        if state.get(m) == "open": cycles.append(" -> ".join(path[path.index(m):] + [m])); return
        state[m] = "open"
        for t in sorted(graph.get(m, ())): visit(t, path + [m])
        state[m] = "done"

    for m in sorted(graph): visit(m, [])
    return cycles


def test_no_cycles():
    check([(c, c) for c in cycles()], "import cycles")


def test_known_debt_still_exists():
    "Each KNOWN entry still happens; once the redesign removes one, it leaves the list."
    found = {k for k, _ in layer_violations() + private_imports()} | set(cycles())
    gone = KNOWN - found
    assert not gone, f"fixed, remove from KNOWN in tests/test_layers.py: {sorted(gone)}"


@pytest.mark.parametrize("source, message", [
    ("from .serve import app\n", "imports serve"),
    ("def f():\n    from mlpuzzle.cli import main\n", "imports cli"),
])
def test_the_check_sees_late_and_function_level_imports(tmp_path, monkeypatch, source, message):
    "A store module that imports a later layer is named, with its line."
    global PKG
    fake = tmp_path / "mlpuzzle"; fake.mkdir()
    for m in ("store", "serve", "cli"): (fake / f"{m}.py").write_text("")
    (fake / "store.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    with pytest.raises(AssertionError, match=f"store.py:\\d+: store \\(layer \\d+\\) {message}"):
        test_imports_follow_the_layers()
