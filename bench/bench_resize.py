"""Speed and accuracy of the MATLAB-compatible bicubic resize against BasicSR's, on DIV2K sizes.

    python bench/bench_resize.py --threads 1          # 2040x1356, x2/x3/x4 up and down
    python bench/bench_resize.py --quick              # 240x156 crop, 3 repeats (tests/test_bench.py)
    python bench/bench_resize.py --basicsr /tmp/basicsr

One row per case: downscaling the 2040x1356 HR image by 2, 3, 4 and upscaling its LR image
(2040/s x 1356/s) back by s, float32 CHW RGB (a photograph: scikit-image's astronaut, upscaled
x4 and cropped). Columns: median ms of srloss's ``imresize`` (polyphase FIR), of the dense
matrices it uses for non-integer scales (float32, torch) and of BasicSR's ``imresize``
(``basicsr/utils/matlab_functions.py``, the widely used Python port of MATLAB's imresize: the
anchor, measured in the same run, calls interleaved); BasicSR's time over srloss's; and each
one's largest difference from the float64 reference (dense matrices in numpy) on [0, 1] data.
Goals: upscale >= 2x and downscale >= 3x faster than BasicSR, error <= 1e-5.

BasicSR is not a dependency: the anchor is read from an installed ``basicsr`` package or from a
copy fetched with ``pip download basicsr --no-deps -d DIR`` (``--basicsr DIR``, the sdist or
an unpacked tree). Only ``matlab_functions.py`` is loaded, by path: the package's ``__init__``
imports modules that fail with this torchvision. Without it the anchor columns say skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import platform
import statistics
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import torch

from srloss.ops.resize import imresize, resize_matrix

HR_H, HR_W = 1356, 2040
QUICK_H, QUICK_W = 156, 240  # multiples of 2, 3 and 4, like DIV2K's 1356 x 2040
FACTORS = (2, 3, 4)
MEMBER = "basicsr/utils/matlab_functions.py"
GET_BASICSR = "pip download basicsr --no-deps -d /tmp/basicsr && python bench/bench_resize.py --basicsr /tmp/basicsr"
HEADER = (
    *("resize", "input", "output", "srloss ms", "dense ms", "BasicSR ms"),
    *("BasicSR / srloss", "srloss err", "BasicSR err"),
)
GOALS = {"up": 2.0, "down": 3.0}  # speed-up over BasicSR
MAX_ERR = 1e-5


def find_matlab_functions(source: str, workdir: Path) -> Path:
    """Path of BasicSR's matlab_functions.py: installed (``auto``), or in a downloaded sdist/tree."""
    if source == "auto":
        spec = importlib.util.find_spec("basicsr")  # locates the package without running __init__
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the basicsr package is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / "utils" / "matlab_functions.py"
        if not path.is_file():
            raise FileNotFoundError(f"installed basicsr has no {path}")
        return path
    root = Path(source)
    if not root.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if root.name == "matlab_functions.py":
        return root
    for archive in [root] if root.is_file() else sorted(root.glob("basicsr-*.tar.gz")):
        with tarfile.open(archive) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(MEMBER)), None)
            if member is not None:
                target = workdir / "matlab_functions.py"
                target.write_bytes(tar.extractfile(member).read())
                return target
    found = sorted(root.rglob(MEMBER)) if root.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no {MEMBER} in {source} (expected a basicsr sdist or its unpacked tree)")
    return found[0]


