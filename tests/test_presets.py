"""The presets in config/experiments/: each sets the choices of the study it reproduces, lists
where it departs from it (``deviations:``, checked against the config and against a checklist of
the paper's key settings here), and resolves with the real snakemake CLI (dry run).

A preset names dataset sources, architectures, loss terms and discriminators that other parts
of the project provide; a name no registry defines fails the dry-run test (never a skip), with
the missing names in the message.
"""

import copy
from pathlib import Path

import pytest
import torch
import yaml
from workflow_runner import run_snakemake

from srloss.data.sources import SOURCES
from srloss.losses import LOSS_TERMS
from srloss.losses.composite import build_loss
from srloss.models import DISCRIMINATORS, MODELS
from srloss.study import ConfigError, Study, check_schema
from srloss.study.deviations import mismatches, plain, resolve

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "config/experiments").glob("*.yaml"))
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "config/experiments" / f"{name}.yaml").read_text())


def terms_named(loss: dict, name: str) -> list[dict]:
    return [t for t in loss["terms"] if t["name"] == name]


def _schema_sources() -> set[str]:
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    source = schema["properties"]["datasets"]["additionalProperties"]["properties"]["source"]
    return set(source.get("enum", []))


def missing_names(preset: dict) -> list[str]:
    """The dataset sources, architectures, loss terms and discriminators the preset needs that are not registered."""
    sources = set(SOURCES) | set(SOURCES.aliases()) | _schema_sources()
    missing = [f"dataset source {d['source']!r}" for d in preset["datasets"].values() if d["source"] not in sources]
    missing += [f"architecture {m['arch']!r}" for m in preset["models"].values() if m["arch"] not in MODELS]
    for loss in preset["losses"].values():
        for term in loss["terms"]:
            if term["name"] not in LOSS_TERMS:
                missing.append(f"loss term {term['name']!r}")
            elif term["name"] == "adversarial" and term.get("discriminator", "vgg") not in DISCRIMINATORS:
                missing.append(f"discriminator {term['discriminator']!r}")
    return sorted(set(missing))


def check_registered(preset: dict, name: str) -> None:
    """Fail (AssertionError naming them) when the preset needs names no registry defines."""
    missing = missing_names(preset)
    assert not missing, f"{name} names {', '.join(missing)}, which the registries do not define"


def test_the_presets():
    assert [p.stem for p in PRESETS] == [
        "downsampled-x4",
        "esrgan-ablation",
        "faces-x8",
        "srcnn-div2k",
        "survey-x4",
        "zhao2017-cpu",
        "zhao2017",
    ]


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_preset_passes_the_config_checks_and_lists_its_deviations(preset, tmp_path, monkeypatch):
    text = preset.read_text()
    header = text.split("\nstudy:")[0]
    assert all(line.startswith("#") for line in header.strip().splitlines())
    assert "deviation" in header.lower() or "our choices" in header.lower()  # what differs from the study, and why
    config = yaml.safe_load(text)
    check_registered(config, preset.name)
    check_schema(config)  # fills the defaults
    monkeypatch.chdir(tmp_path)  # data the user supplies (MLFDB) exists on their machine
    for ds in config["datasets"].values():
        if ds.get("root"):
            (tmp_path / ds["root"]).mkdir(parents=True)
    Study(config)  # every term, option, patch size and model is accepted by the class that owns it


def test_a_name_no_registry_defines_fails_the_preset_tests():
    config = copy.deepcopy(load("zhao2017"))
    check_registered(config, "zhao2017")
    config["losses"]["mix"]["terms"][1]["name"] = "gaussian_l3"
    config["models"]["srcnn"]["arch"] = "srcnn9000"
    with pytest.raises(AssertionError, match="names architecture 'srcnn9000', loss term 'gaussian_l3'"):
        check_registered(config, "zhao2017")


class _NotStated:
    def __repr__(self) -> str:
        return "not stated"


NOT_STATED = _NotStated()  # the paper gives no value (or none srloss has): whatever the preset uses is declared

