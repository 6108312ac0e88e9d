"""Per-loss tuning (``losses.<name>.tune``): each loss gets its own learning rate and term weights.

Training every loss with the same hyper-parameters is not a fair comparison: a loss that needs
another learning rate, or another weight for its perceptual term, loses for that reason alone.
A tuned loss declares a grid::

    losses:
      mse+vgg:
        terms: [{name: mse}, {name: vgg, weight: 0.1}]
        tune:
          lr: [1.0e-4, 3.0e-4]          # training.lr
          weights: {vgg: [0.01, 0.1, 1]}  # the weight of the term labelled vgg
          select_by: psnr_y             # a metric column, measured on the validation split

When the study is read (``expand``, after the schema, before the checks) the loss becomes one loss
per grid point, ``mse+vgg.lr=0.0001.vgg=0.01`` and so on, each an ordinary loss of the grid with
its ``training.lr`` and term weights set and a ``tuned`` entry naming its loss and grid values;
every point trains with every seed. Each point is evaluated on the validation split
(``evaluate_val``), and the aggregate job selects, per (dataset, model, scale), the point whose
mean over seeds of the validation metric is best (``srloss.report.selection``). Only the selected
point is ranked and tabled, under the loss's own name; the tables say which values were chosen.
The selection never reads the test split; the test metrics of the other points draw the
perception-distortion curve over a swept weight and nothing else.

Pure Python (no torch): the workflow's parse calls ``expand``.
"""

from __future__ import annotations

import copy

from srloss.errors import ConfigError

KEY = "tune"
TUNED = "tuned"  # a grid point's own entry: {"loss": <tuned loss>, "values": {...}, "select_by": <column>}
LR = "lr"


def _values(bound: dict) -> dict:
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "number", **bound}}


SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        LR: {**_values({"exclusiveMinimum": 0}), "description": "Learning rates to try (training.lr)."},
        "weights": {
            "type": "object",
            "propertyNames": {"$ref": "#/$defs/name"},
            "additionalProperties": _values({"minimum": 0}),
            "description": "Weights to try per term, by the term's label (its name unless it sets `label`).",
        },
        "select_by": {
            "type": "string",
            "default": "psnr_y",
            "description": (
                "The metric column (metrics.csv) that selects a grid point: its mean over seeds on the "
                "validation split, in the metric's direction."
            ),
        },
    },
    "description": (
        "Tune this loss: every combination of these values trains as its own run (with every seed); the one "
        "best on the validation split is tested and ranked under the loss's name (docs/evaluation.md, Tuning)."
    ),
}


def value_text(value: float) -> str:
    """A grid value as it appears in a point's name: ``0.0003``, ``1e-05``, ``2``."""
    return f"{value:g}"


def point_name(loss: str, values: dict[str, float]) -> str:
    """The name of one grid point: ``<loss>.lr=0.0003.vgg=0.1``."""
    return ".".join([loss, *(f"{key}={value_text(v)}" for key, v in values.items())])


def _term_label(term: dict) -> str:
    return term.get("label", term["name"])


def _grid(name: str, loss: dict) -> list[dict[str, float]]:
    """Every combination of the tuned values of loss ``name``, in the order given (lr first)."""
    tune = loss[KEY]
    axes: dict[str, list[float]] = {}
    if LR in tune:
        axes[LR] = list(tune[LR])
    labels = [_term_label(t) for t in loss["terms"]]
    for label, values in tune.get("weights", {}).items():
        key = f"config key losses.{name}.{KEY}.weights.{label}"
        if label not in labels:
            raise ConfigError(f"{key}: no term of the loss is labelled {label!r}; valid choices: {', '.join(labels)}")
        if labels.count(label) > 1:
            raise ConfigError(
                f"{key}: {labels.count(label)} terms are labelled {label!r}; give them distinct `label`s "
                "to tune their weights"
            )
        if label == LR:
            raise ConfigError(f"{key}: a term labelled {LR!r} cannot be tuned (the name of the learning rate)")
        axes[label] = list(values)
    if not axes:
        raise ConfigError(
            f"config key losses.{name}.{KEY}: nothing to tune; give `lr` and/or `weights` "
            "(e.g. tune: {lr: [1.0e-4, 3.0e-4]})"
        )
    points: list[dict[str, float]] = [{}]
    for axis, values in axes.items():
        points = [{**p, axis: v} for p in points for v in values]
    return points


def grid_point(loss: dict, values: dict[str, float], of: str) -> dict:
    """Loss ``of`` at one grid point: its learning rate and term weights set, ``tune`` replaced by
    the point's ``tuned`` entry."""
    point = copy.deepcopy({k: v for k, v in loss.items() if k != KEY})
    if LR in values:
        point["training"] = {**point.get("training", {}), LR: values[LR]}
    for term in point["terms"]:
        if _term_label(term) in values:
            term["weight"] = values[_term_label(term)]
    point[TUNED] = {"loss": of, "values": dict(values), "select_by": loss[KEY]["select_by"]}
    return point


def expand(config: dict) -> dict:
    """``config`` with each tuned loss replaced by its grid points (in place of the loss, in order).

    ``ConfigError`` for a weight of no term, an empty grid, a point whose name another loss
    already has, or an ``init_from`` naming a tuned loss (its settings are chosen after training).
    """
    losses = config["losses"]
    if not any(KEY in loss for loss in losses.values()):
        return config
    for name, loss in losses.items():
        ref = loss.get("init_from", {}).get("loss")
        if ref in losses and KEY in losses[ref]:
            raise ConfigError(
                f"config key losses.{name}.init_from.loss: {ref!r} is tuned (losses.{ref}.{KEY}): its settings "
                "are chosen after training, so no run can start from it; start from an untuned loss"
            )
    expanded: dict = {}
    for name, loss in losses.items():
        if KEY not in loss:
            expanded[name] = loss
            continue
        for values in _grid(name, loss):
            point = point_name(name, values)
            if point in losses or point in expanded:
                raise ConfigError(
                    f"config key losses.{name}.{KEY}: its grid point {point!r} has the name of another loss; "
                    "rename that loss"
                )
            expanded[point] = grid_point(loss, values, name)
    return {**config, "losses": expanded}


def tuned_points(losses: dict) -> dict[str, dict]:
    """Grid point name -> its ``tuned`` entry (loss, values, select_by), for the points of ``losses``."""
    return {name: loss[TUNED] for name, loss in losses.items() if TUNED in loss}


def loss_names(losses: dict) -> list[str]:
    """The losses the study compares: each tuned loss once (by its own name), the others as they are."""
    return list(dict.fromkeys(loss[TUNED]["loss"] if TUNED in loss else name for name, loss in losses.items()))
