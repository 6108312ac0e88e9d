"""Pretrained weight cache: loading from the torch hub layout, clear errors, real downloads
(from a local HTTP server, no internet), the fetch-weights CLI and rule, the random-backbone flag."""

import copy
import functools
import hashlib
import http.server
import io
import sys
import threading
from pathlib import Path

import pytest
import torch
import torchvision

from srloss import weights
from srloss.losses import required_backbones
from srloss.losses.backbones import IMAGENET_MEAN, IMAGENET_STD
from srloss.losses.perceptual import LPIPSLoss, ResNetFeatureLoss, VGGFeatureLoss
from srloss.study import ConfigError, Run, Study


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty TORCH_HOME; returns its hub/checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _save_checkpoint(folder: Path, backbone: str, state: dict) -> None:
    torch.save(state, folder / weights.WEIGHT_FILES[backbone].file)


def _normalise(x):
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def test_weight_files_are_torchvisions():
    assert weights.WEIGHT_FILES["vgg19"].url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert weights.WEIGHT_FILES["resnet50"].file == "resnet50-0676ba61.pth"
    assert weights.WEIGHT_FILES["alexnet"].hash_prefix == "7be5be79"
    assert set(weights.WEIGHT_FILES) == {"vgg19", "resnet18", "resnet50", "alexnet", "vgg16"}


def test_weight_path_uses_the_torch_hub_layout(cache):
    assert weights.weight_path("vgg19") == cache / "vgg19-dcbb9e9d.pth"
    assert weights.weight_path("resnet18", "/x") == Path("/x/hub/checkpoints/resnet18-f37072fd.pth")


def test_missing_weight_file_names_the_file_and_the_command(cache):
    for make in (lambda: VGGFeatureLoss(), lambda: ResNetFeatureLoss(arch="resnet50"), lambda: LPIPSLoss(net="vgg")):
        with pytest.raises(FileNotFoundError) as err:
            make()
        message = str(err.value)
        assert str(cache) in message and "snakemake fetch_weights" in message and "srloss fetch-weights" in message
    assert "vgg16-397923af.pth" in message


def test_vgg_loss_loads_imagenet_layout_and_matches_torchvision(cache):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"]).eval()  # torchvision's vgg19().features
    _save_checkpoint(cache, "vgg19", {f"features.{k}": v for k, v in features.state_dict().items()})
    loss = VGGFeatureLoss(layers={"relu1_2": 2.0, "conv5_4": 0.5})
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        fx, fy = _normalise(x), _normalise(y)
        expected = 2.0 * torch.mean((features[:4](fx) - features[:4](fy)) ** 2) + 0.5 * torch.mean(
            (features[:35](fx) - features[:35](fy)) ** 2
        )
        assert float(loss(x, y)) == pytest.approx(float(expected), rel=1e-5)


def test_resnet_loss_loads_imagenet_layout_and_matches_torchvision(cache):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    _save_checkpoint(cache, "resnet18", net.state_dict())
    loss = ResNetFeatureLoss(arch="resnet18", stages="layer2", criterion="l1")
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)

    def layer2(img):
        h = net.maxpool(net.relu(net.bn1(net.conv1(_normalise(img)))))
        return net.layer2(net.layer1(h))

    with torch.no_grad():
        assert float(loss(x, y)) == pytest.approx(float(torch.mean(torch.abs(layer2(x) - layer2(y)))), rel=1e-5)


def test_lpips_loads_trunk_from_cache_and_lin_layers_from_the_package(cache):
    import lpips

    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features
    _save_checkpoint(cache, "alexnet", {f"features.{k}": v for k, v in features.state_dict().items()})
    loss = LPIPSLoss(net="alex")
    assert torch.equal(loss.model.net.slice1[0].weight, features[0].weight)
    assert torch.equal(getattr(loss.model.net.slice5, "10").bias, features[10].bias)
    lin = torch.load(Path(lpips.__file__).parent / "weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    assert torch.equal(loss.model.lin0.model[1].weight, lin["lin0.model.1.weight"])
    x = torch.rand(1, 3, 32, 32)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-7)


def test_required_backbones_and_random_flag():
    terms = [
        {"name": "mse"},
        {"name": "vgg", "layers": "conv5_4"},
        {"name": "gram"},
        {"name": "lpips", "net": "vgg"},
        {"name": "resnet", "arch": "resnet50", "backbone_weights": "random"},
    ]
    assert required_backbones(terms) == ["vgg16", "vgg19"]
    assert required_backbones([{"name": "lpips"}, {"name": "resnet"}]) == ["alexnet", "resnet18"]
    assert weights.uses_random_backbone(terms) and not weights.uses_random_backbone(terms[:4])
    assert weights.loss_display_name("perc", terms) == "perc [random backbone]"
    assert weights.loss_display_name("perc", terms[:4]) == "perc"


