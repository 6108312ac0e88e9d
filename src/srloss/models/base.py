"""The model protocol: a super-resolution network declares what it supports on the class.

* ``scales``: the scale factors it supports (others are rejected when the config loads);
* ``trainable``: False for parameter-free baselines, which are evaluated without training;
* ``frames``: the number of input frames of a multi-frame model (input N×T×C×h×w), or None for
  a single-image model (input N×C×h×w). A single-image model given a multi-frame batch
  super-resolves its reference frame, index T//2 (``srloss.ops.reference_frame``), so every
  model can run on multi-frame data as a baseline. A multi-frame model may declare a
  ``frames`` option that overrides the class value per instance;
* ``options``: its keyword options (``srloss.options.Option``), validated by the class both when
  the config loads and when the model is built;
* ``receptive_radius()``: an upper bound, in LR pixels, of how far an output pixel's input
  reaches, counted from the layers (a k×k conv adds (k-1)/2 at the resolution it runs at, HR
  layers count 1/scale rounded up, plus one pixel for sub-pixel/nearest rounding). Tiled
  evaluation uses it as the overlap, which makes tiled output equal whole-image output
  (``srloss.ops.tiling``); ``alignment()``: the multiple tile origins must keep (models that
  downsample).

Adding a model: subclass ``SRModel`` in its own module, declare the above, build the network in
``__init__(self, scale, **options)`` after ``super().__init__(scale, **options)`` (options are
then attributes: ``self.nf``), write ``forward(lr) -> sr`` and ``receptive_radius()``, and
register the class: ``@MODELS.register("name")``. A class without its scales or its receptive
radius fails at registration.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from torch import nn

from srloss.models import MODELS
from srloss.options import Configurable

BICUBIC_RADIUS = 2  # the bicubic kernel has 4 taps: an upscaled pixel reads 2 LR pixels each side


class SRModel(Configurable, nn.Module):
    """Base class of every super-resolution model: checks the scale and the declared options."""

    scales: ClassVar[tuple[int, ...]] = ()
    trainable: ClassVar[bool] = True
    frames: ClassVar[int | None] = None

    def __init__(self, scale: int, **options: Any):
        super().__init__()
        if scale not in self.scales:
            raise ValueError(f"{type(self).__name__} does not support scale {scale}; supported: {list(self.scales)}")
        self.scale = scale
        self._set_options(options)

    @abstractmethod
    def receptive_radius(self) -> int:
        """How far (LR pixels) an output pixel's input reaches; an upper bound."""

    def alignment(self) -> int:
        """The multiple that tile origins and spans must keep (1 unless the model downsamples)."""
        return 1


def build_model(arch: str, scale: int, options: dict | None = None) -> SRModel:
    """Instantiate model ``arch`` (a ``MODELS`` name) at ``scale`` with ``options`` (validated by the class)."""
    cls = MODELS[arch]
    if scale not in cls.scales:
        raise ValueError(f"model {arch!r} does not support scale {scale}; supported: {list(cls.scales)}")
    return cls(scale, **(options or {}))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
