"""The ``evaluation:`` section, declared once: what is measured and how results are compared.

``EvaluationConfig`` holds what determines the results (the metrics, crops, budget steps, which
weights, the statistics' alpha and reference, the report's figures); ``EvaluationExecution`` how an evaluation job runs
(device, batching, tiling), which never reruns a job. Each metric's own options (``lpips``,
``ffr``, ...) are a section named after the metric, declared by the metric itself
(``srloss.metrics``); ``evaluation_schema`` adds them, and the metrics list's choices and
default, from the metric registry.

Pure Python (no torch) at import: the metric registry is asked only when the schema is generated.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from srloss.options import Option, Settings, setting

STEP = Option("", 1, "", type=int, ge=1)


@dataclass(frozen=True)
class CropSettings(Settings):
    """``evaluation.crops``: fixed crops (the highest-detail window of the ground truth) for grids."""

    images: int = setting(3, "First N test images (by name).", ge=0)
    size: int = setting(96, "Side of the crop in HR pixels.", ge=8)


@dataclass(frozen=True)
class FigureSettings(Settings):
    """``evaluation.figures``: how the report's figures are written (srloss.report.figures)."""

    pdf: bool = setting(
        True,
        "Write every figure as PDF beside its PNG (vector, for papers). false: PNG only, which the HTML report "
        "shows; the PDFs cost about a fifth of the aggregate job (bench/README.md).",
    )
    losses: int = setting(
        12,
        "Most trained losses per panel of a figure (the best by the panel's metric; baselines always shown), "
        "so that a figure's size does not grow with the study; the figure says when losses are left out. "
        "Every loss is in the tables.",
        ge=1,
    )


@dataclass(frozen=True)
class EvaluationConfig(Settings):
    """What determines the evaluation's results."""

    metrics: tuple[str, ...] | None = setting(
        None,
        "Metrics per test image (docs/evaluation.md). A metric whose pretrained weights are not cached "
        "(lpips: $TORCH_HOME/hub/checkpoints) is reported missing with the reason.",
        unique=True,
    )
    crops: CropSettings = setting(CropSettings, "Fixed crops for visual comparison grids.")
    figures: FigureSettings = setting(FigureSettings, "The report's figures: formats, losses per panel.")
    steps: tuple[int, ...] = setting(
        (),
        "Budget curves: training steps at which each run's generator weights are saved and evaluated (each at "
        "most the run length); part of every run's identity, so changing it reruns training. Empty: only the "
        "final weights are evaluated.",
        item=STEP,
        unique=True,
    )
    weights: str = setting(
        "last",
        "Which weights the main evaluation and tables use: last (model.pt) or best (model_best.pt, best "
        "validation PSNR-Y).",
        choices=("last", "best"),
    )
    alpha: float = setting(0.05, "Significance level of the statistical tests (tables, verdict, budget).", gt=0, lt=1)
    reference: str = setting(
        "baseline",
        "What every loss is compared with, image by image: 'baseline' (bicubic) or a loss of the study.",
    )


@dataclass(frozen=True)
class EvaluationExecution(Settings):
    """How an evaluation job runs; changing these never changes (or reruns) a result."""

    device: str = setting(
        "auto",
        "auto (GPU if visible, else CPU), cpu, cuda, cuda:N. Execution only.",
        pattern=r"auto|cpu|cuda(?::[0-9]+)?",
        pattern_doc="auto (a GPU if one is visible, else the CPU), cpu, cuda or cuda:N (N = GPU index)",
    )
    batch_size: int = setting(8, "Test images of the same size evaluated together (model and LPIPS).", ge=1)
    tile: int = setting(
        0,
        "0: run the model on whole test images. N > 0: on LR tiles of N x N pixels with the model's full "
        "receptive radius as overlap, so any image fits a memory budget and the output equals whole-image "
        "inference (up to float rounding). Execution only.",
        ge=0,
    )
    max_batch_pixels: int = setting(
        0,
        "0: no limit. N > 0: same-size test images are batched only while batch x H x W (HR pixels) stays "
        "within N (one image is always allowed). Execution only.",
        ge=0,
    )


EXECUTION_KEYS = tuple(f.name for f in fields(EvaluationExecution))


@dataclass(frozen=True)
class EvaluationSection(EvaluationExecution, EvaluationConfig):
    """The whole ``evaluation:`` section but the metrics' own sections."""


def evaluation_schema() -> dict:
    """The section's JSON Schema: the declared keys, the metric list from the registry (choices and
    default) and one section per metric that has options (imports the metric registry: torch)."""
    from srloss.metrics import METRICS

    schema = EvaluationSection.json_schema()
    schema["description"] = "What is measured on the test images and how results are compared (docs/evaluation.md)."
    listed = [m for m in METRICS if METRICS[m].listed]
    metrics = schema["properties"]["metrics"]
    metrics["type"] = "array"
    metrics["items"] = {"enum": listed, "x-what": METRICS.kind}
    metrics["default"] = [m for m in listed if METRICS[m].default]
    for name in METRICS:
        options = METRICS[name].options
        if options:
            section = {o.name: o.json_schema() for o in options}
            schema["properties"][name] = {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "description": f"Options of the {name} metric: {METRICS[name].summary}",
                "properties": section,
            }
    return schema