# --- downloads from a local HTTP server -----------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _served_checkpoint(folder: Path, monkeypatch) -> tuple[str, dict]:
    """Serve a real checkpoint under a torchvision-style name carrying its own SHA-256 prefix."""
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    name = f"resnet18-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(folder / name)
    monkeypatch.setitem(weights.WEIGHT_FILES, "resnet18", weights.WeightFile("resnet18", name, "http://unused/" + name))
    return name, state


def test_fetch_downloads_into_the_cache_layout_and_the_loss_uses_it(server, cache, monkeypatch):
    folder, url = server
    name, state = _served_checkpoint(folder, monkeypatch)
    paths = weights.fetch(["resnet18"], base_url=url)
    assert paths == [cache / name] and (cache / name).read_bytes() == (folder / name).read_bytes()
    assert not [p for p in cache.iterdir() if p.name != name]  # no temporary file left behind
    loaded = weights.load_state_dict("resnet18")
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    ResNetFeatureLoss(arch="resnet18", stages="stem")  # builds from the downloaded file
    (folder / name).unlink()
    assert weights.fetch(["resnet18"], base_url=url) == [cache / name]  # cached: no second download


def test_download_with_a_wrong_hash_leaves_no_file(server, cache):
    folder, url = server
    (folder / "resnet18-f37072fd.pth").write_bytes(b"not the real checkpoint")
    with pytest.raises(ValueError, match="does not start with the expected 'f37072fd'; file discarded"):
        weights.fetch(["resnet18"], base_url=url)
    assert list(cache.iterdir()) == []


def test_download_error_for_a_missing_url_leaves_no_file(server, cache):
    import urllib.error

    _, url = server
    with pytest.raises(urllib.error.HTTPError):
        weights.download(url + "/nothing.pth", cache / "nothing.pth")
    assert list(cache.iterdir()) == []


def test_download_goes_through_torch_hub_with_progress_umask_and_no_orphans(server, cache, monkeypatch, capfd):
    import os

    import torch.hub

    folder, url = server
    name, _ = _served_checkpoint(folder, monkeypatch)
    calls = []
    real = torch.hub.download_url_to_file
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    orphan = cache / f"{name}.0123abcd.partial"  # what a killed torch.hub download leaves behind
    orphan.write_bytes(b"partial")
    old = os.umask(0o022)
    try:
        weights.fetch(["resnet18"], base_url=url, progress=True)
    finally:
        os.umask(old)
    assert calls and calls[0][0][2] == name.split("-")[1][:8]  # torch.hub checked the SHA-256 prefix
    assert sorted(p.name for p in cache.iterdir()) == [name]  # the orphan is gone, no temporary file left
    assert (cache / name).stat().st_mode & 0o777 == 0o644  # readable by colleagues, as the user's umask says
    assert "100%" in capfd.readouterr().err  # torch.hub's progress bar


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "log-file"])
def test_progress_bar_only_on_a_terminal(server, cache, monkeypatch, tty):
    folder, url = server
    name, _ = _served_checkpoint(folder, monkeypatch)
    stderr = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    weights.fetch(["resnet18"], base_url=url)
    assert (cache / name).is_file()
    assert ("100%" in stderr.getvalue()) == tty  # no carriage-return redraws in a job's log


def test_a_stalled_server_times_out_and_leaves_no_file(cache):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(OSError):  # socket.timeout / URLError, after `timeout` seconds instead of forever
            weights.download(f"http://127.0.0.1:{listener.getsockname()[1]}/x.pth", cache / "x.pth", timeout=1)
    finally:
        listener.close()
    assert list(cache.iterdir()) == []


def test_cli_fetch_weights(server, tmp_path, monkeypatch):
    from srloss.cli import main

    folder, url = server
    name, _ = _served_checkpoint(folder, monkeypatch)
    config = tmp_path / "study.yaml"
    config.write_text(
        "losses:\n  r: {terms: [{name: resnet, stages: layer1}, {name: vgg, backbone_weights: random}]}\n"
    )
    assert (
        main(["fetch-weights", "--config", str(config), "--torch-home", str(tmp_path / "home"), "--base-url", url]) == 0
    )
    assert (tmp_path / "home/hub/checkpoints" / name).is_file()
    assert sorted(p.name for p in (tmp_path / "home/hub/checkpoints").iterdir()) == [
        name
    ]  # the random VGG needs nothing