# Per preset, the key settings (dotted paths, globs allowed) and the paper's value for each: a preset
# whose value differs, or any value where the paper has none, must declare it in `deviations`. Budgets,
# optimisers, backbone layers and weights (their preprocessing), SSIM's conventions (evaluation.metrics
# names the metric convention; the loss terms' window and levels), patches, test sets and scales.
CHECKLIST: dict[str, dict[str, object]] = {
    "esrgan-ablation": {  # ESRGAN (Wang et al. 2018); the WGAN arm: Arjovsky et al. 2017
        "scales": [4],
        "datasets.div2k.patch_size": {4: 128},
        "datasets.div2k.test_on": NOT_STATED,  # the PIRM self-validation set is not available
        "training.steps": NOT_STATED,  # milestones, no total (the code: 400k)
        "training.batch_size": 16,
        "training.lr": 1.0e-4,
        "training.schedule.milestones": [50000, 100000, 200000, 300000],
        "training.betas": [0.9, 0.999],
        "training.discriminator.betas": [0.9, 0.999],
        "training.discriminator.steps_per_g": 1,
        "losses.psnr.training.lr": 2.0e-4,
        "losses.ragan-*.terms.1.weight": NOT_STATED,  # 5e-3 on the sum of two parts; srloss's on their mean
        "losses.*-vgg*.terms.0.layers": {"conv5_4": 1.0},
        "losses.*-vgg*.terms.0.backbone_weights": "imagenet",  # the authors' code: torchvision's, ImageNet-normalised
        "losses.*-*.terms.0.criterion": NOT_STATED,
        "losses.*-resnet*.terms.0.arch": NOT_STATED,
        "losses.*-resnet*.terms.0.stages": NOT_STATED,
        "losses.*-tv.terms.3.weight": NOT_STATED,
        "losses.wgan-*.terms.1.clip": 0.01,
        "losses.wgan-*.terms.1.steps_per_g": 5,
        "losses.wgan-*.terms.1.weight": NOT_STATED,
        "losses.wgan-*.training.discriminator.lr": 5.0e-5,
        "losses.wgan-*.training.discriminator.betas": NOT_STATED,  # RMSProp
        "evaluation.metrics": NOT_STATED,  # PSNR and the perceptual index; the ablation's SSIM conventions
    },
    "srcnn-div2k": {
        "training.steps": NOT_STATED,  # 1,500 epochs (MSE) vs at most 40 (MSE + VGG)
        "training.batch_size": 2,
        "training.lr": 1.0e-3,
        "training.betas": NOT_STATED,
        "losses.mse+vgg19.terms.0.weight": 0.1,
        "losses.mse+vgg19.terms.1.weight": 0.9,
        "losses.mse+vgg19.terms.1.layers": {"relu2_2": 1.0},
        "losses.mse+vgg19.terms.1.backbone_weights": NOT_STATED,  # Keras' Caffe VGG19 and its preprocessing
        "datasets.div2k.patch_size": NOT_STATED,
        "datasets.div2k.test_on": [],  # the study reports on no SR benchmark
    },
    "zhao2017": {
        "models.srcnn.arch": NOT_STATED,
        "scales": NOT_STATED,
        "datasets.div2k.patch_size": NOT_STATED,
        "losses.ssim.terms.0.sigma": 5.0,
        "losses.ssim.terms.0.window": NOT_STATED,  # the whole patch
        "losses.m*.terms.0.levels": NOT_STATED,  # five full-resolution Gaussians, not dyadic scales
        "losses.mix.terms.0.weight": 0.84,
        "losses.mix.terms.1.weight": 0.16,
        "losses.mix.terms.1.sigma": 8.0,
        "losses.mix.terms.1.window": NOT_STATED,
        "training.precision": "fp32",
        "training.steps": NOT_STATED,
        "training.batch_size": NOT_STATED,
        "training.lr": NOT_STATED,
        "training.betas": NOT_STATED,
        "evaluation.metrics": NOT_STATED,
    },
    "zhao2017-cpu": {  # the convergence claim of zhao2017, small enough for a CPU
        "models.srcnn.arch": NOT_STATED,
        "models.srcnn.options.residual": NOT_STATED,
        "datasets.photos.source": NOT_STATED,
        "datasets.photos.patch_size": NOT_STATED,
        "scales": NOT_STATED,
        "training.precision": "fp32",
        "training.steps": NOT_STATED,
        "training.batch_size": NOT_STATED,
        "training.lr": NOT_STATED,
        "training.betas": NOT_STATED,
        "evaluation.metrics": NOT_STATED,
    },
    "faces-x8": {  # Rajnoha, Mezina & Burget 2020
        "models.unet_geu.arch": NOT_STATED,  # a reconstruction
        "scales": [8],
        "datasets.mlfdb.patch_size": 256,
        "losses.charbonnier.terms.0.eps": 1.0e-3,
        "losses.vgg19.terms.0.layers": NOT_STATED,
        "losses.vgg19.terms.0.backbone_weights": NOT_STATED,
        "losses.lpips.terms.0.net": NOT_STATED,
        "training.steps": NOT_STATED,
        "training.batch_size": NOT_STATED,
        "training.lr": NOT_STATED,
        "training.betas": NOT_STATED,
        "evaluation.ffr.threshold": NOT_STATED,
        "evaluation.metrics": NOT_STATED,
    },
    "downsampled-x4": {  # our sources state the losses and models, not the training
        "datasets.div2k.patch_size": NOT_STATED,
        "datasets.div2k.test_on": NOT_STATED,
        "losses.downsampled+adversarial.terms.1.weight": NOT_STATED,
        "training.steps": NOT_STATED,
        "training.batch_size": NOT_STATED,
        "training.lr": NOT_STATED,
        "training.betas": NOT_STATED,
    },
    "survey-x4": {  # Wang, Chen & Hoi's survey defines each loss class, not an experiment
        "losses.tv.terms.1.form": "beta",  # its isotropic TV: mean sqrt(dx^2 + dy^2)
        "losses.tv.terms.1.beta": 1.0,
        "losses.tv.terms.1.weight": NOT_STATED,
        "losses.content.terms.0.layers": NOT_STATED,
        "losses.texture.terms.0.layers": NOT_STATED,
        "losses.adversarial.terms.0.kind": NOT_STATED,
        "datasets.div2k.patch_size": NOT_STATED,
        "datasets.div2k.test_on": NOT_STATED,
        "training.steps": NOT_STATED,
        "training.batch_size": NOT_STATED,
        "training.lr": NOT_STATED,
        "training.betas": NOT_STATED,
    },
}
MIN_SEEDS = 3  # fewer replicates of a claimed difference between losses must be declared


