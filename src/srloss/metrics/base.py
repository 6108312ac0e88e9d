"""The metric registry: every metric declares what it measures, how a study selects and configures
it, the columns it writes, and computes them for a batch of test images.

A metric is a ``Metric`` subclass registered in the module that implements it::

    @METRICS.register("mae")
    class MeanAbsoluteError(Metric):
        summary = "mean absolute difference of the RGB values (0-255)"
        title = "MAE"
        order = 45
        column = Column("mae", "MAE (0-255, RGB, border=scale)", "MAE", "min", bounds=(0.0, math.inf))

        def batch(self, sr, hr, scale):
            return {"mae": each_image(sr, hr, scale, lambda s, h: float((s.double() - h.double()).abs().mean()))}

``METRICS`` imports every module of ``srloss.metrics`` on first lookup, so adding a metric is one
new module: the evaluation (``srloss.evaluation.measure``), the tables and figures
(``srloss.report``) and the config schema ask the registry. Iterating ``METRICS`` gives the names
in display order (``order``).

What a metric declares is listed in ``Metric``'s docstring; a ``Column`` describes one column of
metrics.csv for the tables and figures.

A metric module imports torch (and ``srloss.ops``, which does) inside the functions that compute,
never at the top: the report's stages (aggregate, budget) read every metric's declarations and so
import every metric module, and without torch they need a fraction of the memory (``import torch``
alone is 0.5-0.9 GiB of RSS; tests/test_report.py checks that they load no torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from srloss.errors import UserError
from srloss.options import Configurable, Option
from srloss.registry import Registry, RegistryError

if TYPE_CHECKING:  # the report reads the declarations without torch (see the module docstring)
    import torch

# What "better" means: the arrow the tables print and the stats' score (srloss.report.stats.score).
DIRECTIONS = ("max", "min", "zero")
# Which axis of the perception-distortion plane a column can stand on (Blau and Michaeli, CVPR 2018).
ROLES = ("distortion", "perception")


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (e.g. its weights are not cached); the message says why."""


@dataclass(frozen=True)
class Column:
    """One metric column of metrics.csv, as the tables and figures show it.

    ``header``: the table header, stating the convention ("PSNR Y (dB, BT.601, border=scale)");
    ``short`` and ``unit``: its name on a figure axis (``label``: "PSNR Y (dB)");
    ``direction``: "max" (higher is better), "min" (lower) or "zero" (closer to 0);
    ``format``: the number format of table cells; ``bounds``: the range a value can take
    (confidence intervals are clipped to it: a t interval of a bounded quantity can otherwise
    span impossible values, SSIM above 1 or MSE below 0);
    ``counted``: for a rate of 0/1 outcomes, the noun of what it is a rate of ("faces"): the tables
    also give failures/<noun> and say "no <noun>" where there are none;
    ``hidden``: bookkeeping, in metrics.csv but in no table or figure; with ``excludes``, a 1/0
    column whose 0 excludes the image from its metric's other columns, the phrase saying why
    ("without a detectable face in the ground truth"; the tables count those images);
    ``tabled``: has a column in the per-model results tables (else in summaries and figures only);
    ``overview``: in the study's overview figure; ``role``: "distortion" or "perception", the axis
    of the perception-distortion plane it can stand on (the first present in display order does;
    the first distortion column also labels the comparison grid's crops).
    """

    name: str
    header: str
    short: str
    direction: str = ""
    unit: str = ""
    format: str = ".4f"
    bounds: tuple[float, float] = (-math.inf, math.inf)
    counted: str = ""
    hidden: bool = False
    excludes: str = ""
    tabled: bool = True
    overview: bool = False
    role: str = ""

    def __post_init__(self):
        if not self.name.isidentifier() or not self.header or not self.short:
            raise ValueError(f"column {self.name!r}: needs an identifier as name, a header and a short name")
        if not self.hidden and self.direction not in DIRECTIONS:
            valid = ", ".join(DIRECTIONS)
            raise ValueError(f"column {self.name!r}: direction {self.direction!r} is not one of {valid}")
        if self.role and self.role not in ROLES:
            raise ValueError(f"column {self.name!r}: role {self.role!r} is not one of {', '.join(ROLES)}")
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"column {self.name!r}: bounds {self.bounds} are not (low, high) with low < high")
        if self.excludes and not self.hidden:
            raise ValueError(f"column {self.name!r}: only a hidden 1/0 column can exclude images")
        format(1.0, self.format)  # ValueError for a format that is not a number format

    @property
    def label(self) -> str:
        """The column on a figure axis: "PSNR Y (dB)"."""
        return f"{self.short} ({self.unit})" if self.unit else self.short


