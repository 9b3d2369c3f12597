"""Code shape of an mlpuzzle checkout, flat (mlpuzzle/*.py) or in subpackages (mlpuzzle/<pkg>/*.py).

Measures: modules (count, directly in mlpuzzle/, per subpackage, largest, over 300 lines); lines over
120 characters; median size of functions (methods and nested ones too) in characters and lines, share over
16 lines; imports of the package's own modules inside functions (and re-imports of top-level ones);
`spec["...` lookups; functions taking `ws`, `spec`, `since`, `until`, `as_of` (and passing `ws` on); the
5 widest signatures (every parameter counts, `self` and `*args` too); `name = lambda` assignments; share
of the public functions and classes of `#| export` cells that one of the next 3 code cells without
`#| export` mentions; code lines (no imports, blank lines, comments) and def/lambda in nbs/pipeline.

Modules: mlpuzzle/**/*.py but `_modidx.py` and `__init__.py`; notebooks: nbs/**/*.ipynb but nbs/pipeline,
checkpoints and folders starting with `_`. Prints a markdown table (`--compare`: before and after):

    .venv/bin/python bench/layout.py [--root CHECKOUT] [--out FILE.json] [--compare BEFORE.json]
"""
import argparse, ast, json, re, statistics
from pathlib import Path

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
IMPORTS = (ast.Import, ast.ImportFrom)
THREADED = ("ws", "spec", "since", "until", "as_of")
EXPORT = re.compile(r"^#\|\s*export\s*$", re.M)
SPEC = re.compile(r"""spec\[["']""")


def modules(root: Path) -> dict:
    "{dotted module name: (source, tree)} of the package's modules, at any depth."
    out = {}
    for p in sorted((root / "mlpuzzle").rglob("*.py")):
        if p.name in ("_modidx.py", "__init__.py") or "__pycache__" in p.parts: continue
        src = p.read_text()
        out[".".join(p.relative_to(root).with_suffix("").parts)] = (src, ast.parse(src))
    return out


def code_cells(path: Path) -> list:
    "Sources of a notebook's code cells, magics (`%`, `!`) blanked out."
    cells = json.loads(path.read_text())["cells"]
    srcs = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return [re.sub(r"^\s*[%!].*$", "", s, flags=re.M) for s in srcs]


def notebooks(root: Path):
    "(path, code cells) of each documentation notebook."
    nbs = root / "nbs"
    for p in sorted(nbs.rglob("*.ipynb")):
        dirs = p.relative_to(nbs).parts[:-1]
        skip = dirs[:1] == ("pipeline",) or any(d.startswith(("_", ".ipynb_checkpoints")) for d in dirs)
        if not skip: yield p, code_cells(p)


def params(f) -> list:
    "Names of all of a function's parameters."
    a = f.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if p]


def fig_modules(trees: dict) -> dict:
    lines = {m: len(src.splitlines()) for m, (src, _) in trees.items()}
    pkgs = [m.partition(".")[2].rpartition(".")[0] for m in lines]
    subs = {p: pkgs.count(p) for p in sorted(set(pkgs) - {""})}
    big = max(lines, key=lines.get)
    return {"count": len(lines), "top_level": sum(m.count(".") == 1 for m in lines), "subpackages": subs,
            "largest": {"module": big, "lines": lines[big]},
            "over_300_lines": sum(n > 300 for n in lines.values())}


def fig_long_lines(trees: dict) -> dict:
    lines = [line for src, _ in trees.values() for line in src.splitlines()]
    long = sum(len(line) > 120 for line in lines)
    return {"total": long, "per_1000_lines": round(1000 * long / max(len(lines), 1), 2), "lines": len(lines)}


def fig_function_size(trees: dict, funcs: list) -> dict:
    chars = [len(ast.get_source_segment(trees[m][0], f)) for m, f in funcs]
    nlines = [f.end_lineno - f.lineno + 1 for _, f in funcs]
    return {"functions": len(funcs), "median_chars": statistics.median(chars),
            "median_lines": statistics.median(nlines),
            "share_over_16_lines": round(sum(n > 16 for n in nlines) / len(nlines), 3)}


