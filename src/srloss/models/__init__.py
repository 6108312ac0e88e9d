"""Models: super-resolution networks (``MODELS``, by config ``arch`` name) and the discriminators of
adversarial losses (``DISCRIMINATORS``, by the adversarial term's ``discriminator`` name).

Each class registers itself in its own module (``@MODELS.register("espcn")``) and declares what
the rest of the system needs (``srloss.models.base.SRModel``: scales, trained or not, frames,
options, receptive radius). Adding a model is one module here plus one test; nothing else lists it.

This module imports no torch: the registries load their modules (and torch) on first lookup.
"""

from __future__ import annotations

from srloss.registry import Registry, RegistryError


def _is_abstract(member: type, method: str) -> bool:
    return getattr(getattr(member, method, None), "__isabstractmethod__", False)


def _check_model(name: str, member: type) -> None:
    """A model declares its scales and its receptive radius (tiled evaluation needs it)."""
    scales = getattr(member, "scales", ())
    if not scales or not all(isinstance(s, int) and s >= 2 for s in scales):
        raise RegistryError(f"model {name!r} ({member.__name__}): declare `scales`, the integer factors >= 2 it takes")
    if _is_abstract(member, "receptive_radius"):
        raise RegistryError(
            f"model {name!r} ({member.__name__}): define `receptive_radius(self) -> int`, how far in LR pixels "
            "an output pixel's input reaches (tiled evaluation uses it as the tile overlap)"
        )


MODELS: Registry[type] = Registry("architecture", "srloss.models", check=_check_model)
DISCRIMINATORS: Registry[type] = Registry("discriminator", "srloss.models")