class Metric(Configurable):
    """Base of every metric.

    A metric declares (checked when it registers; ``RegistryError`` names what is wrong):

    * ``summary``: one line, what it measures (the docs' table of metrics);
    * ``title``: its short name in notes and figure titles ("PSNR", "LPIPS", "FFR");
    * ``order``: its place in every table and figure, ascending (the metrics here use multiples of 10);
    * ``listed``: selected by naming it in ``evaluation.metrics``; an unlisted metric is selected by
      its own section instead (``selected``: FFR by ``evaluation.ffr.datasets``);
    * ``default``: in the default ``evaluation.metrics`` (listed metrics only);
    * ``options``: ``srloss.options.Option`` declarations, the keys of its ``evaluation.<name>``
      section (an empty tuple: it has none); the config schema is generated from them;
    * ``column`` (one column whatever the options) or ``columns(**options)`` (the ``Column``\\ s it
      writes for those options) and ``known_columns()`` (every column it can write under any
      options: the report reads columns by name from metrics files);
    * ``backbones(**options)``: the pretrained weight files it loads (``srloss.weights.WEIGHT_FILES``
      keys), fetched by ``snakemake fetch_weights``;
    * ``__init__(device, **options)``: build it; raise ``MetricUnavailable`` with the reason when it
      cannot be computed here (missing weights, no dlib). A part that cannot be computed (one LPIPS
      trunk of two) goes into ``self.missing`` (column -> reason) instead, and its column is NaN;
    * ``batch(sr, hr, scale)``: column -> one value per image, for a batch of uint8-valued NCHW RGB
      pairs (the SR output already rounded), ``scale`` the border every metric crops (``each_image``).
    """

    name: ClassVar[str]  # the config name, set by METRICS.register
    summary: ClassVar[str] = ""
    title: ClassVar[str] = ""
    order: ClassVar[int]
    listed: ClassVar[bool] = True
    default: ClassVar[bool] = True
    column: ClassVar[Column | None] = None

    def __init__(self, device: torch.device | str = "cpu", **options: Any):
        self._set_options(options)  # each option an attribute of the same name
        self.missing: dict[str, str] = {}

    @classmethod
    def selected(cls, evaluation: Mapping) -> bool:
        """Whether an evaluation spec asks for this metric: a listed one when ``evaluation.metrics`` names it."""
        return cls.listed and cls.name in evaluation.get("metrics", ())

    @classmethod
    def configured(cls, evaluation: Mapping) -> dict[str, Any]:
        """Its options from ``evaluation.<name>``, checked, defaults filled in for keys left out."""
        return cls.check_options(**evaluation.get(cls.name, {})) if cls.options else {}

    @classmethod
    def columns(cls, **options: Any) -> tuple[Column, ...]:
        """The columns it writes with these options (checked options, as ``configured`` gives)."""
        return (cls.column,) if cls.column is not None else ()

    @classmethod
    def known_columns(cls) -> tuple[Column, ...]:
        """Every column it can write under any options."""
        return cls.columns(**cls.check_options())

    @classmethod
    def backbones(cls, **options: Any) -> tuple[str, ...]:
        """The pretrained networks it loads with these options (``srloss.weights.WEIGHT_FILES`` keys)."""
        return ()

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        """Column -> one value per image of a batch of uint8-valued NCHW RGB pairs (missing parts left out)."""
        raise NotImplementedError


def _check_metric(name: str, member: type) -> None:
    """What the evaluation and the report rely on: raise ``RegistryError`` naming what is missing."""
    where = f"metric {name!r} ({getattr(member, '__module__', '?')})"
    if not (isinstance(member, type) and issubclass(member, Metric)):
        raise RegistryError(f"{where}: a metric is a subclass of srloss.metrics.base.Metric")
    for attr in ("summary", "title"):
        if not isinstance(getattr(member, attr), str) or not getattr(member, attr).strip():
            raise RegistryError(f"{where}: declares no {attr} (a non-empty string)")
    if not isinstance(getattr(member, "order", None), int):
        raise RegistryError(f"{where}: declares no order (an integer: its place in tables and figures)")
    if member.default and not member.listed:
        raise RegistryError(f"{where}: default is for metrics listed in evaluation.metrics; it is not listed")
    if not isinstance(member.options, tuple) or not all(isinstance(o, Option) for o in member.options):
        raise RegistryError(f"{where}: options must be a tuple of srloss.options.Option")
    if member.batch is Metric.batch:
        raise RegistryError(f"{where}: does not define batch(sr, hr, scale)")
    try:
        known = member.known_columns()
        written = member.columns(**member.check_options())
    except ValueError as e:
        raise RegistryError(f"{where}: {e}") from None
    if not written or not all(isinstance(c, Column) for c in known):
        raise RegistryError(f"{where}: writes no column (declare column, or columns(**options) giving Column entries)")
    names = [c.name for c in known]
    if len(set(names)) != len(names):
        raise RegistryError(f"{where}: a column is declared twice: {', '.join(names)}")
    if not {c.name for c in written} <= set(names):
        raise RegistryError(f"{where}: known_columns() leaves out a column that columns() writes")


