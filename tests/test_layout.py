"""The package's dependency rules, read from the source with `ast` (imports inside functions
and under `if TYPE_CHECKING:` count too):

- `synth/` outside `synth/cli/` imports neither `finetune` nor `evals`: the CLI is the only
  layer that sees the whole pipeline;
- no SQL outside `synth/journal/` (the store and its queries);
- outside `synth/cli/`, an import deferred into a function is of a heavy library, or of a
  module that is slow to import and needed on one path only (named below with its reason);
  light project modules are imported at the top of the module.

That `distill harvest` really imports no training library is checked by running one
(tests/test_harvest.py::test_harvest_imports_no_training_library).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ROOT / "synth"
UPPER = ("finetune", "evals")
HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "pyarrow")
# slow to import and needed on one path only
SLOW = {
    "jsonschema": "0.1 s; only templates with an output.json_schema need it",
    "genai_prices": "0.25 s; not needed when the config gives teacher.price",
    "synth.harvest.providers.openai": "imports the openai SDK (0.7 s); only its provider needs it",
    "synth.harvest.providers.anthropic": "imports the anthropic SDK (2 s); likewise",
}


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import in a file."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.lineno, child.module, in_function))
            elif isinstance(child, ast.Call) and _is_import_module(child):
                found.append((child.lineno, child.args[0].value, True))  # type: ignore[attr-defined]
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def _is_import_module(call: ast.Call) -> bool:
    """importlib.import_module("a.literal.name")"""
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return (
        name in ("import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def _root(module: str) -> str:
    return module.split(".")[0]


def library_modules() -> list[Path]:
    return [p for p in sorted(SYNTH.rglob("*.py")) if (SYNTH / "cli") not in p.parents]


def test_the_rule_reader_sees_function_level_and_importlib_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from evals.run import EvalResult\n"
        "def f():\n    import finetune.train\n"
        "class C:\n    def m(self):\n        from synth import errors\n"
        "def g():\n    return importlib.import_module('evals.cost')\n",
        encoding="utf-8",
    )
    assert imports(probe) == [
        (1, "os", False),
        (2, "typing", False),
        (4, "evals.run", False),
        (6, "finetune.train", True),
        (9, "synth", True),
        (11, "evals.cost", True),
    ]


def test_synth_outside_cli_imports_neither_finetune_nor_evals() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in library_modules()
        for line, module, _ in imports(path)
        if _root(module) in UPPER
    ]
    assert library_modules() and not offences, "\n".join(offences)


def test_only_heavy_or_slow_imports_are_deferred_into_functions() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: `import {module}` inside a function: "
        "import it at the top of the module"
        for path in library_modules()
        for line, module, deferred in imports(path)
        if deferred and _root(module) not in HEAVY and module not in SLOW
    ]
    assert not offences, "\n".join(offences)


# the dataset's scratch key index (dedup, split) is a SQLite file of its own, not the journal
OWN_SQLITE = {SYNTH / "dataset" / "spill.py"}


def sql_calls(path: Path) -> list[int]:
    """Lines that run SQL: `.execute(...)`, `.executemany(...)`, `.executescript(...)`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("execute", "executemany", "executescript")
    ]


def test_no_sql_outside_the_journal() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: SQL outside synth/journal/: "
        "add a query to synth/journal/queries.py"
        for package in ("synth", "finetune", "evals")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (SYNTH / "journal") not in path.parents and path not in OWN_SQLITE
        for line in sql_calls(path)
    ]
    assert not offences, "\n".join(offences)


def _children(package: Path) -> list[str]:
    """The modules and subpackages of a package, as its map names them (`store.py`, `filters/`)."""
    names = [
        p.name
        for p in package.glob("*.py")
        if p.name != "__init__.py" and not (p.name == "__main__.py" and package == SYNTH / "sim")
    ]
    names += [f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(names)


def test_each_room_maps_its_modules() -> None:
    """synth/__init__.py and each room's __init__.py name every module beside them, one line
    each: a new module gets its line in the map."""
    rooms = [
        SYNTH,
        *(SYNTH / r for r in ("journal", "harvest", "dataset", "cli", "sim/answers", "rounds")),
    ]
    missing = [
        f"{(room / '__init__.py').relative_to(ROOT)}: no line for {name}"
        for room in rooms
        for name in _children(room)
        if not any(
            line.split()[:1] == [name]
            for line in (ast.get_docstring(_tree(room)) or "").splitlines()
        )
    ]
    assert not missing, "\n".join(missing)


def _tree(package: Path) -> ast.Module:
    return ast.parse((package / "__init__.py").read_text(encoding="utf-8"))


def test_the_files_of_a_run_are_named_in_paths_only() -> None:
    """`cfg.run_dir / "eval" / ...` outside synth/paths.py spells a run file's name a second
    time: use `cfg.paths` (RunPaths) instead."""
    offences = [
        f"{path.relative_to(ROOT)}:{node.lineno}: `.run_dir / ...`: use cfg.paths"
        for package in ("synth", "finetune", "evals")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != SYNTH / "paths.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(node.left, ast.Attribute)
        and node.left.attr == "run_dir"
    ]
    assert not offences, "\n".join(offences)
