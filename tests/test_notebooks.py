"""Notebook hygiene the docs build depends on: nbdev executes, while rendering the site, every cell that holds an
import; a cell that also holds other code then runs without the cells before it and fails the build."""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mixed_cells():
    "(notebook, cell id) of every code cell that imports and also does something else (exported cells aside)."
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        if nb.parent.name == "pipeline": continue  # papermill's jobs: the docs show their executed copies
        for c in json.loads(nb.read_text())["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] != "code" or re.search(r"#\|\s*(export|exports|exporti|eval:\s*false)", src): continue
            nodes = list(ast.walk(ast.parse(src)))
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
                yield str(nb.relative_to(ROOT / "nbs")), c.get("id")


def test_imports_sit_in_cells_of_their_own():
    found = list(mixed_cells())
    assert not found, f"move these cells' imports into a cell of their own (the docs build runs them): {found}"
