"""Semantic checks of a study config: what the JSON schema cannot know.

Every architecture, loss term, option and image name exists; every model supports every scale
of the study; cross-key rules hold. Options are checked by the class that owns them
(``check_options``, declared with ``srloss.options``), the same check the class applies when it is
built inside a job. Every error names the config key and lists the valid choices.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping

from srloss import tuning
from srloss.data.settings import DegradationSettings
from srloss.data.sources import SOURCES, SPLITS, DatasetError, check_files, dataset_frames, patch_at
from srloss.errors import ConfigError, UserError
from srloss.evaluation.settings import EvaluationSection
from srloss.losses import LOSS_TERMS
from srloss.models import MODELS
from srloss.options import OptionError, Settings, UnknownOptionError
from srloss.registry import UnknownName
from srloss.study.loading import loss_training
from srloss.training.settings import EXECUTION_KEYS, TrainingSection

BASELINE_LOSS = "none"  # the loss wildcard of models that are not trained


def _checked_options(key: str, cls: type, options: dict) -> dict:
    """``cls.check_options(**options)``: every option checked by its class, as a ``ConfigError``
    naming the option's key (``key.option``), the value and what was expected."""
    try:
        return cls.check_options(**{str(k): v for k, v in options.items()})
    except OptionError as e:
        raise ConfigError(f"config key {key}.{e.option}: {e.detail}") from None


def _check_dataset(key: str, ds: dict, scales: list[int]) -> None:
    """Semantic checks of one dataset definition that need no files on disk: its source's own
    (``Source.check_spec``, ``Source.check_entry``), then those common to every source."""
    try:
        source = SOURCES[ds["source"]]
    except UnknownName as e:
        raise ConfigError(f"config key {key}.source: {e}") from None
    source.check_spec(key, ds)
    splits = ds.get("splits", {})
    if ("train" in splits) != ("val" in splits):
        given, absent = ("train", "val") if "train" in splits else ("val", "train")
        raise ConfigError(
            f"config key {key}.splits: {given} is given without {absent}; a dataset to train on needs train, val "
            "and test, a test set (see test_on) only test"
        )
    expanded: dict[str, list[str]] = {}
    for split in SPLITS:
        for i, entry in enumerate(splits.get(split, [])):
            try:
                expanded.setdefault(split, []).extend(source.check_entry(entry))
            except DatasetError as e:
                raise ConfigError(f"config key {key}.splits.{split}[{i}]: {e}") from e
    seen: dict[str, str] = {}
    for split in SPLITS:
        for image in expanded.get(split, []):
            if image in seen and seen[image] != split:
                raise ConfigError(f"config key {key}.splits: image {image!r} is in both {seen[image]!r} and {split!r}")
            seen[image] = split
    for field in ("patch_size", "stride") if not is_test_set(ds) else ():
        _check_patch_field(f"{key}.{field}", ds, field, scales)  # a test set cuts no patches


def _check_patch_field(key: str, ds: dict, field: str, scales: list[int]) -> None:
    """``patch_size``/``stride``: a multiple of every scale, or a mapping with one entry per scale."""
    value = ds[field]
    if isinstance(value, dict):
        keys = [int(k) if str(k).isdigit() else k for k in value]
        extra = [k for k in keys if k not in scales]
        if extra:
            raise ConfigError(f"config key {key}: entries for {extra}, which are not in `scales` {scales}")
        missing = [s for s in scales if s not in keys]
        if missing:
            raise ConfigError(f"config key {key}: no entry for scale(s) {missing}; give one for every scale {scales}")
        bad = [s for s in scales if patch_at(ds, field, s) % s]
    else:
        bad = [s for s in scales if value % s]
    if bad:
        raise ConfigError(
            f"config key {key}: {value} is not a multiple of scale(s) {bad}; at each scale it must be "
            "divisible by that scale"
        )


def _check_frames(key: str, arch: str, frames: int | None, datasets: dict) -> None:
    """A multi-frame model (``frames`` not None) needs datasets with as many frames per sample.

    Single-image models run on any dataset (on multi-frame data they use the reference frame).
    """
    if frames is None:
        return
    for ds_name, ds in datasets.items():
        ds_frames = dataset_frames(ds)
        if ds_frames != frames:
            have = f"{ds_frames}-frame samples" if ds_frames > 1 else "single images"
            raise ConfigError(
                f"config key {key}: arch {arch!r} takes {frames} frames per sample, but dataset "
                f"{ds_name!r} provides {have} (datasets.{ds_name}.degradation.frames); use a multi-frame "
                f"dataset with {frames} frames or set {key}.options.frames to match"
            )


