"""House rules a newcomer relies on: short functions in the library, a short README with docs/ beside it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_README_LINES = 250


def function_lengths(root: Path) -> list[tuple[int, str]]:
    """(lines, "path:name") of every function and method under root, paths relative to root."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.name}"))
    return found


def test_function_lengths_counts_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert sorted(function_lengths(tmp_path)) == [(2, "m.py:short"), (71, "m.py:long")]


def test_every_library_function_is_shorter_than_60_lines():
    too_long = [
        f"{name} ({n} lines)" for n, name in function_lengths(REPO / "src" / "srloss") if n >= MAX_FUNCTION_LINES
    ]
    assert not too_long, f"functions of {MAX_FUNCTION_LINES}+ lines: {', '.join(too_long)}"


def test_readme_is_short_and_its_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < MAX_README_LINES
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert any(link.startswith("docs/") for link in local), "the README points to the reference in docs/"
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
