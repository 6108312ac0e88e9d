"""A dataset's keys (``datasets.<name>``), declared once.

The keys every dataset has are declared here (``DATASET_OPTIONS``, and ``degradation``:
``DegradationSettings``, applied by ``srloss.data.degrade``); the keys a source takes (``root``,
``url``, ``archive``) by each source (``srloss.data.sources``). ``dataset_schema`` assembles them
for the config schema (``srloss.study.schema``).

No torch: the study's checks use these at every workflow parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from srloss.options import Option, Settings, setting


def _patch_schema(minimum: int) -> dict:
    """One integer, or one per scale (a mapping scale -> integer)."""
    number = {"type": "integer", "minimum": minimum}
    return {"oneOf": [number, {"type": "object", "minProperties": 1, "additionalProperties": number}]}


PER_SCALE = (
    "in HR pixels: one number (a multiple of every scale) or one per scale, e.g. {2: 96, 4: 192} for "
    "48 px LR patches at both scales."
)


@dataclass(frozen=True)
class DegradationSettings(Settings):
    """``datasets.<name>.degradation``: how LR images are made from HR (recorded in every shard)."""

    blur_sigma: float = setting(0.0, "Isotropic Gaussian blur on HR before downscaling (HR pixels, 0 = off).", ge=0)
    noise_sigma: float = setting(0.0, "Gaussian noise on LR in grey levels of 0..255 (0 = off).", ge=0)
    jpeg_quality: int = setting(0, "JPEG quality of the LR image (0 = off).", ge=0, le=100)
    frames: int | None = setting(
        None, "Frames per sample (null: the source's, 1; 7 for mlfdb). > 1 makes bursts from single images.", ge=1
    )
    max_shift: float = setting(2.0, "Bursts: random shift per frame, uniform in [-s, s] HR pixels.", ge=0)
    max_rotation: float = setting(1.0, "Bursts: random rotation per frame, uniform in [-r, r] degrees.", ge=0)
    seed: int = setting(0, "Seeds the degradation's random draws (with the image name).", ge=0)


IMAGE_LIST = Option("", (), "", type=list, item=Option("", "", "", type=str), min_items=1, unique=True)

DATASET_OPTIONS = (
    Option(
        "test_on",
        (),
        "Cross-dataset evaluation: the models trained on this dataset are also tested on the test split of "
        "each dataset named here (e.g. div2k with test_on [set5, set14, b100, urban100]); each test set is a "
        "column group in the tables, its statistics its own.",
        type=list,
        item=Option("", "", "", type=str),
        unique=True,
    ),
    Option("patch_size", 48, f"Side of the training patches {PER_SCALE}", type=object, schema=_patch_schema(8)),
    Option("stride", 48, f"Step between training patches {PER_SCALE}", type=object, schema=_patch_schema(1)),
)


def splits_schema() -> dict:
    """``splits``: image names per split; a dataset with a test split only is a test set."""
    split = IMAGE_LIST.json_schema()
    split.pop("default")
    return {
        "description": (
            "Image names per split (each source says what a name is: docs/data.md). Required except for sources "
            "whose splits are their folders (mlfdb). A dataset with a test split only is a test set: nothing "
            "trains on it; name it in another dataset's test_on."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["test"],
        "properties": {"train": dict(split), "val": dict(split), "test": dict(split)},
    }


def dataset_schema() -> dict:
    """One dataset's JSON Schema: the source (registry names and earlier names), each source's own
    keys (described with the sources that take them), degradation, splits and the common keys."""
    from srloss.data.sources import SOURCES

    names = [*SOURCES, *SOURCES.aliases()]
    summaries = "; ".join(f"{n}: {SOURCES[n].summary}" for n in SOURCES)
    properties: dict = {
        "source": {"enum": names, "x-what": SOURCES.kind, "description": f"Where the images come from. {summaries}"}
    }
    docs: dict[str, dict[str, str]] = {}  # key -> source -> what the key means for it
    for name in SOURCES:
        for option in SOURCES[name].options:
            docs.setdefault(option.name, {})[name] = option.doc
            if option.name not in properties:
                schema = option.json_schema()
                schema.pop("default", None)  # unset unless given (no null filled in)
                properties[option.name] = schema
    for key, by_source in docs.items():
        texts = set(by_source.values())
        properties[key]["description"] = (
            f"{texts.pop()} (sources: {', '.join(by_source)})"
            if len(texts) == 1
            else "; ".join(f"{source}: {doc}" for source, doc in by_source.items())
        )
    properties["degradation"] = {
        **DegradationSettings.json_schema(),
        "description": "How LR images are made from HR (srloss.data.degrade); recorded in every shard.",
    }
    properties["splits"] = splits_schema()
    properties.update({o.name: o.json_schema() for o in DATASET_OPTIONS})
    return {"type": "object", "additionalProperties": False, "required": ["source"], "properties": properties}