def own_modules(node, module: str) -> set:
    "Absolute names of the package's modules an import statement imports (empty for any other node)."
    if isinstance(node, ast.Import): return {a.name for a in node.names if a.name.startswith("mlpuzzle.")}
    if not isinstance(node, ast.ImportFrom): return set()
    base = module.split(".")[:-node.level] if node.level else []
    name = ".".join(base + ([node.module] if node.module else []))
    if name.split(".")[0] != "mlpuzzle": return set()
    if node.module is None or name == "mlpuzzle": return {f"{name}.{a.name}" for a in node.names}
    return {name}


def top_level(tree):
    "Statements outside functions and classes (in `if` and `try` blocks too)."
    todo = list(tree.body)
    while todo:
        n = todo.pop()
        if isinstance(n, DEFS + (ast.ClassDef,)): continue
        yield n
        todo.extend(ast.iter_child_nodes(n))


def fig_own_imports(trees: dict, funcs: list) -> dict:
    # an import in a nested function is in its parent's walk too: keyed by node, it counts once
    inner = {id(n): (m, n) for m, f in funcs for n in ast.walk(f) if isinstance(n, IMPORTS)}
    own = [(m, names) for m, n in inner.values() if (names := own_modules(n, m))]
    top = {m: set().union(*(own_modules(n, m) for n in top_level(t))) for m, (_, t) in trees.items()}
    again = [f"{m}: {', '.join(sorted(names & top[m]))}" for m, names in own if names & top[m]]
    return {"count": len(own), "already_imported_at_top": len(again), "reimports": again}


def fig_spec_lookups(trees: dict) -> dict:
    hits = {m: len(SPEC.findall(src)) for m, (src, _) in trees.items()}
    return {"count": sum(hits.values()), "modules": sum(n > 0 for n in hits.values())}


def passes_on(f, name: str) -> bool:
    "Whether `f`'s body calls something with `name` itself as a positional or keyword argument."
    calls = [c for s in f.body for c in ast.walk(s) if isinstance(c, ast.Call)]
    vals = [v for c in calls for v in c.args + [k.value for k in c.keywords]]
    return any(isinstance(v, ast.Name) and v.id == name for v in vals)


def fig_threaded(funcs: list) -> dict:
    out = {n: {"taken_by": sum(n in params(f) for _, f in funcs)} for n in THREADED}
    out["ws"]["passed_on_by"] = sum("ws" in params(f) and passes_on(f, "ws") for _, f in funcs)
    return out


def fig_widest(funcs: list) -> list:
    # ties by function name, which stays when modules move
    top = sorted(funcs, key=lambda mf: (-len(params(mf[1])), mf[1].name, mf[0]))[:5]
    return [{"function": f.name, "module": m, "params": len(params(f))} for m, f in top]


def fig_stored_lambdas(trees: dict) -> int:
    nodes = [n for _, t in trees.values() for n in ast.walk(t)]
    return sum(isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda) for n in nodes)


def exported(cells: list):
    "(name, the next 3 code cells without `#| export`) of each public function and class of an export cell."
    for i, cell in enumerate(cells):
        if not EXPORT.search(cell): continue
        later = [c for c in cells[i + 1:] if not EXPORT.search(c)][:3]
        for n in ast.parse(cell).body:
            if isinstance(n, DEFS + (ast.ClassDef,)) and not n.name.startswith("_"): yield n.name, later


def fig_examples(root: Path) -> dict:
    found = [(p.stem, name, any(re.search(rf"\b{name}\b", c) for c in later))
             for p, cells in notebooks(root) for name, later in exported(cells)]
    shown = sum(ok for *_, ok in found)
    return {"exported": len(found), "with_examples": shown, "share": round(shown / max(len(found), 1), 3),
            "without": [f"{nb}: {name}" for nb, name, ok in found if not ok]}


def logic(src: str) -> tuple:
    "(code lines without imports, blank lines and comments; number of def and lambda) of a code cell."
    tree = ast.parse(src)
    imports = [n for n in ast.walk(tree) if isinstance(n, IMPORTS)]
    skip = {i for n in imports for i in range(n.lineno, n.end_lineno + 1)}
    lines = [s.strip() for i, s in enumerate(src.splitlines(), 1) if i not in skip]
    return sum(bool(s) and not s.startswith("#") for s in lines), \
        sum(isinstance(n, DEFS + (ast.Lambda,)) for n in ast.walk(tree))


