"""Files made from srloss's declarations: the config schema and the reference tables of the docs.

A model, loss term, metric, source or setting is declared once, next to its implementation; the
schema (``workflow/schemas/config.schema.yaml``) and every table between
``<!-- generated: NAME -->`` and ``<!-- end generated -->`` in the docs are written from those
declarations by ``srloss generate``. ``srloss generate --check`` (run by the tests) fails when a
committed copy differs, naming the file, so a copy can never drift from what it describes.

Imports every registry (and so torch); nothing at run time depends on this module.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n).*?(<!-- end generated -->)", re.S)


def summary(member: type) -> str:
    """A member's description: its ``summary`` attribute, else the first paragraph of its own
    docstring, else of its module's (a model's module names its paper)."""
    text = getattr(member, "summary", None) or member.__dict__.get("__doc__") or sys.modules[member.__module__].__doc__
    return " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: Iterable[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def options_cell(options) -> str:
    """``name`` (default): what it is; ... for a tuple of ``srloss.options.Option``."""
    return "; ".join(f"`{o.name}` ({_value(o.default)}): {o.doc}" for o in options) or "–"


def settings_table(section, prefix: str = "") -> str:
    """Every key of a ``Settings`` section (nested sections flattened as ``a.b``): default and meaning."""

    def rows(cls, lead: str):
        nested = cls.sections()
        for option in cls.options():
            yield [f"`{lead}{option.name}`", f"`{_value(option.default)}`", option.expected(), option.doc]
        for name, sub in nested.items():
            yield from rows(sub, f"{lead}{name}.")

    return table(["key", "default", "allowed", "meaning"], rows(section, prefix))


# ----- the tables ---------------------------------------------------------------------------


def models_table() -> str:
    from srloss.models import MODELS
    from srloss.models.base import build_model, count_parameters

    rows = []
    for name in MODELS:
        cls = MODELS[name]
        counts = {s: count_parameters(build_model(name, s)) for s in cls.scales}
        distinct = list(dict.fromkeys(counts.values()))  # in scale order
        params = (
            f"{distinct[0]:,}"
            if len(distinct) == 1
            else ", ".join(f"{n:,} (x{', x'.join(str(s) for s in counts if counts[s] == n)})" for n in distinct)
        )
        trained = "" if cls.trainable else " Not trained."
        rows.append(
            [f"`{name}`", summary(cls) + trained, ", ".join(map(str, cls.scales)), params, options_cell(cls.options)]
        )
    return table(["arch", "what", "scales", "parameters (defaults)", "options"], rows)


def discriminators_table() -> str:
    from srloss.models import DISCRIMINATORS

    rows = [[f"`{n}`", summary(DISCRIMINATORS[n]), options_cell(DISCRIMINATORS[n].options)] for n in DISCRIMINATORS]
    return table(["discriminator", "design", "options"], rows)


def loss_terms_table() -> str:
    from srloss.losses import LOSS_TERMS

    rows = []
    for name in sorted(LOSS_TERMS):
        cls = LOSS_TERMS[name]
        backbone = getattr(cls, "backbone", None)
        what = summary(cls) + (f" Pretrained backbone: {backbone}." if backbone else "")
        rows.append([f"`{name}`", what, options_cell(cls.options)])
    return table(["name", "what", "options"], rows)


def metrics_table() -> str:
    from srloss.metrics import METRICS

    rows = []
    for name in METRICS:
        cls = METRICS[name]
        selected = "by default" if cls.listed and cls.default else ("on request" if cls.listed else "see options")
        rows.append([f"`{name}`", summary(cls), selected, options_cell(cls.options)])
    return table(["metric", "what", "measured", "options (`evaluation.<metric>`)"], rows)


def sources_table() -> str:
    from srloss.data.sources import SOURCES

    aliases = SOURCES.aliases()
    rows = []
    for name in SOURCES:
        earlier = [a for a, n in aliases.items() if n == name]
        label = f"`{name}`" + (f" (earlier name: {', '.join(earlier)})" if earlier else "")
        rows.append([label, summary(SOURCES[name]), options_cell(SOURCES[name].options)])
    return table(["source", "what", "its own keys"], rows)


def weights_table() -> str:
    from srloss.losses import LOSS_TERMS
    from srloss.options import OptionError
    from srloss.weights import LPIPS_TRUNKS, WEIGHT_FILES

    users: dict[str, list[str]] = {b: [] for b in WEIGHT_FILES}
    for name in sorted(LOSS_TERMS):
        cls = LOSS_TERMS[name]
        default = cls.backbones(cls.check_options())
        for backbone in default:
            users[backbone].append(f"`{name}`")
        for option in cls.options:  # a choice that changes the backbone (resnet arch, lpips net)
            for choice in option.choices:
                try:
                    needed = cls.backbones(cls.check_options(**{option.name: choice}))
                except OptionError:  # a choice that needs further options (tv form beta): no backbone
                    continue
                for backbone in set(needed) - set(default):
                    users[backbone].append(f"`{name}` ({option.name}: {choice})")
    for net, trunk in LPIPS_TRUNKS.items():
        users[trunk].append(f"LPIPS `{net}`")
    rows = [[b, f"`{w.file}`", ", ".join(users[b]) or "–"] for b, w in WEIGHT_FILES.items()]
    return table(["backbone", "file", "used by"], rows)


def _training() -> str:
    from srloss.training.settings import TrainingSection

    return settings_table(TrainingSection)


def _evaluation() -> str:
    from srloss.evaluation.settings import EvaluationSection

    return settings_table(EvaluationSection)


def _degradation() -> str:
    from srloss.data.settings import DegradationSettings

    return settings_table(DegradationSettings)


def figures_table() -> str:
    """The report's figures (``srloss.report.landing.FIGURES``), in menu order, with thumbnails."""
    from srloss.report.landing import FIGURES

    def thumb(name: str) -> str:
        return f"![{name}](figures/{name})" if name and (REPO / "docs/figures" / name).exists() else "–"

    rows = [[f.menu, f"`{f.files}.{{png,pdf}}`", f.read, thumb(f.thumbnail)] for f in FIGURES]
    return table(["Report menu", "File under results/<study>/figures/", "What to read from it", "Thumbnail"], rows)


TABLES: dict[str, Callable[[], str]] = {
    "models": models_table,
    "discriminators": discriminators_table,
    "loss-terms": loss_terms_table,
    "metrics": metrics_table,
    "sources": sources_table,
    "weights": weights_table,
    "training": _training,
    "evaluation": _evaluation,
    "degradation": _degradation,
    "figures": figures_table,
}


# ----- writing and checking ------------------------------------------------------------------


def _with_tables(text: str, path: Path) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise KeyError(f"{path}: unknown generated block {name!r}; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name]() + match.group(3)

    return BLOCK.sub(fill, text)


def generated() -> dict[Path, str]:
    """Each generated file (the schema, every doc with generated blocks) -> its content now."""
    from srloss.study.schema import SCHEMA_PATH, schema_text

    files = {SCHEMA_PATH: schema_text()}
    for path in DOCS:
        text = path.read_text()
        if BLOCK.search(text):
            files[path] = _with_tables(text, path)
    return files


def stale() -> list[Path]:
    """The generated files whose committed copy differs from what the declarations give."""
    return [p for p, text in generated().items() if not p.exists() or p.read_text() != text]


def write() -> list[Path]:
    """Rewrite every stale generated file; return them."""
    changed = stale()
    content = generated()
    for path in changed:
        path.write_text(content[path])
    return changed