def _check_model(name: str, model: dict, config: dict) -> None:
    """The architecture exists, its class accepts the options, and it supports every scale and dataset."""
    key, arch = f"models.{name}", model["arch"]
    if arch not in MODELS:
        raise ConfigError(
            f"config key {key}.arch: unknown architecture {arch!r}; valid choices: {', '.join(sorted(MODELS))}"
        )
    cls = MODELS[arch]
    options = _checked_options(f"{key}.options", cls, model.get("options", {}))
    unsupported = [s for s in config["scales"] if s not in cls.scales]
    if unsupported:
        raise ConfigError(
            f"config key scales: model {name!r} (arch {arch!r}) does not support scale(s) {unsupported}; "
            f"supported scales: {list(cls.scales)}"
        )
    _check_frames(key, arch, options.get("frames", cls.frames), config["datasets"])


def _check_term(tkey: str, term: dict, datasets: dict, scales: list[int]) -> None:
    """One loss term: a known name, options its class accepts, a usable weight, patches it fits."""
    from srloss.losses import term_options

    if term["name"] not in LOSS_TERMS:
        raise ConfigError(
            f"config key {tkey}.name: unknown loss term {term['name']!r}; valid choices: "
            f"{', '.join(sorted(LOSS_TERMS))}"
        )
    cls = LOSS_TERMS[term["name"]]
    options = _checked_options(tkey, cls, term_options(term))
    weight = term.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ConfigError(f"config key {tkey}.weight: expected a finite number, got {weight!r}")
    if weight < 0 and not cls.allows_negative_weight:
        raise ConfigError(
            f"config key {tkey}.weight: {weight} is negative; term {term['name']!r} needs a weight >= 0 "
            "(a negative weight would maximise it)"
        )
    for ds_name, ds in datasets.items():
        try:
            for scale in scales:
                cls.check_patch_size(options, patch_at(ds, "patch_size", scale))
        except OptionError as e:
            raise ConfigError(f"config key {tkey}.{e.option}: {e.detail} (datasets.{ds_name}.patch_size)") from None


