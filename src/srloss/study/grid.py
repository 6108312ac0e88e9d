"""The study's grid: its runs, their specs, and what each job's identity is made of."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from srloss import tuning
from srloss.data.sources import SPLITS
from srloss.evaluation.settings import EXECUTION_KEYS as EVALUATION_EXECUTION_KEYS
from srloss.losses import LOSS_TERMS
from srloss.machine import available_memory
from srloss.models import MODELS
from srloss.study import deviations
from srloss.study.checks import (
    BASELINE_LOSS,
    check_config,
    check_dataset_files,
    is_test_set,
    memory_warnings,
)
from srloss.study.loading import loss_training
from srloss.training.settings import EXECUTION_KEYS, result_settings
from srloss.weights import uses_random_backbone


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


def _facts(config: dict) -> dict:
    """What the parse needs from the registries: whether each architecture of the config (and
    ``bicubic``) is trained, the pretrained weight files each loss loads, and the module that
    defines each member the study uses (a job's code is its stage's and its members', ``job_code``)."""
    from srloss.data.sources import SOURCES
    from srloss.losses import required_backbones
    from srloss.metrics import selected_metrics

    archs = {m["arch"] for m in config["models"].values()} | {"bicubic"}
    terms = {t["name"] for loss in config["losses"].values() for t in loss["terms"]}
    sources = {ds["source"] for ds in config["datasets"].values()}
    return {
        "trainable": {arch: bool(MODELS[arch].trainable) for arch in sorted(archs)},
        "backbones": {name: required_backbones(loss["terms"]) for name, loss in config["losses"].items()},
        "modules": {
            "models": {arch: MODELS[arch].__module__ for arch in sorted(archs)},
            "terms": {term: LOSS_TERMS[term].__module__ for term in sorted(terms)},
            "metrics": sorted({m.__module__ for m in selected_metrics(config.get("evaluation", {}))}),
            "sources": {source: SOURCES[source].__module__ for source in sorted(sources)},
        },
    }


def _checked(config: dict, cache_dir: str | Path | None) -> dict:
    """Run ``check_config`` unless ``cache_dir`` records that this exact config passed it with the
    same srloss sources (``srloss.codehash`` of this module, the registries and what they import);
    return the config's ``_facts``, from the cache when it has them (no torch import then)."""
    from srloss.atomic import write_text
    from srloss.codehash import code_cache, stage_hash

    cache = None
    if cache_dir is not None:
        sources = code_cache(str(cache_dir))  # the code hashes of earlier parses (srloss.codehash.CodeCache)
        code = stage_hash(__name__, cache=sources)  # this module, the checks and the registries they load
        key = hashlib.sha256((to_json(config) + code).encode()).hexdigest()[:24]
        cache = Path(cache_dir) / f"checked-{key}.json"
        try:
            facts = json.loads(cache.read_text())
            if {"trainable", "backbones", "modules"} <= set(facts):
                return facts
        except (OSError, ValueError):
            pass
    check_config(config)
    facts = _facts(config)
    if cache is not None:  # a config that fails its checks leaves no file in cache_dir
        write_text(cache, json.dumps(facts))
        sources.save()
    return facts


class Study:
    """A validated config and the grid it describes."""

    def __init__(self, config: dict, cache_dir: str | Path | None = None):
        """``cache_dir``: remember that this config passed the checks with this code (and which
        architectures are trained), so that the next parse needs neither torch nor the checks."""
        facts = _checked(config, cache_dir)
        self._trainable: dict[str, bool] = facts["trainable"]
        self._backbones: dict[str, list[str]] = facts["backbones"]
        self._modules: dict = facts["modules"]
        check_dataset_files(config)
        self.config = config
        self._loss_specs: dict[str, dict] = {}  # loss_spec
        self.name: str = config["study"]
        self.models = dict(config["models"])
        if not any(not self._trainable[m["arch"]] for m in self.models.values()):
            self.models["bicubic"] = {"arch": "bicubic", "options": {}}  # the baseline is always in the table

    def is_trained(self, model: str) -> bool:
        return self._trainable[self.models[model]["arch"]]

    def warnings(self) -> list[str]:
        """What the checks cannot refuse but a user should know before running (estimates)."""
        return memory_warnings(self.config, available_memory()) + deviations.mismatches(self.config)

    def members(
        self, stage: str, *, dataset: str | None = None, model: str | None = None, loss: str | None = None
    ) -> tuple[str, ...]:
        """The registry members' modules a job uses (``srloss.codehash.job_code``): a train job its
        model's and its loss terms'; an evaluation its model's and the metrics'; a prepare job its
        dataset's source's."""
        modules = self._modules
        if stage == "prepare":
            return (modules["sources"][self.config["datasets"][dataset]["source"]],)
        found = {modules["models"][self.models[model]["arch"]]}
        if stage == "train":
            found |= {modules["terms"][t["name"]] for t in self.config["losses"][loss]["terms"]}
        else:
            found |= set(modules["metrics"])
        return tuple(sorted(found))

    def loss_backbones(self, loss: str) -> list[str]:
        """The pretrained weight files (``srloss.weights.WEIGHT_FILES`` names) loss ``loss`` loads."""
        return self._backbones.get(loss, [])

    def backbones(self) -> list[str]:
        """The pretrained weight files any loss of the study loads (sorted)."""
        return sorted({b for names in self._backbones.values() for b in names})

    def runs(self) -> list[Run]:
        """Every evaluated cell: trained models × losses × scales × seeds, plus baselines × scales."""
        cfg = self.config
        out = []
        for dataset in self.training_datasets():
            for model in self.models:
                for scale in cfg["scales"]:
                    if self.is_trained(model):
                        out += [
                            Run(dataset, model, loss, scale, seed) for loss in cfg["losses"] for seed in cfg["seeds"]
                        ]
                    else:
                        out.append(Run(dataset, model, BASELINE_LOSS, scale, 0))
        return out

    def training_datasets(self) -> list[str]:
        """The datasets models are trained on (all but the test sets, ``is_test_set``), in config order."""
        return [name for name, ds in self.config["datasets"].items() if not is_test_set(ds)]

    def test_sets(self, dataset: str) -> list[str]:
        """The test splits models trained on ``dataset`` are evaluated on: its own, then its ``test_on``."""
        return [dataset, *self.config["datasets"][dataset].get("test_on", [])]

    def shards(self) -> list[tuple[str, int, str]]:
        """(dataset, scale, split) of every shard the study reads: train, val and test of each
        training dataset, the test split of each test set, at every scale."""
        used = {d for d in self.training_datasets()} | {t for d in self.training_datasets() for t in self.test_sets(d)}
        return [
            (name, scale, split)
            for name, ds in self.config["datasets"].items()
            if name in used
            for scale in self.config["scales"]
            for split in (("test",) if is_test_set(ds) else SPLITS)
        ]

    def cross_evaluations(self) -> list[tuple[Run, str]]:
        """(run, test set) of every evaluation on another dataset's test split (``test_on``)."""
        return [(run, test_set) for run in self.runs() for test_set in self.test_sets(run.dataset)[1:]]

    def dataset_spec(self, dataset: str) -> dict:
        return self.config["datasets"][dataset]

    def run_spec(self, run: Run) -> dict:
        """Everything that determines one run's result: what the train and evaluate jobs receive.
        Its loss's part (``loss_spec``) is shared by the specs of that loss's runs: read it only."""
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
            spec.update(self.loss_spec(run.loss))
        return spec

    def loss_spec(self, name: str) -> dict:
        """The part of a trained run's spec that its loss decides, built once per loss (a workflow
        parse builds thousands of run specs from a few losses)."""
        if name not in self._loss_specs:
            loss = self.config["losses"][name]
            # random_backbone: True when a term uses a randomly initialised backbone: the result is
            # NOT the published loss.
            spec = {"terms": loss["terms"], "random_backbone": uses_random_backbone(loss["terms"])}
            # execution settings never rerun a job; the loss's own overrides rerun only its runs
            training = result_settings(loss_training(self.config["training"], loss))
            if not self.is_adversarial(name):
                training.pop("discriminator", None)  # so editing it reruns only the GAN runs
            spec["training"] = training
            if "init_from" in loss:
                spec["init_from"] = loss["init_from"]
            steps = self.config.get("evaluation", {}).get("steps", [])
            if steps:  # budget curves: the generator is saved at these steps (absent: specs as before)
                spec["save_steps"] = sorted(steps)
            self._loss_specs[name] = spec
        return self._loss_specs[name]

    def is_tuned(self, loss: str) -> bool:
        """Whether ``loss`` is a grid point of a tuned loss (``srloss.tuning``): its runs are
        also evaluated on the validation split, where the aggregate job selects among the points."""
        return tuning.TUNED in self.config["losses"].get(loss, {})

    def is_adversarial(self, loss: str) -> bool:
        return any(t["name"] == "adversarial" for t in self.config["losses"][loss]["terms"])

    def init_run(self, run: Run) -> Run | None:
        """The run whose trained generator ``run`` starts from (``losses.<loss>.init_from``), if any."""
        ref = self.config["losses"].get(run.loss, {}).get("init_from")
        return Run(run.dataset, run.model, ref["loss"], run.scale, run.seed) if ref else None

    def evaluation_spec(self, test_set: str) -> dict:
        """The evaluate job's settings for one test set, a dataset whose test split is measured
        (FFR on only for the datasets listed).

        Reads the schema-validated config, whose defaults the schema has filled in. ``device``
        and ``batch_size`` are left out: they change how the job runs, not its result, so they
        reach the job apart from its identity (the evaluate rule passes them as options).
        """
        ev = self.config["evaluation"]
        ffr = {k: v for k, v in ev["ffr"].items() if k != "datasets"}
        ffr["enabled"] = test_set in ev["ffr"]["datasets"]
        return {"metrics": ev["metrics"], "lpips": ev["lpips"], "ffr": ffr, "crops": ev["crops"], "test_set": test_set}

    def trained_views(self) -> list[tuple[str, str, int]]:
        """(dataset, model, scale) of every trained model: one results table and grid each."""
        return [
            (d, m, s)
            for d in self.training_datasets()
            for m in self.models
            if self.is_trained(m)
            for s in self.config["scales"]
        ]


# Settings that change how a job runs, not its result: kept out of every job's identity (params).
EXECUTION_ONLY = {
    "training": EXECUTION_KEYS,
    "evaluation": EVALUATION_EXECUTION_KEYS,
}


def result_config(config: dict) -> dict:
    """``config`` without the ``EXECUTION_ONLY`` settings and the ``deviations`` list (documentation):
    what the study's results depend on."""
    out = {k: v for k, v in config.items() if k != deviations.KEY}
    for section, keys in EXECUTION_ONLY.items():
        if section in out:
            out[section] = {k: v for k, v in out[section].items() if k not in keys}
    return out


def to_json(spec: dict) -> str:
    """Deterministic JSON (sorted keys), so Snakemake's params trigger sees real changes only."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))
