"""The study config: semantic checks beyond the JSON schema, the grid of runs, and per-job specs.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks structure and types and fills
defaults; ``Study`` then checks what the schema cannot know: that every architecture, loss term,
option and image name exists, and that every model supports every scale of the study. Every
error names the config key and lists the valid choices.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from srloss.data.sources import SKIMAGE_NAMES, BenchmarkSource, DatasetError, Div2kSource, dataset_frames
from srloss.schedules import REQUIRED as SCHEDULE_REQUIRED
from srloss.weights import uses_random_backbone


class _LazyRegistry(Mapping):
    """A registry imported on first use: the registries import torch (seconds), and the Snakefile
    parse, which builds a ``Study`` for every dry run and every cluster job, usually needs none."""

    def __init__(self, module: str, name: str):
        self.module, self._name = module, name

    def _registry(self) -> Mapping:
        return getattr(importlib.import_module(self.module), self._name)

    def __getitem__(self, key):
        return self._registry()[key]

    def __iter__(self):
        return iter(self._registry())

    def __len__(self) -> int:
        return len(self._registry())


LOSS_TERMS = _LazyRegistry("srloss.losses", "LOSS_TERMS")
MODELS = _LazyRegistry("srloss.models", "MODELS")
DISCRIMINATORS = _LazyRegistry("srloss.models", "DISCRIMINATORS")

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


# Which optional dataset keys each source accepts (the schema lists them all).
SOURCE_KEYS = {
    "skimage": set(),
    "div2k": {"root", "url"},
    "benchmark": {"root", "url"},
    "folder": {"root"},
    "mlfdb": {"root", "archive"},
}


def _check_dataset(key: str, ds: dict, scales: list[int]) -> None:
    """Semantic checks of one dataset definition that need no files on disk."""
    source = ds["source"]
    for opt in ("root", "archive", "url"):
        if opt in ds and opt not in SOURCE_KEYS[source]:
            valid = ", ".join(sorted(k for k, v in SOURCE_KEYS.items() if opt in v))
            raise ConfigError(f"config key {key}.{opt}: not used by source {source!r}; it applies to sources: {valid}")
    if source == "folder" and "root" not in ds:
        raise ConfigError(f"config key {key}.root: source 'folder' needs the folder holding the images")
    if source == "mlfdb":
        if ("root" in ds) == ("archive" in ds):
            raise ConfigError(
                f"config key {key}: source 'mlfdb' needs exactly one of `root` (the extracted database) or `archive` "
                "(a local .zip/.tar); MLFDB cannot be downloaded automatically, see doi:10.3390/app10207213"
            )
        deg = ds.get("degradation", {})
        synthetic = [k for k in ("blur_sigma", "noise_sigma", "jpeg_quality") if deg.get(k)]
        if synthetic:
            raise ConfigError(f"config key {key}.degradation: {', '.join(synthetic)} do not apply to mlfdb, whose LR frames are real; only `frames` does")
    elif "splits" not in ds:
        raise ConfigError(f"config key {key}.splits: required for source {source!r} (train, val and test image lists)")
    splits = ds.get("splits", {})
    expanded: dict[str, list[str]] = {}
    for split in SPLITS:
        for i, entry in enumerate(splits.get(split, [])):
            where = f"config key {key}.splits.{split}[{i}]"
            try:
                if source == "skimage" and entry not in SKIMAGE_NAMES:
                    raise ConfigError(f"config key {key}.splits.{split}: unknown skimage image {entry!r}; valid choices: {', '.join(SKIMAGE_NAMES)}")
                if source == "div2k":
                    expanded.setdefault(split, []).extend(Div2kSource.expand(entry))
                    continue
                if source == "benchmark":
                    BenchmarkSource.check_entry(entry)
            except DatasetError as e:
                raise ConfigError(f"{where}: {e}") from e
            expanded.setdefault(split, []).append(entry)
    seen: dict[str, str] = {}
    for split in SPLITS:
        for image in expanded.get(split, []):
            if image in seen and seen[image] != split:
                raise ConfigError(f"config key {key}.splits: image {image!r} is in both {seen[image]!r} and {split!r}")
            seen[image] = split
    for field in ("patch_size", "stride"):
        bad = [s for s in scales if ds[field] % s]
        if bad:
            raise ConfigError(f"config key {key}.{field}: {ds[field]} is not a multiple of scale(s) {bad}; it must be divisible by every scale in `scales` {scales}")


def _check_frames(key: str, arch: str, options: dict, datasets: dict) -> None:
    """A multi-frame model needs datasets with the same number of frames per sample.

    Single-image models run on any dataset (on multi-frame data they use the reference frame).
    """
    cls = MODELS[arch]
    if cls.frames is None:
        return
    frames = options.get("frames", cls.frames)
    for ds_name, ds in datasets.items():
        ds_frames = dataset_frames(ds)
        if ds_frames != frames:
            have = f"{ds_frames}-frame samples" if ds_frames > 1 else "single images"
            raise ConfigError(f"config key {key}: arch {arch!r} takes {frames} frames per sample, but dataset {ds_name!r} "
                              f"provides {have} (datasets.{ds_name}.degradation.frames); use a multi-frame dataset with {frames} frames "
                              f"or set {key}.options.frames to match")


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` naming the key of the first semantic error in ``config``."""
    scales = config["scales"]
    for name, ds in config["datasets"].items():
        _check_dataset(f"datasets.{name}", ds, scales)
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
        _check_frames(key, arch, model.get("options", {}), config["datasets"])
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
            check = getattr(LOSS_TERMS[term["name"]], "check_options", None)
            if check is not None:
                try:
                    check(**options)
                except ValueError as e:  # the message names the option and its valid choices
                    raise ConfigError(f"config key {tkey}: {e}") from e

            if term["name"] == "adversarial":
                _check_adversarial(tkey, term)
        adversarial = [i for i, t in enumerate(loss["terms"]) if t["name"] == "adversarial"]
        if len(adversarial) > 1:
            raise ConfigError(f"config key {key}.terms: {len(adversarial)} adversarial terms (positions {adversarial}); a loss trains at most one discriminator")
    _check_init_from(config["losses"])
    _check_training(config.get("training", {}))
    for name in config.get("evaluation", {}).get("ffr", {}).get("datasets", []):
        if name not in config["datasets"]:
            raise ConfigError(f"config key evaluation.ffr.datasets: unknown dataset {name!r}; valid choices: {', '.join(config['datasets'])}")


