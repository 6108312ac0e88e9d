import pytest
import torch

from srloss.models import MODELS, build_model, count_parameters


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_output_shape_at_every_supported_scale(arch):
    for scale in MODELS[arch].scales:
        model = build_model(arch, scale)
        out = model(torch.rand(2, 3, 10, 13))
        assert out.shape == (2, 3, 10 * scale, 13 * scale), (arch, scale)


def test_unsupported_scale_is_an_error():
    with pytest.raises(ValueError, match="does not support scale 5"):
        build_model("espcn", 5)


def test_parameter_counts_match_the_papers():
    # SRCNN 9-1-5 with 64/32 filters: 3*64*81+64 + 64*32+32 + 32*3*25+3
    assert count_parameters(build_model("srcnn", 2)) == 15616 + 2080 + 2403
    # ESPCN x3: 3*64*25+64 + 64*32*9+32 + 32*27*9+27
    assert count_parameters(build_model("espcn", 3)) == 4864 + 18464 + 7803
    assert count_parameters(build_model("bicubic", 2)) == 0


@pytest.mark.parametrize("arch", ["srcnn", "espcn"])
def test_residual_variant_starts_near_bicubic(arch):
    torch.manual_seed(0)
    lr = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        out = build_model(arch, 2, {"residual": True})(lr)
    ref = build_model("bicubic", 2)(lr)
    assert float((out - ref).abs().max()) < 0.05