def _check_loss(name: str, loss: dict, datasets: dict, scales: list[int]) -> None:
    """A loss: a free name, valid terms with unique labels, at most one adversarial term."""
    from srloss.losses import term_labels

    key = f"losses.{name}"
    if name == BASELINE_LOSS:
        raise ConfigError(
            f"config key {key}: the loss name {BASELINE_LOSS!r} is reserved for untrained baselines; "
            "choose another name"
        )
    for i, term in enumerate(loss["terms"]):
        _check_term(f"{key}.terms[{i}]", term, datasets, scales)
    labels = term_labels(loss["terms"])
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise ConfigError(
                f"config key {key}.terms[{i}].label: label {label!r} is already used by "
                f"terms[{labels.index(label)}]; labels name the logged columns and must be unique"
            )
    for setting in loss.get("training", {}):
        if setting in EXECUTION_KEYS:
            raise ConfigError(
                f"config key {key}.training.{setting}: an execution setting applies to the whole study; "
                "set it in `training`"
            )
    adversarial = [i for i, t in enumerate(loss["terms"]) if t["name"] == "adversarial"]
    if len(adversarial) > 1:
        raise ConfigError(
            f"config key {key}.terms: {len(adversarial)} adversarial terms (positions {adversarial}); "
            "a loss trains at most one discriminator"
        )


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` naming the key of the first semantic error in ``config``."""
    scales = config["scales"]
    for name, ds in config["datasets"].items():
        _check_settings(f"datasets.{name}.degradation", DegradationSettings, ds.get("degradation", {}))
        _check_dataset(f"datasets.{name}", ds, scales)
    _check_test_on(config["datasets"])
    for name, model in config["models"].items():
        _check_model(name, model, config)
    for name, loss in config["losses"].items():
        _check_loss(name, loss, config["datasets"], scales)
    _check_init_from(config["losses"])
    training = config.get("training", {})
    _check_settings("training", TrainingSection, training)
    for name, loss in config["losses"].items():
        if "training" in loss:
            _check_settings(f"losses.{name}.training", TrainingSection, loss_training(training, loss))
    _check_evaluation_settings(config.get("evaluation", {}))
    _check_budget_steps(config)
    _check_evaluation(config)


def is_test_set(ds: dict) -> bool:
    """A dataset with a test split only: nothing trains on it; other datasets' ``test_on`` name it."""
    return "splits" in ds and "train" not in ds["splits"]


def _check_test_on(datasets: dict) -> None:
    """``datasets.<name>.test_on`` names other datasets whose samples fit the same models (frames);
    a test set (test split only) is named by some dataset's ``test_on`` and names none itself."""
    for name, ds in datasets.items():
        key = f"config key datasets.{name}.test_on"
        for other in ds.get("test_on", []):
            if other not in datasets or other == name:
                valid = ", ".join(d for d in datasets if d != name) or "(no other dataset)"
                what = "its own test split is always evaluated" if other == name else "unknown dataset"
                raise ConfigError(f"{key}: {other!r}: {what}; valid choices: {valid}")
            if dataset_frames(datasets[other]) != dataset_frames(ds):
                raise ConfigError(
                    f"{key}: {other!r} has {dataset_frames(datasets[other])} frame(s) per sample and {name!r} has "
                    f"{dataset_frames(ds)}; a model trained on one cannot be tested on the other (degradation.frames)"
                )
        if is_test_set(ds):
            if ds.get("test_on"):
                raise ConfigError(f"{key}: {name!r} has a test split only, so nothing is trained on it to test")
            if not any(name in d.get("test_on", []) for d in datasets.values()):
                raise ConfigError(
                    f"config key datasets.{name}.splits: a test split only, but no dataset's test_on names {name!r}; "
                    f"add it to a training dataset's test_on, or give {name!r} train and val splits too"
                )
    if all(is_test_set(ds) for ds in datasets.values()):
        raise ConfigError("config key datasets: every dataset is a test set (test split only); nothing to train on")


def _check_evaluation_settings(evaluation: dict) -> None:
    """``evaluation`` by its declarations: the section's own keys (``EvaluationSection``), the
    metrics by the registry, each metric's section by the metric's options."""
    from srloss.metrics import METRICS

    sections = {k: v for k, v in evaluation.items() if k in METRICS}
    _check_settings("evaluation", EvaluationSection, {k: v for k, v in evaluation.items() if k not in sections})
    listed = [m for m in METRICS if METRICS[m].listed]
    for i, name in enumerate(evaluation.get("metrics") or []):
        if name not in listed:
            close = difflib.get_close_matches(str(name), listed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"config key evaluation.metrics[{i}]: unknown metric {name!r}{hint}; valid choices: {', '.join(listed)}"
            )
    for name, values in sections.items():
        _checked_options(f"evaluation.{name}", METRICS[name], values or {})


def _check_evaluation(config: dict) -> None:
    """``evaluation.ffr.datasets`` name datasets; ``evaluation.reference`` is ``baseline`` or a loss."""
    evaluation = config.get("evaluation", {})
    for name in evaluation.get("ffr", {}).get("datasets", []):
        if name not in config["datasets"]:
            raise ConfigError(
                f"config key evaluation.ffr.datasets: unknown dataset {name!r}; valid choices: "
                f"{', '.join(config['datasets'])}"
            )
    reference = evaluation.get("reference", "baseline")
    losses = tuning.loss_names(config["losses"])  # a tuned loss by its own name, not its grid points
    if reference != "baseline" and reference not in losses:
        raise ConfigError(
            f"config key evaluation.reference: {reference!r} is neither 'baseline' nor a loss of the study; "
            f"valid choices: baseline, {', '.join(losses)}"
        )
    _check_tuning(config)


def _check_tuning(config: dict) -> None:
    """A tuned loss selects by a column that the study's metrics write (``srloss.tuning``)."""
    from srloss.metrics import selected_metrics

    points = tuning.tuned_points(config["losses"]).values()
    if not points:
        return
    evaluation = config.get("evaluation", {})
    written = [c.name for m in selected_metrics(evaluation) for c in m.known_columns() if not c.hidden]
    for point in points:
        if point["select_by"] not in written:
            raise ConfigError(
                f"config key losses.{point['loss']}.{tuning.KEY}.select_by: {point['select_by']!r} is no column "
                f"that the study's metrics (evaluation.metrics) write; valid choices: {', '.join(written)}"
            )


def _check_init_from(losses: dict) -> None:
    """``losses.<name>.init_from.loss`` must name another loss, without cycles."""
    for name, loss in losses.items():
        seen = [name]
        current = loss
        while "init_from" in current:
            ref = current["init_from"]["loss"]
            key = f"losses.{seen[-1]}.init_from.loss"
            if ref not in losses:
                raise ConfigError(
                    f"config key {key}: unknown loss {ref!r}; valid choices: "
                    f"{', '.join(n for n in losses if n != seen[-1])}"
                )
            if ref in seen:
                raise ConfigError(
                    f"config key {key}: initialisation cycle {' -> '.join(seen + [ref])}; a loss cannot start "
                    "from itself"
                )
            seen.append(ref)
            current = losses[ref]


def run_length(training: Mapping) -> int | None:
    """A run's number of steps when the config fixes it (``steps``, or ``epochs`` x
    ``steps_per_epoch``); None when it depends on the number of training patches."""
    if training.get("epochs") is None:
        return training.get("steps")
    per_epoch = training.get("steps_per_epoch")
    return training["epochs"] * per_epoch if per_epoch else None


def _check_budget_steps(config: dict) -> None:
    """``evaluation.steps`` must lie within every loss's run length (the study's ``training`` with
    the loss's own overrides); a length set in epochs of the data is checked when training starts."""
    steps = config.get("evaluation", {}).get("steps", [])
    if not steps:
        return
    for name, loss in config["losses"].items():
        where = f"losses.{name}.training" if "training" in loss else "training"
        length = run_length(loss_training(config.get("training", {}), loss))
        if length is not None and max(steps) > length:
            raise ConfigError(
                f"config key evaluation.steps: step {max(steps)} is beyond the run length of loss {name!r} "
                f"({length} steps, {where}); expected steps between 1 and {length}"
            )


def _check_settings(key: str, section: type[Settings], values: dict) -> Settings:
    """A section (``training``, a loss's merged ``training``, ``evaluation``, a ``degradation``)
    checked by its declarations (``srloss.options.Settings``): types, bounds (NaN and infinity
    refused), choices, unknown keys and the rules between keys, as one ``ConfigError`` line."""
    try:
        return section.from_dict(values)
    except UnknownOptionError as e:  # named by the section holding it, as the schema check does
        parent = e.option.rpartition(".")[0]
        raise ConfigError(f"config key {key}{'.' + parent if parent else ''}: {e.detail}") from None
    except OptionError as e:
        raise ConfigError(f"config key {key}.{e.option}: {e.detail}") from None


def check_dataset_files(config: dict) -> None:
    """Checks of the datasets' files on disk, run at every parse (files change; this is not cached):
    a ``root`` must exist, and images must be large enough for their split where their sizes can
    be read from the file headers (``sources.check_files``)."""
    for name, ds in config["datasets"].items():
        key = f"config key datasets.{name}"
        try:
            check_files(ds, config["scales"])
        except DatasetError as e:
            raise ConfigError(f"{key}.{e.key}: {e}" if e.key else f"{key}: {e}") from e
        except UserError as e:  # an image whose header cannot be read
            raise ConfigError(f"{key}: {e}") from e


# A training step holds the batch's images many times over (activations, gradients, optimiser
# state); 20 is a low estimate for the registered models at the default sizes.
ACTIVATION_FACTOR = 20


def memory_warnings(config: dict, available: int) -> list[str]:
    """A warning for each (loss, dataset, scale) whose training batch alone (input and target
    images, float32) times ``ACTIVATION_FACTOR`` exceeds ``available`` bytes: an estimate, said so."""
    if not available:
        return []
    warnings = []
    training = config.get("training", {})
    study_batch = TrainingSection.from_dict(training).batch_size  # read once: every parse warns
    for loss_name, loss in config["losses"].items():
        own = "training" in loss  # a loss's own overrides may change its batch
        batch = TrainingSection.from_dict(loss_training(training, loss)).batch_size if own else study_batch
        for ds_name, ds in config["datasets"].items():
            if is_test_set(ds):
                continue
            for scale in config["scales"]:
                side = patch_at(ds, "patch_size", scale)
                frames = dataset_frames(ds)
                images = batch * 4 * 3 * (side * side + frames * (side // scale) ** 2)
                if images * ACTIVATION_FACTOR > available:
                    warnings.append(
                        f"losses.{loss_name}: a training batch of {batch} x {side} px patches of {ds_name} at x{scale} "
                        f"holds {images / 2**30:.2f} GiB of images alone, and a step needs many times that (estimate: "
                        f"{ACTIVATION_FACTOR}x, {images * ACTIVATION_FACTOR / 2**30:.1f} GiB) where this machine has "
                        f"{available / 2**30:.1f} GiB available; lower training.batch_size or patch_size"
                    )
    return warnings
