"""The package is its subpackages, and they import one way.

- A module imports only from its own subpackage and from the subpackages `USES` lists for it (function-level imports
  included). `USES` is the architecture, not a sort order: every edge it lists is one a module really takes, and the
  test fails on an edge nothing needs any more, as it does on one that is not listed.
- Within a subpackage the modules import without a cycle, and each notebook's number comes after the numbers of the
  modules it imports: a folder reads in dependency order.
- No private name crosses a module. No module is left at the top level."""
import ast, re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mlpuzzle"

# Which subpackages each subpackage imports from (besides itself). The docs' home page and the README's Layout
# describe the same picture.
USES = {
    "base": set(),
    "data": {"base"},
    "models": {"base", "data"},
    "serving": {"base", "data", "models"},
    "monitoring": {"base", "data", "models", "serving"},
    "loop": {"base", "data", "models", "serving", "monitoring"},
    "simulator": {"base"},
    "app": {"base", "data", "models", "serving", "monitoring", "loop", "simulator"},
}


def modules() -> list[str]:
    "Every module as `subpackage.module` (a top-level module is just `module`)."
    return sorted(".".join(p.relative_to(PKG).with_suffix("").parts) for p in PKG.rglob("*.py")
                  if not p.name.startswith("_") and "__pycache__" not in p.parts)


def _target(module: str, node: ast.ImportFrom) -> str:
    "The dotted name (below mlpuzzle) that `node` imports from, or '' when it is not the package's own."
    if node.level:
        base = module.split(".")[:-node.level]
        return ".".join([*base, *([node.module] if node.module else [])])
    name = node.module or ""
    return name.removeprefix("mlpuzzle").lstrip(".") if name.split(".")[0] == "mlpuzzle" else ""


def imports(module: str):
    "(line, imported module, names) for every import of another mlpuzzle module in `module`, at any depth."
    tree = ast.parse((PKG / f"{module.replace('.', '/')}.py").read_text())
    known = set(modules())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _target(module, node)
            if target in known: yield node.lineno, target, [a.name for a in node.names]
            elif node.level or node.module and node.module.startswith("mlpuzzle"):
                for a in node.names:  # from mlpuzzle.data import store; from . import rules
                    name = f"{target}.{a.name}".lstrip(".")
                    if name in known: yield node.lineno, name, []
        elif isinstance(node, ast.Import):
            for a in node.names:
                name = a.name.removeprefix("mlpuzzle.")
                if a.name.startswith("mlpuzzle.") and name in known: yield node.lineno, name, []


def package(module: str) -> str: return module.split(".")[0] if "." in module else ""


def test_no_module_at_the_top_level_and_every_subpackage_known():
    top = [m for m in modules() if not package(m)]
    assert not top, f"modules at the top level of mlpuzzle/ (put each in the subpackage of its concern): {top}"
    unknown = sorted({package(m) for m in modules()} - set(USES))
    assert not unknown, f"subpackages missing from USES in tests/test_layers.py: {unknown}"


def test_subpackages_are_acyclic():
    def visit(p, path):
        assert p not in path, f"USES has a cycle: {' -> '.join(path + [p])}"
        for q in sorted(USES[p]): visit(q, path + [p])
    for p in USES: visit(p, [])


def where(module: str, line: int) -> str: return f"mlpuzzle/{module.replace('.', '/')}.py:{line}"


def package_edges() -> dict:
    "(importing subpackage, imported subpackage) -> the first import that takes that edge, as file:line."
    edges = {}
    for m in modules():
        for line, t, _ in imports(m):
            if package(t) != package(m): edges.setdefault((package(m), package(t)), where(m, line))
    return edges


def test_imports_follow_the_subpackages():
    bad = [f"{where}: {a} imports {b}, which USES does not allow" for (a, b), where in package_edges().items()
           if b not in USES.get(a, set())]
    assert not bad, "imports against the architecture:\n" + "\n".join(bad)


def test_every_allowed_edge_is_used():
    used = set(package_edges())
    idle = sorted(f"{a} -> {b}" for a, bs in USES.items() for b in bs if (a, b) not in used)
    assert not idle, f"USES lists edges no import takes (remove them): {idle}"


def number(module: str) -> int:
    "The number of the notebook `module` is exported from (nbs/<subpackage>/NN_name.ipynb)."
    head = (PKG / f"{module.replace('.', '/')}.py").read_text()[:600]
    return int(re.search(r"File to edit: \S*?/(\d+)_\w+\.ipynb", head).group(1))


def test_a_folder_reads_in_dependency_order():
    late = [f"{m} (notebook {number(m):02d}) imports {t} (notebook {number(t):02d})"
            for m in modules() for _, t, _ in imports(m) if package(t) == package(m) and number(t) >= number(m)]
    assert not late, "renumber the notebooks so each comes after what it imports:\n" + "\n".join(late)


def test_no_private_name_crosses_a_module():
    found = [f"{where(m, line)}: imports {', '.join(n for n in names if n.startswith('_'))} from {t}"
             for m in modules() for line, t, names in imports(m) if t != m and any(n.startswith("_") for n in names)]
    assert not found, "private names imported from another module:\n" + "\n".join(found)


@pytest.mark.parametrize("source, message", [
    ("from ..serving.serve import app\n", "data imports serving"),
    ("def f():\n    from mlpuzzle.app.cli import main\n", "data imports app"),
])
def test_the_check_sees_late_and_function_level_imports(tmp_path, monkeypatch, source, message):
    "A data module that imports a later subpackage is named, with its line."
    fake = tmp_path / "mlpuzzle"
    for m in ("data/store", "serving/serve", "app/cli"):
        (fake / m).parent.mkdir(parents=True, exist_ok=True); (fake / f"{m}.py").write_text("")
    (fake / "data/store.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    with pytest.raises(AssertionError, match=f"mlpuzzle/data/store.py:\\d+: {message}"):
        test_imports_follow_the_subpackages()
