"""Which library code a workflow stage runs, as one hash: what reruns when srloss itself changes.

Snakemake reruns a job when its rule's code or params change, but not when a helper module the
rule's command imports changes. Policy: every rule gets a ``code`` param, the SHA-256 of the
source files of the srloss modules its stage imports (the stage's entry module and, transitively,
every ``srloss`` module it imports, found by reading the sources with ``ast`` — nothing is
imported, so this costs milliseconds at parse time). Editing ``srloss/report/tables.py`` therefore
reruns only aggregation; editing ``srloss/evaluation/measure.py`` reruns every evaluation (and thus the
aggregation); editing ``srloss/losses/pixel.py`` reruns training (and everything downstream).
``srloss/cli.py`` (argument plumbing shared by all stages) is not part of any stage's hash.
A registry (``srloss.registry.Registry(kind, "srloss.pkg")``) imports every module of its package
when first asked, not by an import statement: a module that creates one counts as importing all
of that package's modules.

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


def _registry_package(node: ast.AST) -> str | None:
    """The package of a ``Registry(kind, "srloss.pkg", ...)`` call, else None."""
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    package = node.args[1]
    if name == "Registry" and isinstance(package, ast.Constant) and isinstance(package.value, str):
        return package.value
    return None


def _package_modules(package: str, root: Path) -> set[str]:
    """The modules and subpackages directly in ``package`` (what its registry imports)."""
    folder = root.joinpath(*package.split(".")[1:])
    if not folder.is_dir():
        return set()
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in folder.glob("*/__init__.py")}
    return {f"{package}.{n}" for n in names}


def _imported_modules(module: str, path: Path, root: Path = ROOT, registries: bool = True) -> set[str]:
    """``srloss`` modules named by the import statements of one source file (any nesting level),
    and every module of a registry's package that the file creates (``_registry_package``)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        package = _registry_package(node)
        if package is not None and package.startswith(PACKAGE + "."):
            found |= _package_modules(package, root) if registries else set()
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


def stage_modules(entry: str, root: Path = ROOT, registries: bool = True) -> dict[str, Path]:
    """``entry`` and every srloss module it imports, transitively (with their parent packages,
    whose ``__init__`` runs on import), mapped to their source files. ``registries=False`` leaves
    out what a registry imports by name (its members): ``job_code`` adds those a job uses."""
    return _closure([entry], root, registries)


def _closure(entries: list[str], root: Path, registries: bool) -> dict[str, Path]:
    seen: dict[str, Path] = {}
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:  # a name imported from a module, not a module itself
            continue
        seen[module] = path
        todo += _parents(module) + sorted(_imported_modules(module, path, root, registries))
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
    return _hash(stage_modules(entry, root))


@lru_cache(maxsize=None)
def stage_hashes(root: Path = ROOT) -> dict[str, str]:
    """The ``code`` param of every workflow stage, computed once per Snakefile parse."""
    return {stage: stage_hash(entry, root) for stage, entry in STAGES.items()}


def _hash(modules: dict[str, Path]) -> str:
    h = hashlib.sha256()
    for module, path in sorted(modules.items()):
        h.update(module.encode() + b"\0" + code_text(path).encode() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def job_code(stage: str, members: tuple[str, ...], root: Path = ROOT) -> str:
    """The ``code`` param of one job: its stage's modules without the registries' members, plus the
    members it uses (``members``: the modules of its model, loss terms, metrics or source) and what
    they import. Editing the L1 term's module reruns the runs whose loss has an L1 term, not the
    MSE runs; editing a module no job uses reruns nothing."""
    modules = _closure([STAGES[stage]], root, registries=False)
    modules.update(_closure(list(members), root, registries=False))
    return _hash(modules)
