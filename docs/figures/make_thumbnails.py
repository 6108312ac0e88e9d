"""The thumbnails of docs/evaluation.md's table of figures, from a finished study's figures.

    python docs/figures/make_thumbnails.py results/<study>

For each figure of ``srloss.report.landing.FIGURES`` it takes the first file its pattern matches
under ``results/<study>/figures/`` and writes a copy at most 360 px on its longer side into docs/figures/ under
the figure's ``thumbnail`` name; figures the study did not draw (budget curves without
``evaluation.steps``) are listed as skipped. The committed thumbnails come from the tiny
one-seed study of tests/test_report.py (ESPCN x2, MSE and L1, 20 steps, two test images): they
show the layout, not a result (one seed: no band in the training curves).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PIL import Image

from srloss.report.landing import FIGURES

SIDE = 360  # a thumbnail fits in a SIDE x SIDE box


def main(study: Path) -> int:
    out = Path(__file__).resolve().parent
    for figure in FIGURES:
        pattern = re.sub(r"<[^>]+>", "*", figure.files) + ".png"
        found = sorted((study / "figures").glob(pattern))
        if not found:
            print(f"skipped {figure.menu}: no {pattern} under {study / 'figures'}")
            continue
        with Image.open(found[0]) as image:
            image = image.convert("RGB")
            image.thumbnail((SIDE, SIDE), Image.LANCZOS)  # keeps the aspect ratio
            image.quantize(colors=128).save(out / figure.thumbnail, optimize=True)
        print(f"{figure.thumbnail} <- {found[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
