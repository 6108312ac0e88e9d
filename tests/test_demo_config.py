"""The demo study (config.yaml) can show something: enough real test photographs for a paired
test to reach significance, two seeds, and splits that share no image (nor scene)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srloss.data.sources import SOURCES, DatasetError
from srloss.data.sources.packaged import PACKAGED_IMAGES, PackagedImage, load_packaged
from srloss.study import Study, load_yaml

REPO = Path(__file__).resolve().parents[1]
MIN_TEST_IMAGES = 8  # the exact two-sided Wilcoxon test reaches p < 0.01 from n = 8 (all pairs agreeing)


def demo_config() -> dict:
    """config.yaml with the schema's defaults filled, as the workflow sees it."""
    from srloss.study import check_schema

    config = load_yaml(REPO / "config.yaml")
    check_schema(config)
    return config


@pytest.fixture(scope="module")
def demo() -> dict:
    return demo_config()


def test_demo_datasets_are_packaged_photographs(demo):
    for name, ds in demo["datasets"].items():
        source = SOURCES.canonical(ds["source"])
        assert source == "packaged", f"demo dataset {name} reads {ds['source']!r}, not packaged photographs"
        for split in ("train", "val", "test"):
            assert ds["splits"][split], f"datasets.{name}.splits.{split} is empty"
            assert set(ds["splits"][split]) <= set(PACKAGED_IMAGES)


def test_demo_has_enough_test_images_and_two_seeds(demo):
    for name, ds in demo["datasets"].items():
        test = ds["splits"]["test"]
        assert len(test) == len(set(test)) >= MIN_TEST_IMAGES, f"datasets.{name}: {len(test)} test images"
    assert len(demo["seeds"]) == len(set(demo["seeds"])) == 2
    assert Study(demo).runs()  # the grid is valid


def test_demo_splits_share_no_image_and_no_scene(demo):
    for ds in demo["datasets"].values():
        splits = ds["splits"]
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not set(splits[a]) & set(splits[b]), f"{a} and {b} share images"
            scenes_a = {PACKAGED_IMAGES[n].scene or n for n in splits[a]}
            scenes_b = {PACKAGED_IMAGES[n].scene or n for n in splits[b]}
            assert not scenes_a & scenes_b, f"{a} and {b} hold views of one scene: {scenes_a & scenes_b}"


def test_demo_test_images_come_from_three_packages(demo):
    """The issue asks for scikit-image, scikit-learn and matplotlib photographs in the test set."""
    for ds in demo["datasets"].values():
        packages = {PACKAGED_IMAGES[n].package for n in ds["splits"]["test"]}
        assert packages == {"skimage", "sklearn", "matplotlib"}


@pytest.mark.parametrize("name", sorted(PACKAGED_IMAGES))
def test_every_packaged_image_decodes_at_its_recorded_size(name):
    img = load_packaged(name)
    width, height = PACKAGED_IMAGES[name].size
    assert img.shape == (height, width, 3) and img.dtype == np.uint8
    assert img.std() > 10, f"{name} looks blank (std {img.std():.1f}); not a photograph"


def test_packaged_images_are_distinct_photographs():
    """No entry is a second copy of another (scikit-image's cat and chelsea are one file's pixels)."""
    seen: dict[tuple, str] = {}
    for name in PACKAGED_IMAGES:
        img = load_packaged(name)
        key = (img.shape, img[::37, ::37].tobytes())
        assert key not in seen, f"{name} repeats {seen[key]}"
        seen[key] = name


def test_missing_package_or_file_is_a_clear_error():
    with pytest.raises(
        DatasetError, match=r"package 'no_such_pkg' is not installed; install it with `pip install no-such`"
    ):
        PackagedImage("no_such_pkg", "no-such", "x.png", (1, 1)).path()
    with pytest.raises(DatasetError, match=r"nope\.jpg is missing from the installed scikit-learn"):
        PackagedImage("sklearn", "scikit-learn", "datasets/images/nope.jpg", (1, 1)).path()
    with pytest.raises(DatasetError, match=r"unknown packaged image 'lena'; valid names: astronaut, "):
        load_packaged("lena")