def loaded(name: str) -> dict:
    """A preset as the workflow reads it: the schema's defaults filled in."""
    config = load(name)
    check_schema(config)
    return config


def undeclared(config: dict, checklist: dict[str, object]) -> list[str]:
    """The checklist's settings whose value differs from the paper's with no `deviations` entry covering
    them, a checklist setting the preset leaves to a default, and fewer than MIN_SEEDS seeds undeclared."""
    declared = {path for entry in config["deviations"] for path in resolve(config, entry["setting"])}
    problems = []
    for setting, paper in checklist.items():
        values = resolve(config, setting)
        parent = setting.rpartition(".")[0]
        owners = resolve(config, parent) if parent else {"": config}
        stated = {path.rpartition(".")[0] for path in values}
        problems += [f"{p or setting}: {setting} is not stated; state it explicitly" for p in owners if p not in stated]
        if not owners:
            problems.append(f"{setting}: matches nothing in the preset")
        for path, value in values.items():
            if (paper is NOT_STATED or plain(value) != plain(paper)) and path not in declared:
                problems.append(f"{path} is {value!r} (paper: {paper!r}) and no deviation declares it")
    if len(config["seeds"]) < MIN_SEEDS and "seeds" not in declared:
        problems.append(f"seeds: {len(config['seeds'])} seed(s) for a claimed difference, and no deviation declares it")
    return problems


def test_every_preset_has_a_checklist():
    assert sorted(CHECKLIST) == sorted(p.stem for p in PRESETS)


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_each_deviation_names_a_setting_of_the_preset_with_its_value(preset):
    config = loaded(preset.stem)
    assert config["deviations"], "a preset lists where it departs from its paper"
    assert mismatches(config) == []
    for entry in config["deviations"]:
        assert entry["reason"].strip() and str(entry["paper"]).strip(), entry


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_key_settings_that_differ_from_the_paper_are_declared(preset):
    assert undeclared(loaded(preset.stem), CHECKLIST[preset.stem]) == []


