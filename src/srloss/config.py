"""The study config: semantic checks beyond the JSON schema, the grid of runs, and per-job specs.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks structure and types and fills
defaults; ``Study`` then checks what the schema cannot know: that every architecture, loss term,
option and image name exists, and that every model supports every scale of the study. Every
error names the config key and lists the valid choices.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from srloss.data.sources import SKIMAGE_NAMES
from srloss.losses import LOSS_TERMS
from srloss.models import MODELS

BASELINE_LOSS = "none"  # the loss wildcard of models that are not trained
SPLITS = ("train", "val", "test")


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


@dataclass(frozen=True)
class Run:
    """One cell of the grid: a (dataset, model, loss, scale, seed) combination."""

    dataset: str
    model: str
    loss: str
    scale: int
    seed: int

    @property
    def trained(self) -> bool:
        return self.loss != BASELINE_LOSS


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file (safe loader only)."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _option_names(cls: type, skip: tuple[str, ...]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [n for n in params if n not in ("self", *skip)]


def _check_options(key: str, options: dict, cls: type, skip: tuple[str, ...]) -> None:
    valid = _option_names(cls, skip)
    for opt in options:
        if opt not in valid:
            raise ConfigError(f"config key {key}.{opt}: unknown option for {cls.__name__}; valid options: {', '.join(valid) or '(none)'}")


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` naming the key of the first semantic error in ``config``."""
    scales = config["scales"]
    for name, ds in config["datasets"].items():
        key = f"datasets.{name}"
        if ds["source"] == "skimage":
            for split in SPLITS:
                for image in ds["splits"][split]:
                    if image not in SKIMAGE_NAMES:
                        raise ConfigError(f"config key {key}.splits.{split}: unknown skimage image {image!r}; valid choices: {', '.join(SKIMAGE_NAMES)}")
        seen: dict[str, str] = {}
        for split in SPLITS:
            for image in ds["splits"][split]:
                if image in seen and seen[image] != split:
                    raise ConfigError(f"config key {key}.splits: image {image!r} is in both {seen[image]!r} and {split!r}")
                seen[image] = split
        for field in ("patch_size", "stride"):
            bad = [s for s in scales if ds[field] % s]
            if bad:
                raise ConfigError(f"config key {key}.{field}: {ds[field]} is not a multiple of scale(s) {bad}; it must be divisible by every scale in `scales` {scales}")
    for name, model in config["models"].items():
        key = f"models.{name}"
        arch = model["arch"]
        if arch not in MODELS:
            raise ConfigError(f"config key {key}.arch: unknown architecture {arch!r}; valid choices: {', '.join(sorted(MODELS))}")
        cls = MODELS[arch]
        _check_options(f"{key}.options", model.get("options", {}), cls, ("scale",))
        unsupported = [s for s in scales if s not in cls.scales]
        if unsupported:
            raise ConfigError(f"config key scales: model {name!r} (arch {arch!r}) does not support scale(s) {unsupported}; supported scales: {list(cls.scales)}")
    for name, loss in config["losses"].items():
        key = f"losses.{name}"
        if name == BASELINE_LOSS:
            raise ConfigError(f"config key {key}: the loss name {BASELINE_LOSS!r} is reserved for untrained baselines; choose another name")
        for i, term in enumerate(loss["terms"]):
            tkey = f"{key}.terms[{i}]"
            if term["name"] not in LOSS_TERMS:
                raise ConfigError(f"config key {tkey}.name: unknown loss term {term['name']!r}; valid choices: {', '.join(sorted(LOSS_TERMS))}")
            options = {k: v for k, v in term.items() if k not in ("name", "weight", "label")}
            _check_options(tkey, options, LOSS_TERMS[term["name"]], ())
    for name in config.get("evaluation", {}).get("ffr", {}).get("datasets", []):
        if name not in config["datasets"]:
            raise ConfigError(f"config key evaluation.ffr.datasets: unknown dataset {name!r}; valid choices: {', '.join(config['datasets'])}")


class Study:
    """A validated config and the grid it describes."""

    def __init__(self, config: dict):
        check_config(config)
        self.config = config
        self.name: str = config["study"]
        self.models = dict(config["models"])
        if not any(not MODELS[m["arch"]].trainable for m in self.models.values()):
            self.models["bicubic"] = {"arch": "bicubic", "options": {}}  # the baseline is always in the table

    def is_trained(self, model: str) -> bool:
        return MODELS[self.models[model]["arch"]].trainable

    def runs(self) -> list[Run]:
        """Every evaluated cell: trained models × losses × scales × seeds, plus baselines × scales."""
        cfg = self.config
        out = []
        for dataset in cfg["datasets"]:
            for model in self.models:
                for scale in cfg["scales"]:
                    if self.is_trained(model):
                        out += [Run(dataset, model, loss, scale, seed) for loss in cfg["losses"] for seed in cfg["seeds"]]
                    else:
                        out.append(Run(dataset, model, BASELINE_LOSS, scale, 0))
        return out

    def dataset_spec(self, dataset: str) -> dict:
        return self.config["datasets"][dataset]

    def run_spec(self, run: Run) -> dict:
        """Everything that determines one run's result: what the train and evaluate jobs receive."""
        model = self.models[run.model]
        spec = {
            "study": self.name,
            "dataset": run.dataset,
            "model": run.model,
            "arch": model["arch"],
            "model_options": model.get("options", {}),
            "loss": run.loss,
            "scale": run.scale,
            "seed": run.seed,
        }
        if run.trained:
            spec["terms"] = self.config["losses"][run.loss]["terms"]
            spec["training"] = self.config["training"]
        return spec

    def evaluation_spec(self, dataset: str) -> dict:
        """The evaluate job's settings for one dataset (FFR on only for the datasets listed)."""
        from srloss.evaluate import DEFAULT_EVALUATION

        ev = self.config.get("evaluation", {})
        ffr = {**DEFAULT_EVALUATION["ffr"], **{k: v for k, v in ev.get("ffr", {}).items() if k != "datasets"}}
        ffr["enabled"] = dataset in ev.get("ffr", {}).get("datasets", [])
        return {
            "metrics": ev.get("metrics", DEFAULT_EVALUATION["metrics"]),
            "lpips": {**DEFAULT_EVALUATION["lpips"], **ev.get("lpips", {})},
            "ffr": ffr,
            "crops": {**DEFAULT_EVALUATION["crops"], **ev.get("crops", {})},
            "device": ev.get("device", DEFAULT_EVALUATION["device"]),
            "batch_size": ev.get("batch_size", DEFAULT_EVALUATION["batch_size"]),
        }

    def trained_views(self) -> list[tuple[str, str, int]]:
        """(dataset, model, scale) of every trained model: one results table and grid each."""
        return [(d, m, s) for d in self.config["datasets"] for m in self.models if self.is_trained(m) for s in self.config["scales"]]


def to_json(spec: dict) -> str:
    """Deterministic JSON (sorted keys), so Snakemake's params trigger sees real changes only."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