METRICS: Registry[type[Metric]] = Registry("metric", "srloss.metrics", check=_check_metric, order=lambda m: m.order)


def each_image(
    sr: torch.Tensor, hr: torch.Tensor, scale: int, measure: Callable[[torch.Tensor, torch.Tensor], float]
) -> list[float]:
    """``measure(sr_i, hr_i)`` for each pair of a batch, ``scale`` pixels cropped from each border
    first (as in EDSR/BasicSR)."""
    from srloss.ops import crop_border

    return [measure(crop_border(s, scale), crop_border(h, scale)) for s, h in zip(sr, hr)]


def check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    """Both images of a metric must have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


# --- what the evaluation and the report ask the registry ---------------------------------------


def selected_metrics(evaluation: Mapping) -> list[type[Metric]]:
    """The metrics an evaluation spec (or a study's ``evaluation`` config) asks for, in display
    order. A name in ``evaluation.metrics`` that is no listed metric is an error listing the valid ones."""
    for name in evaluation.get("metrics", ()):
        if not METRICS[name].listed:
            listed = ", ".join(n for n in METRICS if METRICS[n].listed)
            own = f"metric {name!r} is selected by its own section evaluation.{name}"
            raise UserError(f"{own}, not in evaluation.metrics; valid choices: {listed}")
    return [METRICS[name] for name in METRICS if METRICS[name].selected(evaluation)]


def default_metrics() -> list[str]:
    """The default ``evaluation.metrics``: every listed metric that is on by default, in display order."""
    return [name for name in METRICS if METRICS[name].listed and METRICS[name].default]


def default_sections() -> dict[str, dict[str, Any]]:
    """``evaluation.<name>`` of every metric with options, each option at its default."""
    return {name: METRICS[name].check_options() for name in METRICS if METRICS[name].options}


def metric_backbones(evaluation: Mapping) -> list[str]:
    """The pretrained networks the selected metrics load (``srloss.weights.WEIGHT_FILES`` keys)."""
    return sorted({b for m in selected_metrics(evaluation) for b in m.backbones(**m.configured(evaluation))})


def column_catalog() -> dict[str, tuple[type[Metric], Column]]:
    """Every column any metric can write -> (its metric, its description), in display order."""
    catalog: dict[str, tuple[type[Metric], Column]] = {}
    for name in METRICS:
        for column in METRICS[name].known_columns():
            if column.name in catalog:
                other = catalog[column.name][0].name
                raise RegistryError(f"metrics {other!r} and {name!r} both write the column {column.name!r}")
            catalog[column.name] = (METRICS[name], column)
    return catalog


def find_column(name: str) -> Column | None:
    """The description of a metric column, or None if no metric writes ``name``."""
    entry = column_catalog().get(name)
    return entry[1] if entry else None


def column_metric(name: str) -> type[Metric] | None:
    """The metric that writes column ``name``, or None."""
    entry = column_catalog().get(name)
    return entry[0] if entry else None


def shown_columns(names: Iterable[str]) -> list[str]:
    """The metric columns among ``names`` that tables and figures show (not hidden), in display order."""
    present = set(names)
    return [name for name, (_, column) in column_catalog().items() if name in present and not column.hidden]


def hidden_columns(names: Iterable[str]) -> list[str]:
    """The hidden (bookkeeping) metric columns among ``names``, in display order."""
    present = set(names)
    return [name for name, (_, column) in column_catalog().items() if name in present and column.hidden]


def with_role(names: Iterable[str], role: str) -> list[str]:
    """The columns among ``names`` that can stand on the ``role`` axis, in the order given."""
    return [name for name in names if (column := find_column(name)) is not None and column.role == role]


def role_titles(role: str) -> str:
    """The titles of the metrics with a ``role`` column ("LPIPS"), joined with "or"."""
    titles = dict.fromkeys(metric.title for metric, column in column_catalog().values() if column.role == role)
    return " or ".join(titles) or f"a {role} metric"


def columns_of(key: str) -> list[str]:
    """The columns a key of the ``missing`` notes stands for: every column of a metric that is
    missing as a whole (``ffr``), else the one column (``lpips_alex``)."""
    if key in METRICS:
        return [column.name for column in METRICS[key].known_columns()]
    return [key]


def note_name(key: str) -> str:
    """A key of the ``missing`` notes in words: its column's header, else the metric's title."""
    column = find_column(key)
    if column is not None:
        return column.header
    return METRICS[key].title if key in METRICS else key
