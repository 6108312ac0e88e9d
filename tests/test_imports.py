"""Import hygiene: no import cycle among srloss modules, the layers import downwards only, and the
workflow parse (every dry run, every cluster job) imports no torch once the study is checked.

The import graph is read from the sources with ``ast``: an edge for every ``import`` statement
naming an srloss module, at any nesting level, so a function-level ("lazy") import counts like a
module-level one (it still couples the two modules and can fail at run time in the same way).
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
A package is not made to depend on its own submodules' parent: Python runs ``pkg/__init__`` before
``pkg.sub``, which is harmless unless ``pkg.sub`` imports names from ``pkg`` (then it is an edge
``pkg.sub -> pkg`` here, and with ``pkg -> pkg.sub`` a cycle).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "srloss"


def _module_name(path: Path, root: Path) -> str:
    parts = ["srloss", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Candidate module names one import statement names (``pkg.name`` and ``pkg`` for a from-import)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        anchor = module.split(".")
        anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" for a in node.names] + [base]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """srloss module -> the srloss modules its import statements (any nesting level) name."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            candidates = _imported(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):  # pkg.name if it is a module, else pkg
                names = [c for c in candidates[:-1] if c in files] or candidates[-1:]
            else:
                names = candidates
            edges.update(n for n in names if n in files and n != module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += graph.get(node, ())
    return seen - {start}


def test_no_import_cycle_among_srloss_modules():
    graph = import_graph()
    assert {"srloss.study", "srloss.weights", "srloss.losses", "srloss.models.srcnn", "srloss.ops"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_lazy_import_that_closes_a_cycle_is_found(tmp_path):
    """The walker sees function-level imports: weights -> losses.backbones would close a cycle."""
    shutil.copytree(PACKAGE, tmp_path / "srloss", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "srloss/weights.py", "a") as f:
        f.write("\n\ndef _mean():\n    from srloss.losses.backbones import IMAGENET_MEAN\n\n    return IMAGENET_MEAN\n")
    cycle = find_cycle(import_graph(tmp_path / "srloss"))
    assert cycle is not None and "srloss.weights" in cycle and "srloss.losses.backbones" in cycle
    (tmp_path / "srloss/weights.py").write_text((PACKAGE / "weights.py").read_text())
    with open(tmp_path / "srloss/models/__init__.py", "a") as f:  # a registry package importing a member
        f.write("\nfrom srloss.models.srcnn import SRCNN  # noqa\n")
    assert find_cycle(import_graph(tmp_path / "srloss"))[0] in ("srloss.models", "srloss.models.srcnn")


# The layers of docs/architecture.md, lowest first; a module belongs to the longest prefix that names it.
LAYERS = {
    "core": ["srloss", "srloss.errors", "srloss.options", "srloss.registry", "srloss.atomic", "srloss.ops"]
    + ["srloss.weights", "srloss.gpu", "srloss.health", "srloss.provenance", "srloss.codehash", "srloss.machine"],
    "components": ["srloss.models", "srloss.losses", "srloss.metrics", "srloss.data"]
    + ["srloss.training.settings", "srloss.training.schedules", "srloss.evaluation.settings"],
    "study": ["srloss.study"],
    "stages": ["srloss.data.prepare", "srloss.data.fetch", "srloss.training", "srloss.evaluation", "srloss.report"],
    "tools": ["srloss.cli", "srloss.__main__", "srloss.generate"],
}


def layer(module: str) -> int:
    """The index of ``module``'s layer in ``LAYERS`` (its longest matching prefix decides)."""
    matches = [
        (len(prefix), i)
        for i, prefixes in enumerate(LAYERS.values())
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer of LAYERS (docs/architecture.md)"
    return max(matches)[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a higher layer, as "a (layer) -> b (layer)"."""
    names = list(LAYERS)
    return [
        f"{a} ({names[layer(a)]}) -> {b} ({names[layer(b)]})"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if layer(b) > layer(a)
    ]


def test_layers_import_downwards_only():
    """Tools -> stages -> study -> components -> core: no module imports one of a higher layer."""
    graph = import_graph()
    assert upward_imports(graph) == []
    for module in graph:  # models, losses and metrics use srloss.ops, never the data layer
        if module.startswith(("srloss.models", "srloss.losses", "srloss.metrics")):
            data = {m for m in reachable(graph, module) if m.startswith("srloss.data")}
            assert not data, f"{module} imports the data layer: {sorted(data)}"


def test_an_upward_import_is_found(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "srloss", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "srloss/ops/tiling.py", "a") as f:  # core reaching into a stage
        f.write("\nfrom srloss.evaluation.measure import load_model  # noqa\n")
    assert upward_imports(import_graph(tmp_path / "srloss")) == [
        "srloss.ops.tiling (core) -> srloss.evaluation.measure (stages)"
    ]


def test_no_module_is_named_like_a_module_of_an_enclosing_package():
    """No ``x.py`` beside a package ``x/``, no ``pkg/sub/x.py`` when ``pkg/x.py`` exists (twin names)."""
    modules = {p.relative_to(PACKAGE).with_suffix("") for p in PACKAGE.rglob("*.py")}
    twins = []
    for module in modules:
        if (PACKAGE / module).is_dir():
            twins.append(f"{module}.py beside {module}/")
        for parent in module.parents[1:]:
            if parent / module.name in modules and module.name != "__init__":
                twins.append(f"{module} and {parent / module.name}")
    assert twins == []


def test_parse_time_modules_import_no_torch():
    """What common.smk and weights.smk import at parse time, before the study's cache is consulted."""
    code = (
        "import sys, srloss.study, srloss.weights, srloss.codehash, srloss.options, srloss.report.paths, "
        "srloss.data.sources; print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch" not in out.stdout, out.stdout


IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def _imported_by_snakemake(result: subprocess.CompletedProcess) -> set[str]:
    """Module names from the ``-X importtime`` report (PYTHONPROFILEIMPORTTIME) on stderr."""
    return {m.group(1) for line in result.stderr.splitlines() if (m := IMPORT_LINE.match(line))}


@pytest.mark.integration
def test_warm_dry_run_imports_no_torch(tmp_path):
    """`snakemake -n` on the demo study: the first parse checks the config (torch), the next needs none."""
    from workflow_runner import run_snakemake, test_env

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    env = {**test_env(), "PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(REPO / "src")}
    cold = run_snakemake(tmp_path, "-n", "--cores", "1", config=config, timeout=300, env=env)
    assert cold.returncode == 0, cold.stderr[-3000:]
    assert "torch" in _imported_by_snakemake(cold)  # the probe sees torch when it is imported
    warm = run_snakemake(tmp_path, "-n", "--cores", "1", timeout=300, env=env)
    assert warm.returncode == 0, warm.stderr[-3000:]
    imported = _imported_by_snakemake(warm)
    assert "srloss.study" in imported and "snakemake" in imported
    assert "torch" not in imported and "torchvision" not in imported
    assert "results/demo/runs/demo/srcnn/mse/x2/seed0/model.pt" in warm.stdout  # the same plan
