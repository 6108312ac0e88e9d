"""Failed face recognitions (FFR): does the reconstruction still show the same person?

Face identity with dlib's 128-d embedding (distance threshold 0.6), on whole uint8-valued CHW RGB
images (the face may touch the border); the ground truth without a detected face is excluded
(NaN). Measured on the test sets listed in ``evaluation.ffr.datasets`` (face datasets).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srloss.metrics.base import METRICS, Column, Metric, MetricUnavailable, check_pair
from srloss.options import Option

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch


def face_model_dir() -> Path:
    """Folder of dlib's models shipped in ``face_recognition_models`` (found without importing
    the package, whose ``__init__`` needs ``pkg_resources``)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable(
            "FFR: the package face_recognition_models is not installed (pip install face_recognition_models)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceVerifier:
    """Face identity check with dlib: HOG detector, 5-point landmarks, 128-d ResNet embedding
    (King, "Dlib-ml", JMLR 2009; the embedding model scores 99.38% on LFW at distance 0.6).

    ``embed`` returns the embedding of the highest-scoring face whose HOG detection score is at
    least ``min_score`` (a false positive on skimage's astronaut scores 0.12, the face 1.16),
    or None when no face is found.
    """

    def __init__(self, threshold: float = 0.6, min_score: float = 0.5, upsample: int = 1):
        try:
            import dlib
        except ImportError as e:
            raise MetricUnavailable("FFR: dlib is not installed (pip install dlib-bin)") from e
        models = face_model_dir()
        self.threshold, self.min_score, self.upsample = threshold, min_score, upsample
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, img: torch.Tensor) -> np.ndarray | None:
        """128-d embedding of the best face in a uint8-valued CHW RGB image, or None."""
        hwc = np.ascontiguousarray(img.byte().permute(1, 2, 0).cpu().numpy())
        dets, scores, _ = self.detector.run(hwc, self.upsample, 0.0)
        best = max(((s, d) for s, d in zip(scores, dets) if s >= self.min_score), default=None, key=lambda x: x[0])
        if best is None:
            return None
        return np.asarray(self.encoder.compute_face_descriptor(hwc, self.landmarks(hwc, best[1])), dtype=np.float64)

    def compare(self, sr: torch.Tensor, hr: torch.Tensor, hr_embedding: np.ndarray | None = None) -> dict[str, float]:
        """FFR outcome for one pair of uint8 CHW RGB images.

        Returns ``gt_face`` (1 if a face is found in the ground truth, else 0, and then every
        other value is NaN: the image is excluded), ``ffr_no_face`` (1: no face detected in the
        reconstruction), ``ffr_mismatch`` (1: face found but embedding distance > threshold),
        ``ffr`` (1: either failure) and ``face_distance`` (Euclidean, NaN without a face).
        """
        check_pair(sr, hr)
        nan = math.nan
        ref = self.embed(hr) if hr_embedding is None else hr_embedding
        if ref is None:
            return {"gt_face": 0.0, "ffr": nan, "ffr_no_face": nan, "ffr_mismatch": nan, "face_distance": nan}
        emb = self.embed(sr)
        if emb is None:
            return {"gt_face": 1.0, "ffr": 1.0, "ffr_no_face": 1.0, "ffr_mismatch": 0.0, "face_distance": nan}
        dist = float(np.linalg.norm(emb - ref))
        mismatch = float(dist > self.threshold)
        return {"gt_face": 1.0, "ffr": mismatch, "ffr_no_face": 0.0, "ffr_mismatch": mismatch, "face_distance": dist}


def _rate(name: str, header: str, short: str) -> Column:
    """A failure indicator per image: its mean is a rate, the tables also give the counts."""
    return Column(name, header, short, "min", format=".3f", bounds=(0.0, 1.0), counted="faces")


@METRICS.register("ffr")
class FailedFaceRecognitions(Metric):
    """Selected per test set by ``evaluation.ffr.datasets``, not by ``evaluation.metrics``."""

    summary = "failed face recognitions: the reconstruction shows no face, or another person than the ground truth"
    title = "FFR"
    order = 90
    listed = False
    default = False
    options = (
        Option(
            "datasets",
            (),
            "The datasets whose test split FFR is measured on (face datasets); empty: FFR off.",
            type=list,
            item=Option("dataset", "", "a dataset of the study", type=str),
            unique=True,
        ),
        Option("threshold", 0.6, "Embedding distance above which identity is lost.", gt=0),
        Option("min_detection_score", 0.5, "HOG detections scoring lower are ignored."),
    )
    COLUMNS = (
        Column(
            "gt_face",
            "Ground truth has a detected face (1/0)",
            "GT face",
            hidden=True,
            excludes="without a detectable face in the ground truth",
        ),
        _rate("ffr", "FFR (rate: no face or distance > threshold)", "FFR"),
        _rate("ffr_no_face", "FFR no face detected (rate)", "FFR no face"),
        _rate("ffr_mismatch", "FFR distance > threshold (rate)", "FFR mismatch"),
        Column(
            "face_distance",
            "Face embedding distance (dlib 128-d)",
            "Face distance",
            "min",
            bounds=(0.0, math.inf),
            tabled=False,
        ),
    )

    def __init__(self, device: torch.device | str = "cpu", **options: Any):
        super().__init__(device, **options)
        self.verifier = FaceVerifier(self.threshold, self.min_detection_score)

    @classmethod
    def selected(cls, evaluation: Mapping) -> bool:
        """On for the test set at hand when ``datasets`` lists it; an evaluate job's spec says
        ``enabled`` instead (``Study.evaluation_spec``)."""
        section = evaluation.get("ffr", {})
        if "enabled" in section:
            return bool(section["enabled"])
        return evaluation.get("test_set") in section.get("datasets", ())

    @classmethod
    def configured(cls, evaluation: Mapping) -> dict[str, Any]:
        """The section's options; ``enabled`` is the job's selection, not an option."""
        return cls.check_options(**{k: v for k, v in evaluation.get("ffr", {}).items() if k != "enabled"})

    @classmethod
    def columns(cls, **options: Any) -> tuple[Column, ...]:
        return cls.COLUMNS

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        """Per image on the CPU (dlib), whole images: the border is not cropped."""
        rows = [self.verifier.compare(s.cpu(), h.cpu()) for s, h in zip(sr, hr)]
        return {column.name: [row[column.name] for row in rows] for column in self.COLUMNS}
