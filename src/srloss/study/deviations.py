"""Where a study departs from the paper it reproduces, as data: the ``deviations:`` key.

Each entry names one setting by its dotted config path, says what the paper used, what the study
uses and why::

    deviations:
      - setting: training.steps
        paper: 400,000 iterations (the authors' code)
        here: 100000
        reason: a quarter of the budget, the same for every loss

A path walks mappings by key and lists by index (``losses.gan.terms.1.weight``); a segment may be
a glob matching several keys (``losses.wgan-*.training.betas``). ``here`` must equal the
setting's value in the config with the schema's defaults filled in, so the list cannot drift from
what runs: ``mismatches`` names every entry that no longer holds (a ``--config`` override, an
edited preset), and ``srloss check`` and the workflow print them as warnings. The list documents
the study and changes no result: no job's identity includes it (``result_config`` leaves it out).

Pure Python (no torch): the workflow's parse calls ``mismatches``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

KEY = "deviations"

SCHEMA: dict = {
    "description": (
        "Where this study departs from the paper it reproduces, one entry per setting (config/experiments/ "
        "presets); documentation only: it reruns nothing, and an entry whose `here` differs from the config "
        "is reported as a warning."
    ),
    "type": "array",
    "default": [],
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["setting", "paper", "here", "reason"],
        "properties": {
            "setting": {
                "type": "string",
                "pattern": r"^[^.\s]+(\.[^.\s]+)*$",
                "x-expected": "a dotted config path such as training.betas or losses.gan.terms.1.weight",
                "description": "Dotted config path; list items by index; a segment may be a glob (losses.wgan-*).",
            },
            "paper": {"description": "What the paper used (a value, or words: 'not stated')."},
            "here": {"description": "What this study uses: the setting's value in the config, defaults filled."},
            "reason": {"type": "string", "minLength": 1, "description": "Why the study differs."},
        },
    },
}


def _children(node: Any, segment: str) -> Iterator[tuple[str, Any]]:
    """The (key, value) pairs of a mapping or list that ``segment`` (a key, an index or a glob) selects."""
    if isinstance(node, dict):
        items = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list):
        items = [(str(i), v) for i, v in enumerate(node)]
    else:
        return
    for key, value in items:
        if fnmatch.fnmatchcase(key, segment):
            yield key, value


def resolve(config: dict, setting: str) -> dict[str, Any]:
    """Every concrete path ``setting`` matches in ``config`` -> its value (empty: it matches nothing)."""
    found: dict[str, Any] = {"": config}
    for segment in setting.split("."):
        found = {
            f"{path}.{key}" if path else key: value
            for path, node in found.items()
            for key, value in _children(node, segment)
        }
    return found


def plain(value: Any) -> Any:
    """Tuples as lists, mapping keys as strings: YAML's ``{2: 64}`` equals the schema-filled config's."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def mismatches(config: dict) -> list[str]:
    """One line per ``deviations`` entry whose setting is absent from ``config`` or whose value is not ``here``."""
    lines = []
    for i, entry in enumerate(config.get(KEY, [])):
        setting, here = entry["setting"], plain(entry["here"])
        where = f"{KEY}[{i}] ({setting})"
        values = resolve(config, setting)
        if not values:
            lines.append(f"{where}: the config has no such setting; correct the path or remove the entry")
        for path, value in values.items():
            if plain(value) != here:
                lines.append(
                    f"{where}: {path} is {value!r} but the entry says here: {entry['here']!r}; the deviation "
                    "list no longer describes this study (update `here`, or drop the override)"
                )
    return lines