def load_basicsr(source: str) -> tuple[Callable | None, str]:
    """(BasicSR's imresize, where it came from), or (None, why it is skipped)."""
    if source == "none":
        return None, "--basicsr none"
    workdir = Path(tempfile.mkdtemp(prefix="bench_resize_"))
    try:
        path = find_matlab_functions(source, workdir)
    except (FileNotFoundError, tarfile.TarError) as exc:
        return None, str(exc)
    spec = importlib.util.spec_from_file_location("basicsr_matlab_functions", path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.imresize, str(path if source == "auto" else source)


def photograph(h: int, w: int) -> torch.Tensor:
    """float32 (3, h, w) in [0, 1]: the astronaut photograph, upscaled x4 when needed, cropped."""
    from skimage import data

    photo = torch.from_numpy(data.astronaut().transpose(2, 0, 1).copy()).float() / 255
    if max(h, w) > photo.shape[-1]:
        photo = imresize(photo, 4).clamp(0, 1)
    return photo[:, :h, :w].contiguous()


def reference(x: torch.Tensor, scale: float) -> np.ndarray:
    """Float64 reference: the dense MATLAB matrices applied with numpy, axis by axis."""
    h, w = x.shape[-2:]
    mh = resize_matrix(h, math.ceil(h * scale), scale)
    mw = resize_matrix(w, math.ceil(w * scale), scale)
    return mh @ x.double().numpy() @ mw.T


def dense(x: torch.Tensor, scale: float) -> torch.Tensor:
    """The float32 dense-matrix form (what imresize uses for non-integer scales)."""
    h, w = x.shape[-2:]
    mh = torch.from_numpy(resize_matrix(h, math.ceil(h * scale), scale)).float()
    mw = torch.from_numpy(resize_matrix(w, math.ceil(w * scale), scale)).float()
    return mh @ x @ mw.T


def median_ms(fns: dict[str, Callable], repeats: dict[str, int]) -> dict[str, float]:
    """Median ms per function; calls interleaved round by round so load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up (weight plans, allocator)
    for i in range(max(repeats.values())):
        for name, fn in fns.items():
            if i < repeats[name]:
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def max_err(out: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.abs(out.double().numpy() - ref).max())


def run_case(
    x: torch.Tensor, scale: float, basicsr: Callable | None, repeat: int, anchor_repeat: int
) -> tuple[dict[str, float], float, float | None]:
    """(median ms per implementation, srloss's error, BasicSR's error) for one resize."""
    ref = reference(x, scale)
    fns = {"srloss": lambda: imresize(x, scale), "dense": lambda: dense(x, scale)}
    repeats = {"srloss": repeat, "dense": anchor_repeat}
    if basicsr is not None:
        fns["basicsr"] = lambda: basicsr(x, scale)
        repeats["basicsr"] = anchor_repeat
    ms = median_ms(fns, repeats)
    err = max_err(imresize(x, scale), ref)
    anchor_err = max_err(basicsr(x, scale), ref) if basicsr is not None else None
    return ms, err, anchor_err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="timed calls of srloss's imresize per case")
    parser.add_argument("--anchor-repeat", type=int, default=3, help="timed calls of BasicSR and dense per case")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument(
        "--basicsr", default="auto", help="auto (installed package), a pip-downloaded sdist or folder, or none"
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_W}x{QUICK_H} crop, 3 repeats")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeat, args.anchor_repeat = 3, 1
    h, w = (QUICK_H, QUICK_W) if args.quick else (HR_H, HR_W)
    basicsr, origin = load_basicsr(args.basicsr)
    hr = photograph(h, w)
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s) (srloss's FIR runs on 1), "
        f"torch {torch.__version__}; image {w}x{h} RGB float32; median of {args.repeat} (srloss), "
        f"{args.anchor_repeat} (dense, BasicSR)"
    )
    print(f"BasicSR: {origin}" if basicsr else f"BasicSR anchor skipped: {origin}. To get it: {GET_BASICSR}")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    worst = {"up": math.inf, "down": math.inf}
    worst_err = 0.0
    for direction in ("down", "up"):
        for s in FACTORS:
            x = hr if direction == "down" else imresize(hr, 1 / s)
            scale = 1 / s if direction == "down" else float(s)
            ms, err, anchor_err = run_case(x, scale, basicsr, args.repeat, args.anchor_repeat)
            out_h, out_w = math.ceil(x.shape[-2] * scale), math.ceil(x.shape[-1] * scale)
            ratio = ms["basicsr"] / ms["srloss"] if basicsr else None
            worst_err = max(worst_err, err)
            if ratio is not None:
                worst[direction] = min(worst[direction], ratio)
            cells = [
                f"{direction} x{s}",
                f"{x.shape[-1]}x{x.shape[-2]}",
                f"{out_w}x{out_h}",
                f"{ms['srloss']:.1f}",
                f"{ms['dense']:.1f}",
                f"{ms['basicsr']:.1f}" if basicsr else "skipped",
                f"{ratio:.1f}" if ratio is not None else "skipped",
                f"{err:.1e}",
                f"{anchor_err:.1e}" if anchor_err is not None else "skipped",
            ]
            print("| " + " | ".join(cells) + " |")
    print(f"largest srloss error vs float64: {worst_err:.1e} (goal <= {MAX_ERR:.0e})")
    if basicsr:
        for direction, goal in GOALS.items():
            verdict = "met" if worst[direction] >= goal else "NOT met"
            slowest = f"slowest speed-up over BasicSR {worst[direction]:.1f}x"
            print(f"{direction}scale: {slowest} (goal >= {goal:g}x): {verdict}")


if __name__ == "__main__":
    main()
