"""Loss terms by config ``name`` (``LOSS_TERMS``), and a configured loss built from them.

A term is called as ``term(sr, hr, context)`` and returns a scalar tensor; ``context`` carries
extra inputs some terms need (e.g. the LR image). Its keyword options come from the config and
are declared (and validated) by its class (``srloss.losses.base.LossTerm``). A configured loss
is a weighted sum of terms (``CompositeLoss``).

Adding a loss term: write the class in the module of its family and register it there
(``@LOSS_TERMS.register("name")``); nothing else lists it.

The ``adversarial`` term owns a discriminator; the training loop finds it in the built loss and
trains the discriminator alternately with the generator.

This module imports no torch: the registry loads the term modules (and torch) on first lookup.
"""

from __future__ import annotations

from srloss.registry import Registry, RegistryError


def _check_term(name: str, member: type) -> None:
    """A term computes something (``forward``) and declares its options as a tuple."""
    if getattr(getattr(member, "forward", None), "__isabstractmethod__", False):
        raise RegistryError(f"loss term {name!r} ({member.__name__}): define forward(sr, hr, context) -> scalar")
    if not isinstance(getattr(member, "options", ()), tuple):
        raise RegistryError(f"loss term {name!r} ({member.__name__}): `options` must be a tuple of Option")


LOSS_TERMS: Registry[type] = Registry("loss term", "srloss.losses", check=_check_term)

TERM_KEYS = ("name", "weight", "label")  # the keys of a config term that are not the class's options


def term_options(term: dict) -> dict:
    """A config term's options: every key except ``name``, ``weight`` and ``label``."""
    return {k: v for k, v in term.items() if k not in TERM_KEYS}


def term_labels(terms: list[dict]) -> list[str]:
    """The label each term is logged under.

    The label defaults to the name, suffixed with its position when a name repeats, and with
    ``-random`` when the term uses a randomly initialised backbone (``backbone_weights:
    random``), so logs never show it as the real loss.
    """
    names = [t["name"] for t in terms]
    labels = []
    for i, term in enumerate(terms):
        label = term.get("label") or (term["name"] if names.count(term["name"]) == 1 else f"{term['name']}_{i}")
        if term.get("backbone_weights") == "random" and not label.endswith("-random"):
            label += "-random"
        labels.append(label)
    return labels


def required_backbones(terms: list[dict]) -> list[str]:
    """The pretrained weight files a loss's terms load (sorted, no duplicates; none for random backbones)."""
    needed: set[str] = set()
    for term in terms:
        cls = LOSS_TERMS[term["name"]]
        needed.update(cls.backbones(cls.check_options(**term_options(term))))
    return sorted(needed)
