"""The model protocol: a super-resolution network declares what it supports on the class.

* ``scales``: the scale factors it supports (others are rejected when the config loads);
* ``trainable``: False for parameter-free baselines, which are evaluated without training;
* ``frames``: the number of input frames of a multi-frame model (input N×T×C×h×w), or None for
  a single-image model (input N×C×h×w). A single-image model given a multi-frame batch
  super-resolves its reference frame, index T//2 (``srloss.ops.reference_frame``), so every
  model can run on multi-frame data as a baseline. A multi-frame model may declare a
  ``frames`` option that overrides the class value per instance;
* ``options``: its keyword options (``srloss.options.Option``), validated by the class both when
  the config loads and when the model is built.

Adding a model: subclass ``SRModel`` in its own module, declare the above, build the network in
``__init__(self, scale, **options)`` after ``super().__init__(scale, **options)`` (options are
then attributes: ``self.nf``), write ``forward(lr) -> sr``, and add one entry to
``srloss.models.MODELS``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from srloss.options import Configurable


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