def fig_pipeline(root: Path) -> dict:
    paths = sorted((root / "nbs" / "pipeline").glob("*.ipynb"))
    per = {p.stem: [logic(c) for c in code_cells(p)] for p in paths}
    per = {nb: {"code_lines": sum(n for n, _ in v), "defs": sum(d for _, d in v)} for nb, v in per.items()}
    return {"code_lines": sum(v["code_lines"] for v in per.values()),
            "defs": sum(v["defs"] for v in per.values()), "notebooks": per}


def measure(root: Path) -> dict:
    trees = modules(root)
    funcs = [(m, n) for m, (_, t) in trees.items() for n in ast.walk(t) if isinstance(n, DEFS)]
    return {"root": str(root), "modules": fig_modules(trees), "long_lines": fig_long_lines(trees),
            "median_function_chars": fig_function_size(trees, funcs),
            "own_imports_in_functions": fig_own_imports(trees, funcs),
            "spec_lookups": fig_spec_lookups(trees),
            "threaded_params": fig_threaded(funcs), "widest_signatures": fig_widest(funcs),
            "stored_lambdas": fig_stored_lambdas(trees), "exported_with_examples": fig_examples(root),
            "pipeline_logic": fig_pipeline(root)}


ALIASES = {"m": "modules", "fn": "median_function_chars", "imp": "own_imports_in_functions",
           "par": "threaded_params", "ex": "exported_with_examples", "pipe": "pipeline_logic"}
ROWS = [("modules (directly in mlpuzzle/)", "{m[count]} ({m[top_level]})"),
        ("subpackages (modules)", "{subs}"),
        ("largest module (lines)", "{m[largest][module]} ({m[largest][lines]})"),
        ("modules over 300 lines", "{m[over_300_lines]}"),
        ("lines > 120 chars (per 1,000)", "{long_lines[total]} ({long_lines[per_1000_lines]})"),
        ("functions", "{fn[functions]}"),
        ("median function chars / lines", "{fn[median_chars]} / {fn[median_lines]}"),
        ("functions over 16 lines", "{fn[share_over_16_lines]:.1%}"),
        ("own imports in functions (re-imports)", "{imp[count]} ({imp[already_imported_at_top]})"),
        ("spec[...] lookups (modules)", "{spec_lookups[count]} ({spec_lookups[modules]})"),
        ("`ws` parameter", "taken by {par[ws][taken_by]}, passed on by {par[ws][passed_on_by]}"),
        *[(f"`{n}` parameter", f"taken by {{par[{n}][taken_by]}}") for n in THREADED[1:]],
        ("widest signatures", "{widest}"),
        ("stored lambdas", "{stored_lambdas}"),
        ("exported names with examples", "{ex[share]:.1%} ({ex[with_examples]}/{ex[exported]})"),
        ("pipeline code lines (def/lambda)", "{pipe[code_lines]} ({pipe[defs]})")]


def column(fig: dict) -> list:
    "The table's values for one set of figures ('n/a' where a figure is missing)."
    subs = ", ".join(f"{k} {v}" for k, v in fig["modules"]["subpackages"].items()) or "none"
    widest = "<br>".join(f"{w['module']}.{w['function']} {w['params']}" for w in fig["widest_signatures"])
    names = dict(fig, subs=subs, widest=widest, **{a: fig.get(k) for a, k in ALIASES.items()})
    out = []
    for _, template in ROWS:
        try: out.append(template.format(**names))
        except (KeyError, TypeError): out.append("n/a")
    return out


def table(figs: list, heads: list) -> str:
    cols = [column(f) for f in figs]
    lines = ["| figure | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    rows = [f"| {label} | " + " | ".join(c[i] for c in cols) + " |" for i, (label, _) in enumerate(ROWS)]
    return "\n".join(lines + rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--out", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--compare", type=Path, help="figures (JSON) to show as 'before' next to these")
    args = ap.parse_args()
    fig = measure(args.root.resolve())
    if args.out: args.out.write_text(json.dumps(fig, indent=1) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        print(table([before, fig], [f"before ({args.compare.name})", f"after ({args.root})"]))
    else: print(table([fig], [str(args.root)]))


if __name__ == "__main__":
    main()
