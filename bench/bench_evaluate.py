"""Evaluation throughput: images/s for the full metric set on real 512x512 photographs.

Usage: python bench/bench_evaluate.py [--device cpu|cuda] [--images 8] [--threads 1]

Measures ``srloss.evaluation.measure.MetricSet`` (what the evaluate job runs per test image) on x4
bicubic round trips of scikit-image's astronaut and coffee (512 x 512 and 400 x 600 px):
PSNR RGB/Y, SSIM Y, MSE, sharpness difference, LPIPS AlexNet and VGG, and FFR. When the LPIPS
backbone weights are not cached, LPIPS runs with a random trunk instead (same architecture,
so the same cost; said in the output). Model inference is not included.
"""

from __future__ import annotations

import argparse
import time

import torch
from skimage import data

from srloss.data.degrade import imresize
from srloss.evaluation.measure import MetricSet
from srloss.metrics import lpips_backbone_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=8, help="images per configuration")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    pairs = []
    for img in (data.astronaut(), data.coffee()):
        hr = torch.from_numpy(img.transpose(2, 0, 1).copy())
        pairs.append((imresize(imresize(hr, 1 / 4), 4).to(device), hr.to(device)))
    random = not all(lpips_backbone_path(n).is_file() for n in ("alex", "vgg"))
    base = ["psnr_rgb", "psnr_y", "ssim_y", "mse", "sharpness_diff"]
    configs = {  # label: (metrics, LPIPS nets, FFR)
        "PSNR/SSIM/MSE/sharpness": (base, ["alex"], False),
        "  + FFR (dlib)": (base, ["alex"], True),
        "  + LPIPS alex": (base + ["lpips"], ["alex"], False),
        "  + LPIPS alex + vgg + FFR (full set)": (base + ["lpips"], ["alex", "vgg"], True),
    }
    print(
        f"device {device}, {args.threads} thread(s), {args.images} images per row (512x512 and 400x600, x4 bicubic)"
        + ("; LPIPS with a random trunk (backbone weights not cached; same cost)" if random else "")
    )
    for label, (metrics, nets, ffr) in configs.items():
        evaluation = {
            "metrics": metrics,
            "lpips": {"nets": nets, "random_backbone": random},
            "ffr": {"enabled": ffr, "threshold": 0.6, "min_detection_score": 0.5},
        }
        metric_set = MetricSet(evaluation, device)
        metric_set(*pairs[0], 4)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(args.images):
            metric_set(*pairs[i % 2], 4)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        print(f"{label:40s} {args.images / seconds:7.2f} images/s  ({seconds / args.images * 1000:7.1f} ms/image)")


if __name__ == "__main__":
    main()