# --- config: option checks, frames, the random_backbone flag in run specs -------------------


def _config(**losses) -> dict:
    from test_config import demo_config

    config = copy.deepcopy(demo_config())
    config["losses"] = losses or config["losses"]
    return config


@pytest.mark.parametrize(
    "term, message",
    [
        (
            {"name": "vgg", "layers": ["relu2_2", "relu9_9"]},
            "losses.x.terms[0].layers: unknown layer 'relu9_9'; valid choices: conv1_1",
        ),
        (
            {"name": "resnet", "arch": "resnet101"},
            "losses.x.terms[0].arch: unknown ResNet 'resnet101'; valid choices: resnet18, resnet50",
        ),
        (
            {"name": "lpips", "backbone_weights": "none"},
            "losses.x.terms[0].backbone_weights: 'none' is not a choice; valid choices: imagenet, random",
        ),
        ({"name": "tv", "form": "l0"}, "losses.x.terms[0].form: 'l0' is not a choice; valid choices: l1, l2, beta"),
        (
            {"name": "gram", "layer": "relu1_1"},
            "losses.x.terms[0].layer: unknown option for GramLoss; valid options: layers, criterion, "
            "backbone_weights, backbone_seed",
        ),
    ],
)
def test_config_checks_term_options(term, message):
    with pytest.raises(ConfigError) as err:
        Study(_config(x={"terms": [term]}))
    assert message in str(err.value)


def test_config_rejects_a_multi_frame_model_on_single_image_data():
    config = _config()
    config["models"]["faces"] = {"arch": "unet_geu", "options": {}}
    config["scales"] = [2, 4]
    with pytest.raises(
        ConfigError,
        match=r"models.faces: arch 'unet_geu' takes 7 frames per sample, but dataset 'demo' provides single "
        r"images \(datasets.demo.degradation.frames\)",
    ):
        Study(config)
    config["datasets"]["demo"]["degradation"] = {"frames": 7}  # synthetic 7-frame bursts: accepted
    Study(config)


def test_run_spec_carries_the_random_backbone_flag():
    study = Study(
        _config(real={"terms": [{"name": "mse"}]}, fake={"terms": [{"name": "vgg", "backbone_weights": "random"}]})
    )
    assert study.run_spec(Run("demo", "srcnn", "fake", 2, 0))["random_backbone"] is True
    assert study.run_spec(Run("demo", "srcnn", "real", 2, 0))["random_backbone"] is False
    assert "random_backbone" not in study.run_spec(Run("demo", "bicubic", "none", 2, 0))  # untrained: no loss


@pytest.mark.integration
def test_fetch_weights_rule_plans_exactly_the_needed_files(tmp_path):
    from workflow_runner import run_snakemake, test_env

    config = _config(
        a={"terms": [{"name": "vgg"}, {"name": "mse"}]},
        b={"terms": [{"name": "lpips", "net": "alex"}]},
        c={"terms": [{"name": "resnet", "arch": "resnet50", "backbone_weights": "random"}]},
    )
    env = {k: v for k, v in test_env().items() if k != "TORCH_HOME"}

    def planned_files(evaluation: dict) -> set[str]:
        result = run_snakemake(
            tmp_path,
            "fetch_weights",
            "-n",
            "--cores",
            "1",
            config={**config, "evaluation": evaluation},
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return {
            line.split()[-1]
            for line in result.stdout.splitlines()
            if line.strip().startswith("output: resources/weights/")
        }

    losses_only = {
        "resources/weights/hub/checkpoints/vgg19-dcbb9e9d.pth",
        "resources/weights/hub/checkpoints/alexnet-owt-7be5be79.pth",
    }
    assert planned_files({"metrics": ["psnr_y", "ssim_y"]}) == losses_only
    # the LPIPS metric (default evaluation: alex and vgg) adds its trunks
    assert planned_files({}) == losses_only | {"resources/weights/hub/checkpoints/vgg16-397923af.pth"}


def test_cli_fetch_weights_needs_names_or_a_config(capsys):
    from srloss.cli import main

    assert main(["fetch-weights"]) == 2
    assert "name backbones (vgg19, resnet18, resnet50, alexnet, vgg16) or give --config" in capsys.readouterr().err
    with pytest.raises(KeyError, match="valid choices: vgg19, resnet18"):
        main(["fetch-weights", "vgg11"])