def test_an_undeclared_change_of_a_key_setting_fails_the_checklist():
    config = loaded("esrgan-ablation")
    config["training"]["betas"] = [0.0, 0.9]  # not ESRGAN's, and no entry says so
    config["losses"]["ragan-vgg"]["terms"][0]["layers"] = {"relu5_4": 1.0}
    config["seeds"] = [0]
    config["deviations"] = [e for e in config["deviations"] if e["setting"] != "seeds"]
    problems = undeclared(config, CHECKLIST["esrgan-ablation"])
    assert [p.split(" ")[0] for p in problems] == ["training.betas", "losses.ragan-vgg.terms.0.layers", "seeds:"]
    del config["losses"]["ragan-vgg"]["terms"][0]["backbone_weights"]  # a checklist setting left to the default
    assert (
        "losses.ragan-vgg.terms.0: losses.*-vgg*.terms.0.backbone_weights is not stated; state it explicitly"
    ) in undeclared(config, CHECKLIST["esrgan-ablation"])


def test_a_deviation_that_no_longer_describes_the_config_is_a_warning_naming_it():
    config = loaded("srcnn-div2k")
    config["training"]["steps"] = 500  # e.g. `--config training={steps: 500}` for a quick try
    config["deviations"].append({"setting": "training.beta", "paper": 1, "here": 1, "reason": "a typo"})
    assert mismatches(config) == [
        "deviations[0] (training.steps): training.steps is 500 but the entry says here: 100000; the deviation "
        "list no longer describes this study (update `here`, or drop the override)",
        "deviations[7] (training.beta): the config has no such setting; correct the path or remove the entry",
    ]
    assert Study(config).warnings()[-2:] == mismatches(config)  # what `srloss check` and the workflow print


def test_a_glob_setting_covers_every_matching_key_and_each_must_equal_here():
    config = loaded("esrgan-ablation")
    assert set(resolve(config, "losses.wgan-*.training.discriminator.betas")) == {
        f"losses.wgan-{c}{t}.training.discriminator.betas" for c in ("resnet", "vgg") for t in ("", "-tv")
    }
    config["losses"]["wgan-vgg-tv"]["training"] = {"discriminator": {"lr": 5.0e-5, "betas": [0.5, 0.9]}}
    assert [m.split(": ")[1].split(" is ")[0] for m in mismatches(config)] == [
        "losses.wgan-vgg-tv.training.discriminator.betas"
    ]


def test_a_deviation_entry_without_a_reason_is_a_config_error():
    config = load("srcnn-div2k")
    del config["deviations"][0]["reason"]
    with pytest.raises(ConfigError, match=r"config key deviations\[0\]: 'reason' is a required property"):
        check_schema(config)


@pytest.mark.parametrize(
    "name, patch",
    [
        ("faces-x8", 256),  # whole 256x256 faces (32x32 LR frames)
        ("esrgan-ablation", {2: 64, 3: 96, 4: 128}),  # 32 LR px at every scale, as the study
        ("downsampled-x4", 128),  # ESRGAN's 128 HR px = 32 LR px
        ("survey-x4", 96),  # SRGAN's 96 HR px for SRResNet
        ("srcnn-div2k", 32),  # SRCNN's 33 px sub-images, a multiple of 2 and 4
        ("zhao2017", 192),  # holds the 176 px that 5-scale MS-SSIM needs
    ],
)
def test_patch_sizes_follow_the_studies(name, patch):
    (ds,) = [d for d in load(name)["datasets"].values() if "train" in d.get("splits", {"train": []})]
    assert ds["patch_size"] == patch and ds["stride"] == patch


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("esrgan-ablation", ["Set5", "Set14", "B100", "Urban100"]),  # ESRGAN's benchmarks in EDSR's archive
        ("survey-x4", ["Set5", "Set14", "B100", "Urban100"]),
        ("downsampled-x4", ["Set5", "Set14", "B100", "Urban100"]),
        ("srcnn-div2k", ["Set5", "Set14"]),  # SRCNN's (its BSD200 is not in the archive)
    ],
)
def test_div2k_presets_test_on_the_sr_benchmarks(name, sets):
    datasets = load(name)["datasets"]
    tested = [datasets[t] for t in datasets["div2k"]["test_on"]]
    assert [t["splits"] for t in tested] == [{"test": [s]} for s in sets]
    assert {t["source"] for t in tested} == {"benchmark"}
    config = load(name)
    check_schema(config)
    assert Study(config).test_sets("div2k") == ["div2k", *datasets["div2k"]["test_on"]]


