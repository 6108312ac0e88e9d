"""Image sources are registry members: a new one is one module (here, one class in the test),
checked at registration, accepted by the config checks, fingerprinted by content and prepared,
with nothing else naming it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srloss.data.sources
from srloss.codehash import STAGES, stage_modules
from srloss.data.images import read_rgb
from srloss.data.prepare import prepare
from srloss.data.shards import read_images
from srloss.data.sources import SOURCES, Source, split_fingerprint
from srloss.data.sources.base import root_option
from srloss.options import Option
from srloss.registry import RegistryError
from srloss.study import ConfigError, check_config
from srloss.study.checks import check_dataset_files

RNG = np.random.default_rng(3)
BASE = {
    "study": "s",
    "models": {"srcnn": {"arch": "srcnn", "options": {}}},
    "losses": {"l1": {"terms": [{"name": "l1", "weight": 1.0}]}},
    "scales": [2],
    "seeds": [0],
}


class Tiles(Source):
    """PNG tiles in a folder (``root``), named by file name: the smallest source that reads files."""

    summary = "test: PNG tiles in a folder"
    options = (root_option("the folder of tiles"),)

    def files(self, split: str, name: str) -> list[Path]:
        return [self.root / f"{name}.png"]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        return read_rgb(self.root / f"{name}.png"), None


def _tile(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)


def test_a_new_source_is_checked_fingerprinted_and_prepared(tmp_path):
    for name in "abc":
        _tile(tmp_path / "tiles" / f"{name}.png")
    spec = {
        "source": "tiles",
        "root": str(tmp_path / "tiles"),
        "splits": {"train": ["a"], "val": ["b"], "test": ["c"]},
        "patch_size": 16,
        "stride": 16,
    }
    config = {**copy.deepcopy(BASE), "datasets": {"t": spec}}
    with SOURCES.registered("tiles", Tiles):
        check_config(config)  # accepted like any other source
        check_dataset_files(config)
        with pytest.raises(ConfigError, match=r"datasets\.t\.url: not used by source 'tiles'; it applies to sources: "):
            check_config({**config, "datasets": {"t": {**spec, "url": "https://example.org/"}}})
        with pytest.raises(ConfigError, match=r"image 'a' is in both 'train' and 'test'"):
            check_config({**config, "datasets": {"t": {**spec, "splits": {**spec["splits"], "test": ["a"]}}}})

        train, test = split_fingerprint(spec, "train"), split_fingerprint(spec, "test")
        _tile(tmp_path / "tiles" / "c.png")  # new content, same size and name
        assert split_fingerprint(spec, "test") != test
        assert split_fingerprint(spec, "train") == train  # another split's files did not change

        prepare(spec, 2, {"test": tmp_path / "test.h5"})
        ((name, lr, hr),) = read_images(tmp_path / "test.h5")
        assert name == "c" and hr.shape == (3, 40, 40) and lr.shape == (3, 20, 20)
    assert "tiles" not in SOURCES  # gone for the other tests


class NoFiles(Source):
    summary = "test: a source that cannot say which files it reads"

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        return np.zeros((8, 8, 3), np.uint8), None


class NoSummary(Tiles):
    summary = ""


class ListsNoSplit(Tiles):
    needs_splits = False  # but no all_names to list a split itself


@pytest.mark.parametrize(
    "member, missing",
    [
        (NoFiles, r"does not implement files; every source lists the files a sample is read from"),
        (NoSummary, r"no `summary`"),
        (ListsNoSplit, r"needs_splits is False, so it must list a split itself \(all_names\)"),
    ],
)
def test_an_incomplete_source_fails_at_registration(member, missing):
    with pytest.raises(RegistryError, match=rf"image source 'broken' \(.*{member.__qualname__}\): {missing}"):
        with SOURCES.registered("broken", member):
            pass
    assert "broken" not in SOURCES


def test_every_source_declares_what_the_docs_and_schema_list():
    assert SOURCES.aliases() == {"skimage": "packaged"}
    assert set(SOURCES) >= {"packaged", "div2k", "benchmark", "folder", "mlfdb"}
    for name in SOURCES:
        source = SOURCES[name]
        assert source.name == name and source.summary.strip() and isinstance(source.needs_splits, bool)
        for option in source.options:
            assert isinstance(option, Option) and option.doc
            assert option.json_schema()["type"] == "string"
    keys = {name: {o.name for o in SOURCES[name].options} for name in SOURCES}
    assert keys["folder"] == {"root"} and keys["mlfdb"] == {"root", "archive"} and keys["packaged"] == set()
    assert keys["div2k"] == keys["benchmark"] == {"root", "url"}
    assert not SOURCES["mlfdb"].needs_splits and SOURCES["mlfdb"].default_frames == 7


def test_the_prepare_stage_hash_covers_every_source_module():
    """The registry imports its members by name, not by an import statement: the stage hash
    (srloss.codehash) follows the Registry(...) call, so editing a source reruns what reads datasets."""
    modules = set(stage_modules(STAGES["prepare"]))
    folder = Path(srloss.data.sources.__file__).parent
    assert {f"srloss.data.sources.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"} <= modules
    # training reads shards, and srloss.data.shards asks the sources for frames per sample
    assert "srloss.data.sources.div2k" in stage_modules(STAGES["train"])
