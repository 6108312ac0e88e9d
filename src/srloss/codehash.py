"""Which library code a workflow stage runs, as one hash: what reruns when srloss itself changes.

Snakemake reruns a job when its rule's code or params change, but not when a helper module the
rule's command imports changes. Policy: every rule gets a ``code`` param, the SHA-256 of the
source files of the srloss modules its stage imports (the stage's entry module and, transitively,
every ``srloss`` module it imports, found by reading the sources with ``ast`` — nothing is
imported, and ``CodeCache`` keeps the hashes for the next parse while no source file changes).
Editing ``srloss/report/tables.py`` therefore reruns only aggregation; editing
``srloss/evaluation/measure.py`` reruns every evaluation (and thus the aggregation); editing
``srloss/losses/pixel.py`` reruns training (and everything downstream). ``srloss/cli.py``
(argument plumbing shared by all stages) is not part of any stage's hash.
A registry (``srloss.registry.Registry(kind, "srloss.pkg")``) imports every module of its package
when first asked, not by an import statement: a module that creates one counts as importing all
of that package's modules.

What is hashed is the code, not the text: each module's syntax tree without its docstrings
(``code_text``), so a comment, a docstring or reformatting reruns nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable

PACKAGE = "srloss"
ROOT = Path(__file__).resolve().parent  # the srloss package folder (found without importing it)
CACHE_FILE = "codehash.json"  # in the workflow's cache folder (code_cache)

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


@lru_cache(maxsize=1024)
def import_facts(module: str, text: str, is_package: bool) -> tuple[frozenset[str], frozenset[str]]:
    """What one source file imports: the ``srloss`` modules its import statements name (any
    nesting level) and the packages of the registries it creates (``_registry_package``), whose
    modules a registry imports by name. Cached by content: several stages share most modules."""
    imports: set[str] = set()
    registries: set[str] = set()
    for node in ast.walk(ast.parse(text, filename=module)):
        package = _registry_package(node)
        if package is not None and package.startswith(PACKAGE + "."):
            registries.add(package)
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
        imports.update(name for name in names if name == PACKAGE or name.startswith(PACKAGE + "."))
    return frozenset(imports), frozenset(registries)


def _imported_modules(module: str, path: Path, text: str, root: Path = ROOT, registries: bool = True) -> set[str]:
    """``srloss`` modules named by the import statements of one source file (any nesting level),
    and every module of a registry's package that the file creates (``_registry_package``)."""
    imports, packages = import_facts(module, text, path.name == "__init__.py")
    found = set(imports)
    if registries:
        for package in packages:
            found |= _package_modules(package, root)
    return found


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def stage_modules(entry: str, root: Path = ROOT, registries: bool = True) -> dict[str, Path]:
    """``entry`` and every srloss module it imports, transitively (with their parent packages,
    whose ``__init__`` runs on import), mapped to their source files. ``registries=False`` leaves
    out what a registry imports by name (its members): ``job_code`` adds those a job uses."""
    return {module: path for module, (path, _) in _closure([entry], root, registries).items()}


def _closure(entries: list[str], root: Path, registries: bool) -> dict[str, tuple[Path, str]]:
    """``stage_modules`` of several entries, each mapped to its source file and text."""
    seen: dict[str, tuple[Path, str]] = {}
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:  # a name imported from a module, not a module itself
            continue
        text = path.read_text()
        seen[module] = (path, text)
        todo += _parents(module) + sorted(_imported_modules(module, path, text, root, registries))
    return seen


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def code_text(path: Path, text: str | None = None) -> str:
    """What a module's code is, apart from how it is written down: its syntax tree without
    docstrings, comments, line numbers or formatting (``text``: the file's, if already read)."""
    return _code_text(path.read_text() if text is None else text, str(path))


@lru_cache(maxsize=1024)
def _code_text(text: str, filename: str) -> str:  # a module shared by several stages is dumped once
    return ast.dump(_without_docstrings(ast.parse(text, filename=filename)))