def test_faces_x8_trains_on_whole_faces_and_counts_failed_recognitions():
    config = load("faces-x8")
    (ds_name, ds), scale = next(iter(config["datasets"].items())), config["scales"]
    assert ds["source"] == "mlfdb" and scale == [8] and ds["patch_size"] // 8 == 32  # 32 -> 256, one face a sample
    assert config["evaluation"]["ffr"]["datasets"] == [ds_name]  # FFR, the study's headline metric, is on
    assert {"psnr_y", "ssim_y", "mse", "sharpness_diff"} <= set(config["evaluation"]["metrics"])
    losses = config["losses"]
    assert [t["name"] for loss in losses.values() for t in loss["terms"]] == ["mse", "charbonnier", "vgg", "lpips"]
    assert losses["charbonnier"]["terms"][0]["eps"] == 1.0e-3


def test_esrgan_ablation_crosses_ragan_and_clipped_wgan_tv_and_content_network():
    config = load("esrgan-ablation")
    losses = config["losses"]
    gan = {name: loss for name, loss in losses.items() if name != "psnr"}
    assert sorted(gan) == sorted(
        f"{g}-{c}{t}" for g in ("ragan", "wgan") for c in ("vgg", "resnet") for t in ("", "-tv")
    )
    assert config["training"]["discriminator"]["steps_per_g"] == 1  # RaGAN: one D step per G step (ESRGAN)
    for name, loss in gan.items():
        assert loss["init_from"] == {"loss": "psnr"}
        (adv,) = terms_named(loss, "adversarial")
        if name.startswith("wgan"):  # plain WGAN: clipping at 0.01 and 5 critic steps (Arjovsky et al.)
            assert adv["kind"] == "wgan" and adv["clip"] == 0.01 and adv["steps_per_g"] == 5
        else:
            assert adv["kind"] == "ragan" and "steps_per_g" not in adv and "clip" not in adv
        assert adv["weight"] == 5.0e-3 and terms_named(loss, "l1")[0]["weight"] == 1.0e-2
        (content,) = terms_named(loss, "vgg") + terms_named(loss, "resnet")
        assert content["criterion"] == "l1"  # ESRGAN compares VGG features with L1
        if content["name"] == "vgg":
            assert content["layers"] == {"conv5_4": 1.0}
        tv = terms_named(loss, "tv")
        assert bool(tv) == name.endswith("-tv")
        if tv:
            assert tv[0]["form"] == "l2" and tv[0]["weight"] == 0.1
    assert config["training"]["betas"] == [0.9, 0.999]  # ESRGAN's Adam, the generator's in every loss
    for name, loss in gan.items():  # RMSProp-like Adam (beta1 = 0) for the clipped critic only
        critic = {"discriminator": {"lr": 5.0e-5, "betas": [0.0, 0.99]}} if name.startswith("wgan") else None
        assert loss.get("training") == critic
    check_schema(config)
    study = Study(config)
    specs = [study.run_spec(run)["training"] for run in study.runs() if run.loss in gan]
    for key in ("lr", "betas", "schedule"):  # no optimiser confound: every GAN loss trains its generator alike
        assert len({str(spec[key]) for spec in specs}) == 1, key
    built = build_loss(gan["wgan-vgg"]["terms"][1:2]).terms[0]  # the term's class takes the options
    assert built.critic_steps(1) == 5 and built.weight_clip(0.5) == 0.01


