"""Pretrained ImageNet weights of the feature extractors that perceptual losses use.

The files are torchvision's, kept in torch hub's cache layout
``<TORCH_HOME>/hub/checkpoints/<file>`` (the workflow's TORCH_HOME is ``resources/weights``),
so a cache filled by ``snakemake fetch_weights`` (or ``srloss fetch-weights``) on a machine
with internet serves training jobs on nodes without it. Nothing here downloads implicitly:
loading a missing file is an error that names the file and the command that fetches it.

Each torchvision file name ends with the first hex digits of the file's SHA-256
(``vgg19-dcbb9e9d.pth``); ``download`` checks that prefix, as ``torch.hub`` does, and only
then renames the finished file into place.

``backbone_weights: random`` (an option of every backbone-based loss term) builds the same
network randomly initialised from a fixed seed instead: it runs offline (tests, the demo), but
it is NOT the published loss. ``uses_random_backbone(terms)`` tells whether a loss does this,
and every run spec carries the answer as ``random_backbone`` so reports can label the result.
"""

from __future__ import annotations

# torch is imported inside the functions that need it: srloss.config imports this module at
# workflow parse time, which must stay fast.

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from srloss.atomic import atomic_path

WORKFLOW_TORCH_HOME = "resources/weights"  # the workflow's cache (fetch_weights writes here)
BACKBONE_WEIGHTS = ("imagenet", "random")  # choices of a term's ``backbone_weights`` option
FETCH_HINT = "`snakemake fetch_weights --cores 1` (workflow) or `srloss fetch-weights {backbone} --torch-home {home}`"


@dataclass(frozen=True)
class WeightFile:
    """One torchvision checkpoint: its file name (with the SHA-256 prefix) and URL."""

    backbone: str
    file: str
    url: str

    @property
    def hash_prefix(self) -> str:
        return self.file.rsplit("-", 1)[1].split(".")[0]


_BASE = "https://download.pytorch.org/models/"
WEIGHT_FILES: dict[str, WeightFile] = {
    name: WeightFile(name, file, _BASE + file)
    for name, file in {
        "vgg19": "vgg19-dcbb9e9d.pth",  # VGG feature/texture losses (548 MB)
        "resnet18": "resnet18-f37072fd.pth",  # ResNet feature loss (45 MB)
        "resnet50": "resnet50-0676ba61.pth",  # ResNet feature loss, V1 weights (98 MB)
        "alexnet": "alexnet-owt-7be5be79.pth",  # LPIPS net=alex trunk (233 MB)
        "vgg16": "vgg16-397923af.pth",  # LPIPS net=vgg trunk (528 MB)
    }.items()
}


def torch_home(torch_home: str | Path | None = None) -> Path:
    """The cache root: the argument, else ``$TORCH_HOME``, else torch's default (``~/.cache/torch``)."""
    if torch_home is not None:
        return Path(torch_home)
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"])
    import torch

    return Path(torch.hub.get_dir()).parent


def weight_path(backbone: str, home: str | Path | None = None) -> Path:
    """Where ``backbone``'s checkpoint lives in the cache: ``<home>/hub/checkpoints/<file>``."""
    return torch_home(home) / "hub" / "checkpoints" / weight_file(backbone).file


def weight_file(backbone: str) -> WeightFile:
    if backbone not in WEIGHT_FILES:
        raise KeyError(f"no pretrained weights known for backbone {backbone!r}; valid choices: {', '.join(WEIGHT_FILES)}")
    return WEIGHT_FILES[backbone]


def load_state_dict(backbone: str, home: str | Path | None = None) -> dict:
    """Read ``backbone``'s ImageNet state dict from the cache (tensors only, on the CPU)."""
    path = weight_path(backbone, home)
    if not path.is_file():
        hint = FETCH_HINT.format(backbone=backbone, home=torch_home(home))
        raise FileNotFoundError(f"pretrained weights for {backbone} not found: {path} is missing. Fetch them with {hint}, "
                                f"or set TORCH_HOME to the folder that holds hub/checkpoints/{path.name}")
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def download(url: str, dest: str | Path, hash_prefix: str | None = None, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``dest``: streamed to a temporary file, SHA-256 prefix checked, renamed.

    An interrupted or corrupt download never leaves a file at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
            while block := response.read(chunk):
                sha.update(block)
                f.write(block)
        digest = sha.hexdigest()
        if hash_prefix is not None and not digest.startswith(hash_prefix):
            raise ValueError(f"download of {url}: SHA-256 {digest} does not start with the expected {hash_prefix!r}; file discarded")
    return dest


def fetch(backbones: list[str], home: str | Path | None = None, base_url: str | None = None) -> list[Path]:
    """Make sure the checkpoints of ``backbones`` are in the cache, downloading missing ones.

    ``base_url`` replaces torchvision's download folder (a mirror; the tests use a local server).
    """
    paths = []
    for backbone in backbones:
        wf, path = weight_file(backbone), weight_path(backbone, home)
        if not path.is_file():
            url = (base_url.rstrip("/") + "/" + wf.file) if base_url else wf.url
            download(url, path, wf.hash_prefix)
        paths.append(path)
    return paths


def required_backbones(terms: list[dict]) -> list[str]:
    """The pretrained backbones a loss's terms load (sorted, no duplicates; none for random ones)."""
    from srloss.losses import LOSS_TERMS

    needed: set[str] = set()
    for term in terms:
        cls = LOSS_TERMS.get(term["name"])
        if cls is not None and hasattr(cls, "backbones"):
            needed.update(cls.backbones(**_options(term)))
    return sorted(needed)


def uses_random_backbone(terms: list[dict]) -> bool:
    """True if any term of the loss uses a randomly initialised backbone (not the published loss)."""
    return any(term.get("backbone_weights") == "random" for term in terms)


def loss_display_name(loss: str, terms: list[dict]) -> str:
    """The loss name to print in tables and figures: marked when a backbone is random."""
    return f"{loss} [random backbone]" if uses_random_backbone(terms) else loss


def _options(term: dict) -> dict:
    return {k: v for k, v in term.items() if k not in ("name", "weight", "label")}