def _hash(sources: dict[str, tuple[Path, str]]) -> str:
    h = hashlib.sha256()
    for module, (path, text) in sorted(sources.items()):
        h.update(module.encode() + b"\0" + code_text(path, text).encode() + b"\0")
    return h.hexdigest()[:16]


class CodeCache:
    """The hashes earlier workflow parses computed, valid while no srloss source file changed.

    Parsing the sources with ``ast`` costs a second or more per parse; checking that none changed
    costs a read of each file (milliseconds): the cache holds the hashes with the digest of the
    whole source tree (every ``.py`` file's path and bytes, ``tree_digest``) and the Python
    version (``ast.dump`` may change with it); any difference empties it. Kept in one JSON file
    (``path``; None: in memory only), written atomically by ``save``; concurrent writers (cluster
    jobs parsing at once) may drop each other's entries, which costs a parse, never a wrong hash.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self._stored: dict = {}
        self._trees: dict[Path, str] = {}
        self._changed = False
        if self.path is not None:
            try:
                self._stored = json.loads(self.path.read_text())
            except (OSError, ValueError):
                pass

    def get(self, key: str, root: Path, compute: Callable[[], str]) -> str:
        """The hash named ``key`` of the sources under ``root``: the stored one if the sources are
        the same, else ``compute()`` (stored)."""
        if root not in self._trees:
            self._trees[root] = tree_digest(root)
        tree = self._trees[root]
        if self._stored.get("tree") != tree or self._stored.get("python") != sys.version:
            self._stored = {"tree": tree, "python": sys.version, "hashes": {}}
        hashes = self._stored["hashes"]
        if key not in hashes:
            hashes[key] = compute()
            self._changed = True
        return hashes[key]

    def save(self) -> None:
        """Write the cache if it learned anything (atomically; errors ignored: it is only a cache)."""
        if self.path is None or not self._changed:
            return
        from srloss.atomic import write_text

        try:
            write_text(self.path, json.dumps(self._stored, sort_keys=True))
            self._changed = False
        except OSError:
            pass


def tree_digest(root: Path = ROOT) -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file under ``root``."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=None)
def code_cache(directory: str) -> CodeCache:
    """The ``CodeCache`` kept in ``directory`` (the workflow's cache folder), one per folder per
    process: the config check and the rules' code params of one parse share it."""
    return CodeCache(Path(directory) / CACHE_FILE)


def _cached(cache: CodeCache | None, key: str, root: Path, compute: Callable[[], str]) -> str:
    return compute() if cache is None else cache.get(key, root, compute)


def stage_hash(entry: str, root: Path = ROOT, cache: CodeCache | None = None) -> str:
    """SHA-256 over the sorted (module name, ``code_text``) of a stage's modules (``cache``: take
    it from there while the sources are unchanged)."""
    return _cached(cache, f"stage {entry}", root, lambda: _hash(_closure([entry], root, True)))


@lru_cache(maxsize=None)
def stage_hashes(root: Path = ROOT, cache: CodeCache | None = None) -> dict[str, str]:
    """The ``code`` param of every workflow stage, computed once per Snakefile parse."""
    return {stage: stage_hash(entry, root, cache) for stage, entry in STAGES.items()}


@lru_cache(maxsize=None)
def job_code(stage: str, members: tuple[str, ...], root: Path = ROOT, cache: CodeCache | None = None) -> str:
    """The ``code`` param of one job: its stage's modules without the registries' members, plus the
    members it uses (``members``: the modules of its model, loss terms, metrics or source) and what
    they import. Editing the L1 term's module reruns the runs whose loss has an L1 term, not the
    MSE runs; editing a module no job uses reruns nothing."""

    def compute() -> str:
        modules = _closure([STAGES[stage]], root, registries=False)
        modules.update(_closure(list(members), root, registries=False))
        return _hash(modules)

    return _cached(cache, f"job {stage} {' '.join(members)}", root, compute)
