"""Which library code a workflow stage runs, as one hash: what reruns when srloss itself changes.

Snakemake reruns a job when its rule's code or params change, but not when a helper module the
rule's command imports changes. Policy: every rule gets a ``code`` param, the SHA-256 of the
source files of the srloss modules its stage imports (the stage's entry module and, transitively,
every ``srloss`` module it imports, found by reading the sources with ``ast`` — nothing is
imported, so this costs milliseconds at parse time). Editing ``srloss/report/tables.py`` therefore
reruns only aggregation; editing ``srloss/evaluation/measure.py`` reruns every evaluation (and thus the
aggregation); editing ``srloss/losses/pixel.py`` reruns training (and everything downstream).
A module that builds a ``Registry(kind, "srloss.pkg")`` imports every module of that package on
first lookup, so it counts as importing each of them (editing ``srloss/data/sources/div2k.py``
reruns what reads datasets).
``srloss/cli.py`` (argument plumbing shared by all stages) is not part of any stage's hash.

What is hashed is the code, not the text: each module's syntax tree without its docstrings
(``code_text``), so a comment, a docstring or reformatting reruns nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "srloss"
ROOT = Path(__file__).resolve().parent  # the srloss package folder (found without importing it)

# The module each rule's command runs (see srloss.cli).
STAGES = {
    "prepare": "srloss.data.prepare",
    "train": "srloss.training.loop",
    "evaluate": "srloss.evaluation.measure",
    "aggregate": "srloss.report.aggregate",
    "budget": "srloss.report.budget",
}


def module_file(module: str, root: Path = ROOT) -> Path | None:
    """The source file of ``srloss.a.b`` under ``root`` (``a/b.py`` or ``a/b/__init__.py``)."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _registry_package(node: ast.Call) -> str | None:
    """The package of a ``Registry(kind, "srloss.pkg", ...)`` call, else None."""
    func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
    if func != "Registry":
        return None
    args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "package")]
    return next((a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)), None)


def _package_modules(package: str, root: Path) -> set[str]:
    """Every module of the srloss package ``package`` (its folder's ``*.py`` files), as a registry imports them."""
    init = module_file(package, root) if package.startswith(PACKAGE + ".") else None
    if init is None or init.name != "__init__.py":
        return set()
    return {package} | {f"{package}.{p.stem}" for p in init.parent.glob("*.py") if p.stem != "__init__"}


def _imported_modules(module: str, path: Path, root: Path = ROOT) -> set[str]:
    """``srloss`` modules named by the import statements of one source file (any nesting level),
    and the modules of the packages its registries load."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and (package := _registry_package(node)):
            found |= _package_modules(package, root)
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from srloss.x import y` may import the module srloss.x.y or the name y of srloss.x
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.add(name)
    return found


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def stage_modules(entry: str, root: Path = ROOT) -> dict[str, Path]:
    """``entry`` and every srloss module it imports, transitively (with their parent packages,
    whose ``__init__`` runs on import), mapped to their source files."""
    seen: dict[str, Path] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:  # a name imported from a module, not a module itself
            continue
        seen[module] = path
        todo += _parents(module) + sorted(_imported_modules(module, path, root))
    return seen


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def code_text(path: Path) -> str:
    """What a module's code is, apart from how it is written down: its syntax tree without
    docstrings, comments, line numbers or formatting."""
    return ast.dump(_without_docstrings(ast.parse(path.read_text(), filename=str(path))))


def stage_hash(entry: str, root: Path = ROOT) -> str:
    """SHA-256 over the sorted (module name, ``code_text``) of a stage's modules."""
    h = hashlib.sha256()
    for module, path in sorted(stage_modules(entry, root).items()):
        h.update(module.encode() + b"\0" + code_text(path).encode() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def stage_hashes(root: Path = ROOT) -> dict[str, str]:
    """The ``code`` param of every workflow stage, computed once per Snakefile parse."""
    return {stage: stage_hash(entry, root) for stage, entry in STAGES.items()}
