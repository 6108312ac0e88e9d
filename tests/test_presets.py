"""The presets in config/experiments/: each sets the choices of the study it reproduces, and
resolves with the real snakemake CLI (dry run).

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
from srloss.study import Study, check_schema

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
    assert config["training"]["betas"] == [0.9, 0.99]  # ESRGAN's Adam for the pre-training and RaGAN
    for name, loss in gan.items():  # RMSProp-like Adam (beta1 = 0) for the clipped critic's runs only
        expected = {"betas": [0.0, 0.9], "discriminator": {"betas": [0.0, 0.9]}} if name.startswith("wgan") else None
        assert loss.get("training") == expected
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