def _check_adversarial(key: str, term: dict) -> None:
    from srloss.losses.adversarial import KINDS as ADVERSARIAL_KINDS  # imports torch: only when needed

    kind = term.get("kind", "ragan")
    if kind not in ADVERSARIAL_KINDS:
        raise ConfigError(f"config key {key}.kind: unknown adversarial loss {kind!r}; valid choices: {', '.join(ADVERSARIAL_KINDS)}")
    disc = term.get("discriminator", "vgg")
    if disc not in DISCRIMINATORS:
        raise ConfigError(f"config key {key}.discriminator: unknown discriminator {disc!r}; valid choices: {', '.join(sorted(DISCRIMINATORS))}")
    options = term.get("discriminator_options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"config key {key}.discriminator_options: expected a mapping of options, got {options!r}")
    _check_options(f"{key}.discriminator_options", options, DISCRIMINATORS[disc], ())


def _check_init_from(losses: dict) -> None:
    """``losses.<name>.init_from.loss`` must name another loss, without cycles."""
    for name, loss in losses.items():
        seen = [name]
        current = loss
        while "init_from" in current:
            ref = current["init_from"]["loss"]
            key = f"losses.{seen[-1]}.init_from.loss"
            if ref not in losses:
                raise ConfigError(f"config key {key}: unknown loss {ref!r}; valid choices: {', '.join(n for n in losses if n != seen[-1])}")
            if ref in seen:
                raise ConfigError(f"config key {key}: initialisation cycle {' -> '.join(seen + [ref])}; a loss cannot start from itself")
            seen.append(ref)
            current = losses[ref]


def _check_training(training: dict) -> None:
    if training.get("steps_per_epoch") is not None and training.get("epochs") is None:
        raise ConfigError("config key training.steps_per_epoch: set training.epochs too (the run length is epochs x steps_per_epoch), or remove it and use training.steps")
    schedule = training.get("schedule", {})
    for field in SCHEDULE_REQUIRED.get(schedule.get("name", "none"), ()):
        if field not in schedule:
            raise ConfigError(f"config key training.schedule.{field}: required by schedule {schedule['name']!r}")


def _checked(config: dict, cache_dir: str | Path | None) -> dict[str, bool]:
    """Run ``check_config`` unless ``cache_dir`` records that this exact config passed it with the
    same srloss sources (``srloss.codehash`` of this module, the registries and what they import); return
    whether each architecture of the config (and ``bicubic``) is trained."""
    from srloss.atomic import write_text
    from srloss.codehash import stage_hash

    cache = None
    if cache_dir is not None:
        # the registries are imported lazily (by name), so their sources are hashed explicitly
        code = "".join(stage_hash(m) for m in (__name__, LOSS_TERMS.module, MODELS.module))
        key = hashlib.sha256((to_json(config) + code).encode()).hexdigest()[:24]
        cache = Path(cache_dir) / f"checked-{key}.json"
        try:
            return json.loads(cache.read_text())["trainable"]
        except (OSError, ValueError, KeyError):
            pass
    check_config(config)
    archs = {m["arch"] for m in config["models"].values()} | {"bicubic"}
    trainable = {arch: bool(MODELS[arch].trainable) for arch in sorted(archs)}
    if cache is not None:
        write_text(cache, json.dumps({"trainable": trainable}))
    return trainable


class Study:
    """A validated config and the grid it describes."""

    def __init__(self, config: dict, cache_dir: str | Path | None = None):
        """``cache_dir``: remember that this config passed the checks with this code (and which
        architectures are trained), so that the next parse needs neither torch nor the checks."""
        self._trainable = _checked(config, cache_dir)
        self.config = config
        self.name: str = config["study"]
        self.models = dict(config["models"])
        if not any(not self._trainable[m["arch"]] for m in self.models.values()):
            self.models["bicubic"] = {"arch": "bicubic", "options": {}}  # the baseline is always in the table

    def is_trained(self, model: str) -> bool:
        return self._trainable[self.models[model]["arch"]]

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
            loss = self.config["losses"][run.loss]
            spec["terms"] = loss["terms"]
            # True when a term uses a randomly initialised backbone: the result is NOT the published loss.
            spec["random_backbone"] = uses_random_backbone(spec["terms"])
            training = dict(self.config["training"])
            if not self.is_adversarial(run.loss):
                training.pop("discriminator", None)  # so editing it reruns only the GAN runs
            spec["training"] = training
            if "init_from" in loss:
                spec["init_from"] = loss["init_from"]
        return spec

    def is_adversarial(self, loss: str) -> bool:
        return any(t["name"] == "adversarial" for t in self.config["losses"][loss]["terms"])

    def init_run(self, run: Run) -> Run | None:
        """The run whose trained generator ``run`` starts from (``losses.<loss>.init_from``), if any."""
        ref = self.config["losses"].get(run.loss, {}).get("init_from")
        return Run(run.dataset, run.model, ref["loss"], run.scale, run.seed) if ref else None

    def evaluation_spec(self, dataset: str) -> dict:
        """The evaluate job's settings for one dataset (FFR on only for the datasets listed).

        Reads the schema-validated config, whose defaults the schema has filled in.
        """
        ev = self.config["evaluation"]
        ffr = {k: v for k, v in ev["ffr"].items() if k != "datasets"}
        ffr["enabled"] = dataset in ev["ffr"]["datasets"]
        return {"metrics": ev["metrics"], "lpips": ev["lpips"], "ffr": ffr, "crops": ev["crops"],
                "device": ev["device"], "batch_size": ev["batch_size"]}

    def trained_views(self) -> list[tuple[str, str, int]]:
        """(dataset, model, scale) of every trained model: one results table and grid each."""
        return [(d, m, s) for d in self.config["datasets"] for m in self.models if self.is_trained(m) for s in self.config["scales"]]


def to_json(spec: dict) -> str:
    """Deterministic JSON (sorted keys), so Snakemake's params trigger sees real changes only."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
