"""Pretrained ImageNet weights of the feature extractors that perceptual losses use.

The files are torchvision's, kept in torch hub's cache layout
``<TORCH_HOME>/hub/checkpoints/<file>`` (the workflow's TORCH_HOME is ``resources/weights``),
so a cache filled by ``snakemake fetch_weights`` (or ``srloss fetch-weights``) on a machine
with internet serves training jobs on nodes without it. Nothing here downloads implicitly:
loading a missing file is an error that names the file and the command that fetches it.

``WEIGHT_FILES`` is the one table of pretrained networks: the loss terms name their entry
(``BackboneTerm.backbone``), the LPIPS metric and loss name theirs through ``LPIPS_TRUNKS``, and
the workflow's ``fetch_weights`` rule plans downloads from it.

Each torchvision file name ends with the first hex digits of the file's SHA-256
(``vgg19-dcbb9e9d.pth``); ``download`` fetches with ``torch.hub.download_url_to_file``, which
checks that prefix, shows tqdm's progress bar (on a terminal), and only then moves the finished
file into place.

``backbone_weights: random`` (an option of every backbone-based loss term) builds the same
network randomly initialised from a fixed seed instead: it runs offline (tests, the demo), but
it is NOT the published loss. ``uses_random_backbone(terms)`` tells whether a loss does this,
and every run spec carries the answer as ``random_backbone`` so reports can label the result.
"""

from __future__ import annotations

# torch is imported inside the functions that need it: srloss.study and workflow/rules/weights.smk
# import this module at workflow parse time, which must stay fast (no torch).
import contextlib
import http.client
import os
import socket
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from srloss.atomic import fsync_dir, fsync_file
from srloss.errors import UserError

WORKFLOW_TORCH_HOME = "resources/weights"  # the workflow's cache (fetch_weights writes here)
BACKBONE_WEIGHTS = ("imagenet", "random")  # choices of a term's ``backbone_weights`` option
FETCH_HINT = "`snakemake fetch_weights --cores 1` (workflow) or `srloss fetch-weights {backbone} --torch-home {home}`"
MIRROR_ENV = "SRLOSS_WEIGHTS_URL"  # a folder URL serving the same files (a mirror), instead of download.pytorch.org


class WeightsUnavailable(UserError):
    """Pretrained weights are not cached and cannot be downloaded here."""


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
LPIPS_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}  # LPIPS ``net`` -> its trunk's WEIGHT_FILES entry


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
        raise KeyError(
            f"no pretrained weights known for backbone {backbone!r}; valid choices: {', '.join(WEIGHT_FILES)}"
        )
    return WEIGHT_FILES[backbone]


def load_state_dict(backbone: str, home: str | Path | None = None) -> dict:
    """Read ``backbone``'s ImageNet state dict from the cache (tensors only, on the CPU)."""
    path = weight_path(backbone, home)
    if not path.is_file():
        hint = FETCH_HINT.format(backbone=backbone, home=torch_home(home))
        raise FileNotFoundError(
            f"pretrained weights for {backbone} not found: {path} is missing. Fetch them with "
            f"{hint}, or set TORCH_HOME to the folder that holds hub/checkpoints/{path.name}"
        )
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """A stalled connection fails after ``seconds`` instead of hanging (torch.hub sets no timeout)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download(
    url: str, dest: str | Path, hash_prefix: str | None = None, progress: bool | None = None, timeout: float = 60
) -> Path:
    """Download ``url`` to ``dest`` with ``torch.hub.download_url_to_file``: SHA-256 prefix checked.

    torch.hub streams into a temporary file beside ``dest`` (created with the user's umask) and
    moves it into place only when complete and verified, so an interrupted or corrupt download
    never leaves a file at ``dest``. The finished file is flushed to disk (file, then folder).
    ``progress``: tqdm's bar on or off; None shows it when stderr is a terminal (not in a job's log).
    """
    import torch.hub

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for orphan in dest.parent.glob(f"{dest.name}.*.partial"):  # left by a killed download of this file
        orphan.unlink(missing_ok=True)
    try:
        with _socket_timeout(timeout):
            # tqdm's own rule (disable=None: no bar off a terminal), which torch.hub's bool cannot pass on
            shown = sys.stderr.isatty() if progress is None else progress
            torch.hub.download_url_to_file(url, str(dest), hash_prefix, progress=shown)
    except RuntimeError as e:
        if "invalid hash value" not in str(e):
            raise
        raise ValueError(
            f"download of {url}: {e}: the SHA-256 does not start with the expected {hash_prefix!r}; file discarded"
        ) from None
    fsync_file(dest)  # a crash cannot leave a truncated file behind
    fsync_dir(dest.parent)
    return dest


def fetch(
    backbones: list[str], home: str | Path | None = None, base_url: str | None = None, progress: bool | None = None
) -> list[Path]:
    """Make sure the checkpoints of ``backbones`` are in the cache, downloading missing ones.

    ``base_url`` replaces torchvision's download folder (a mirror; the tests use a local server);
    ``progress`` as in ``download``.
    """
    base_url = base_url or os.environ.get(MIRROR_ENV)
    paths = []
    for backbone in backbones:
        wf, path = weight_file(backbone), weight_path(backbone, home)
        if not path.is_file():
            url = (base_url.rstrip("/") + "/" + wf.file) if base_url else wf.url
            try:
                download(url, path, wf.hash_prefix, progress=progress)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                reason = getattr(e, "reason", None) or e
                hint = FETCH_HINT.format(backbone=backbone, home=torch_home(home))
                raise WeightsUnavailable(
                    f"pretrained weights for {backbone}: {path} is missing and cannot be downloaded from "
                    f"{url} ({reason}). Fetch it on a machine with internet with {hint} and copy it to "
                    f"{path}, or set TORCH_HOME to a folder that holds hub/checkpoints/{wf.file}"
                ) from e
        paths.append(path)
    return paths


def uses_random_backbone(terms: list[dict]) -> bool:
    """True if any term of the loss uses a randomly initialised backbone (not the published loss)."""
    return any(term.get("backbone_weights") == "random" for term in terms)


def loss_display_name(loss: str, terms: list[dict]) -> str:
    """The loss name to print in tables and figures: marked when a backbone is random."""
    return f"{loss} [random backbone]" if uses_random_backbone(terms) else loss