def _photo_patches(scale: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """96 px patches of five skimage photographs: (bicubic round trip [+ noise], ground truth), in [0, 1]."""
    from skimage import data

    from srloss.ops import imresize

    srs, hrs = [], []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
        img = torch.from_numpy(getattr(data, name)().transpose(2, 0, 1).copy())
        img = img[:, : img.shape[1] // 96 * 96, : img.shape[2] // 96 * 96]
        sr = imresize(imresize(img, 1 / scale), scale).float().div(255)
        for t, out in ((sr, srs), (img.float().div(255), hrs)):
            out.append(t.unfold(1, 96, 96).unfold(2, 96, 96).permute(1, 2, 0, 3, 4).reshape(-1, 3, 96, 96))
    sr, hr = torch.cat(srs), torch.cat(hrs)
    sr = sr + noise * torch.randn(sr.shape, generator=torch.Generator().manual_seed(0))
    return sr.clamp(0, 1), hr


def _gradient_ratio(tv: dict, anchor_weight: float, sr: torch.Tensor, hr: torch.Tensor) -> float:
    """||grad of the weighted TV term|| / ||grad of the weighted L1 anchor||, with respect to SR."""
    norms = []
    for term in (tv, {"name": "l1", "weight": anchor_weight}):
        x = sr.clone().requires_grad_(True)
        build_loss([term])(x, hr)[0].backward()
        norms.append(float(x.grad.norm()))
    return norms[0] / norms[1]


@pytest.mark.parametrize("name, loss", [("esrgan-ablation", "ragan-vgg-tv"), ("survey-x4", "tv")])
def test_the_tv_weight_gives_a_gradient_that_matters_beside_its_l1_anchor(name, loss):
    """With vs without TV is void when TV's gradient is negligible: the presets' weights make it count."""
    terms = load(name)["losses"][loss]["terms"]
    (tv,), (anchor,) = terms_named({"terms": terms}, "tv"), terms_named({"terms": terms}, "l1")
    weight = anchor.get("weight", 1.0)
    bicubic, noisy = _photo_patches(4, 0.0), _photo_patches(4, 0.02)
    for sr, hr in (bicubic, noisy):
        assert 0.1 < _gradient_ratio(tv, weight, sr, hr) < 10  # comparable to the anchor's, not swamping it
    old = {"name": "tv", "form": "l1", "weight": 1.0e-5 * weight / 1.0e-2}  # the absolute-value TV used before
    assert _gradient_ratio(old, weight, *noisy) < 0.01


def test_zhao2017_trains_l2_l1_ssim_ms_ssim_and_their_mix():
    config = load("zhao2017")
    losses = config["losses"]
    assert {name: [t["name"] for t in loss["terms"]] for name, loss in losses.items()} == {
        "l2": ["mse"],
        "l1": ["l1"],
        "ssim": ["ssim"],
        "ms-ssim": ["ms_ssim"],
        "mix": ["ms_ssim", "gaussian_l1"],
    }
    ms_ssim, gaussian_l1 = losses["mix"]["terms"]
    assert ms_ssim["weight"] == 0.84 and gaussian_l1["weight"] == pytest.approx(1 - 0.84)  # alpha = 0.84
    assert gaussian_l1["sigma"] == 8.0  # the Gaussian of MS-SSIM's largest scale in the paper
    assert losses["ssim"]["terms"][0]["sigma"] == 5.0
    assert len({m["arch"] for m in config["models"].values()}) == 1  # one network, only the loss changes


@pytest.mark.integration
@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_dry_run_resolves(preset, tmp_path):
    config = yaml.safe_load(preset.read_text())
    check_registered(config, preset.name)  # an unregistered name fails here, it is never skipped
    for ds in config["datasets"].values():  # data the user supplies (MLFDB, folders) exists on their machine
        if ds.get("root"):
            (tmp_path / ds["root"]).mkdir(parents=True, exist_ok=True)
    result = run_snakemake(tmp_path, "-n", "--cores", "1", configfile=str(preset), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    n_runs = (
        sum(1 for _ in config["losses"])
        * len(config["models"])
        * len(config["scales"])
        * len(config.get("seeds", [0]))
        * sum(1 for ds in config["datasets"].values() if "train" in ds.get("splits", {"train": []}))
    )
    rows = [line.split() for line in result.stdout.splitlines()]
    counts = {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}  # the job stats
    assert counts.get("train") == n_runs, result.stdout[-3000:]
    test_on = sum(len(ds.get("test_on", [])) for ds in config["datasets"].values())
    baselines = len(config["scales"]) * test_on  # bicubic, tested on every test set too
    assert counts.get("evaluate_on", 0) == n_runs * test_on + baselines, result.stdout[-3000:]
