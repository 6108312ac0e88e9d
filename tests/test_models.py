import pytest
import torch

from srloss.models import MODELS
from srloss.models.base import build_model, count_parameters
from srloss.ops import imresize, reference_frame

# Small variants keep the suite fast; the architecture (and its upsampling path) is the same.
FAST = {"rrdbnet": {"blocks": 1, "nf": 16, "gc": 8}, "srresnet": {"blocks": 2, "nf": 16}, "unet_geu": {"nf": 8}}


def _input(arch: str, n: int = 2, h: int = 10, w: int = 13) -> torch.Tensor:
    frames = MODELS[arch].frames
    return torch.rand(n, 3, h, w) if frames is None else torch.rand(n, frames, 3, h, w)


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_output_shape_at_every_supported_scale(arch):
    for scale in MODELS[arch].scales:
        model = build_model(arch, scale, FAST.get(arch))
        out = model(_input(arch))
        assert out.shape == (2, 3, 10 * scale, 13 * scale), (arch, scale)


def test_every_model_declares_scales_trainable_and_frames():
    for arch, cls in MODELS.items():
        assert set(cls.scales) <= {2, 3, 4, 8} and isinstance(cls.trainable, bool), arch
        assert cls.frames is None or cls.frames >= 1, arch


@pytest.mark.parametrize("arch", sorted(a for a in MODELS if MODELS[a].frames is None))
def test_single_frame_models_use_the_reference_frame_of_a_sequence(arch):
    torch.manual_seed(0)
    model = build_model(arch, 2, FAST.get(arch)).eval()
    frames = torch.rand(2, 5, 3, 8, 9)
    with torch.no_grad():
        assert torch.equal(model(frames), model(frames[:, 2]))


def test_reference_frame_is_index_t_over_2():
    x = torch.arange(7.0).view(1, 7, 1, 1, 1).expand(2, 7, 3, 4, 4)
    assert (reference_frame(x) == 3).all() and reference_frame(x).shape == (2, 3, 4, 4)
    y = torch.rand(2, 3, 4, 4)
    assert reference_frame(y) is y
    with pytest.raises(ValueError, match="N×C×H×W"):
        reference_frame(torch.rand(3, 4, 4))


def test_unsupported_scale_is_an_error():
    with pytest.raises(ValueError, match="does not support scale 5"):
        build_model("espcn", 5)
    with pytest.raises(ValueError, match="does not support scale 3"):
        build_model("unet_geu", 3)


def test_parameter_counts_match_the_papers():
    # SRCNN 9-1-5 with 64/32 filters: 3*64*81+64 + 64*32+32 + 32*3*25+3
    assert count_parameters(build_model("srcnn", 2)) == 15616 + 2080 + 2403
    # ESPCN x3: 3*64*25+64 + 64*32*9+32 + 32*27*9+27
    assert count_parameters(build_model("espcn", 3)) == 4864 + 18464 + 7803
    assert count_parameters(build_model("bicubic", 2)) == 0


def test_rrdbnet_default_is_the_esrgan_generator():
    # ESRGAN's published RRDB_ESRGAN_x4 generator: 23 RRDBs, nf 64, gc 32, 16,697,987 parameters.
    assert count_parameters(build_model("rrdbnet", 4)) == 16_697_987


def test_rrdbnet_upsampling_stages_compose_to_the_scale():
    # x3 is one 3x stage and x8 three 2x stages; each stage adds one nf->nf 3x3 conv.
    nf = 16
    counts = {s: count_parameters(build_model("rrdbnet", s, {"blocks": 1, "nf": nf, "gc": 8})) for s in (2, 3, 4, 8)}
    stage = nf * nf * 9 + nf
    assert counts[3] == counts[2] and counts[4] == counts[2] + stage and counts[8] == counts[2] + 2 * stage


def test_srresnet_parameter_count_by_hand():
    nf, blocks = 16, 2
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    bn, prelu = 2 * nf, 1
    expected = (
        conv(3, nf, 9)
        + prelu
        + blocks * (2 * conv(nf, nf, 3) + 2 * bn + prelu)
        + conv(nf, nf, 3)
        + bn
        + 2 * (conv(nf, 4 * nf, 3) + prelu)
        + conv(nf, 3, 9)
    )
    assert count_parameters(build_model("srresnet", 4, {"nf": nf, "blocks": blocks})) == expected


def test_unet_geu_rejects_wrong_input_and_uses_every_frame():
    torch.manual_seed(0)
    model = build_model("unet_geu", 2, {"nf": 8}).eval()
    with pytest.raises(ValueError, match="N×7×C×H×W"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="N×7×C×H×W"):
        model(torch.rand(1, 5, 3, 8, 8))
    frames = torch.rand(1, 7, 3, 12, 12)
    changed = frames.clone()
    changed[:, 0] = torch.rand(3, 12, 12)  # a non-reference frame
    with torch.no_grad():
        assert not torch.allclose(model(frames), model(changed))


def test_unet_geu_frames_option_and_residual_path():
    model = build_model("unet_geu", 4, {"nf": 8, "frames": 3})
    frames = torch.rand(1, 3, 3, 6, 7)
    out = model(frames)
    assert out.shape == (1, 3, 24, 28)
    for p in model.parameters():  # zero network: only the bicubic upscaled reference frame remains
        torch.nn.init.zeros_(p)
    assert torch.allclose(model(frames), imresize(frames[:, 1], 4), atol=1e-6)


@pytest.mark.parametrize("arch", ["rrdbnet", "srresnet", "unet_geu"])
def test_gradients_reach_every_parameter(arch):
    torch.manual_seed(0)
    model = build_model(arch, 2, FAST[arch])
    model(_input(arch, 1, 8, 8)).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("arch", ["srcnn", "espcn"])
def test_residual_variant_starts_near_bicubic(arch):
    torch.manual_seed(0)
    lr = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        out = build_model(arch, 2, {"residual": True})(lr)
    ref = build_model("bicubic", 2)(lr)
    assert float((out - ref).abs().max()) < 0.05


# --- the SRModel protocol -------------------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_every_model_is_an_srmodel_with_documented_options(arch):
    from torch import nn

    from srloss.models.base import SRModel

    cls = MODELS[arch]
    assert issubclass(cls, SRModel)
    assert list(cls.check_options()) == cls.option_names()  # every default passes its own check
    for option in cls.options:
        assert option.doc and not hasattr(nn.Module, option.name), (arch, option.name)


@pytest.mark.parametrize(
    "arch, options, message",
    [
        ("srcnn", {"depth": 3}, "option depth: unknown option for SRCNN; valid options: channels, hidden, residual"),
        ("espcn", {"residual": "yes"}, "option residual: expected true or false, got 'yes'"),
        ("rrdbnet", {"blocks": 0}, "option blocks: expected an integer >= 1, got 0"),
        ("unet_geu", {"frames": 2.0}, "option frames: expected an integer >= 1, got 2.0"),
    ],
)
def test_model_options_are_checked_by_the_class(arch, options, message):
    with pytest.raises(ValueError) as err:
        build_model(arch, 2, options)
    assert str(err.value) == message


def test_discriminators_declare_their_options():
    from srloss.models import DISCRIMINATORS
    from srloss.models.discriminators import Discriminator

    for name, cls in DISCRIMINATORS.items():
        assert issubclass(cls, Discriminator) and list(cls.check_options()) == cls.option_names(), name
    with pytest.raises(
        ValueError,
        match="option stages: unknown option for UNetDiscriminatorSN; valid options: channels, skip_connection",
    ):
        DISCRIMINATORS["unet"](stages=3)
