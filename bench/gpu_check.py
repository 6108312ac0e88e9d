"""The checks to run when a GPU is lent: one markdown table, in under 8 minutes on an H200.

Rows (bench/README.md, "GPU check", says how to read them):

* ``train step``: srloss's training step against the bare model (``bench/train_step.py``'s
  ``row``), fp32 and bf16 autocast, for one preset pair per model family and loss kind;
* ``tiled eval``: RRDBNet on a DIV2K-sized image whole and tiled with the exact receptive radius
  as overlap (``bench/eval_memory.py``'s ``sr_pass``): the outputs' largest difference and each
  pass's peak memory, with the default TF32 convolutions and with TF32 off;
* ``amp``: every registered loss term, bf16 autocast against fp32 (value relative difference,
  gradient cosine; ``srloss.ops.precision.autocast_agreement``), through ``CompositeLoss``,
  which computes the terms that declare ``precision = "fp32"`` in float32; terms on pretrained
  networks use a random backbone (offline);
* ``2-GPU slots``: two training jobs started through ``srloss gpu-run`` at once must get distinct
  ``CUDA_VISIBLE_DEVICES`` and run concurrently; skipped with one GPU.

A wall-clock guard (``--budget-s``) skips the rows left once the budget is spent, saying so. The
table is rewritten under ``--out`` after every row (``gpu_check.md`` and the long-format
``gpu_check.csv``), so a run stopped from outside still leaves what it measured.

``--dry`` (or ``GPU_CHECK_DRY=1``): the same rows on the CPU, with tiny sizes and bf16 CPU
autocast; tests/test_bench.py runs it. Exit status 1 when a row failed.

    bench/gpu_check.sh --out gpu-check          # on a lent GPU (the wrapper sets PYTHONPATH, a hard timeout)
    GPU_CHECK_DRY=1 bench/gpu_check.sh --out /tmp/gpu-check
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import eval_memory  # bench/eval_memory.py: one SR pass, whole or tiled, with its peak memory
import torch
import train_step  # bench/train_step.py: the training step against the bare model

from srloss.losses import LOSS_TERMS
from srloss.losses.backbones import BackboneTerm
from srloss.losses.composite import build_loss
from srloss.models.base import build_model
from srloss.ops import imresize
from srloss.ops.precision import autocast_agreement
from srloss.ops.tiling import receptive_radius

ROOT = Path(__file__).resolve().parents[1]
TILE_TOLERANCE = 1e-5  # tiled vs whole, float32: rounding only (exact overlap)
AMP_REL, AMP_COSINE = 1e-3, 0.999  # an fp32-declared term under bf16 autocast (as tests/test_losses.py)
# (preset file, model arch, loss name): one pair per model family and loss kind of the presets
TRAIN_PAIRS = (
    ("config.yaml", "srcnn", "l1"),
    ("config.yaml", "espcn", "charbonnier"),
    ("config/experiments/zhao2017.yaml", "srcnn", "ssim"),
    ("config/experiments/survey-x4.yaml", "srresnet", "pixel"),
    ("config/experiments/survey-x4.yaml", "srresnet", "texture"),
    ("config/experiments/esrgan-ablation.yaml", "rrdbnet", "psnr"),
    ("config/experiments/esrgan-ablation.yaml", "rrdbnet", "ragan-vgg"),
    ("config/experiments/faces-x8.yaml", "unet_geu", "lpips"),
)


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much work each check does: the full sizes fit 8 minutes on an H200, the dry ones a CPU test."""

    train: tuple[str, ...]  # bench/train_step.py arguments
    model_options: dict  # arch -> options replacing the preset's (dry mode: small networks)
    term_options: dict  # loss term name -> options replacing the preset's (dry mode: a small discriminator)
    tile_options: dict  # options of the tiled-evaluation RRDBNet
    tile_lr: tuple[int, int]  # LR height, width of the tiled-evaluation image
    tile: int  # LR tile side
    amp_batch: int
    amp_side: int  # HR side of the AMP inputs (larger where a term's window needs it)
    slot_steps: tuple[str, ...]  # bench/train_step.py arguments of each 2-GPU slot job
    budget_s: float  # wall-clock guard: rows not started by then are skipped


FULL = Sizes(
    train=("--scale", "4", "--patch", "128", "--batch", "16", "--steps", "10", "--rounds", "5", "--warmup", "3"),
    model_options={},
    term_options={},
    tile_options={"blocks": 23},
    tile_lr=(eval_memory.HR_H // eval_memory.SCALE, eval_memory.HR_W // eval_memory.SCALE),
    tile=256,
    amp_batch=4,
    amp_side=192,
    slot_steps=("--scale", "4", "--patch", "128", "--batch", "16", "--steps", "50", "--rounds", "3", "--warmup", "3"),
    budget_s=400,
)
DRY = Sizes(
    train=("--scale", "2", "--patch", "32", "--batch", "2", "--steps", "1", "--rounds", "1", "--warmup", "1"),
    model_options={
        "srcnn": {"channels": 16, "hidden": 8},
        "espcn": {"channels": 16, "hidden": 8},
        "srresnet": {"nf": 16, "blocks": 1},
        "rrdbnet": {"nf": 16, "gc": 8, "blocks": 1},
        "unet_geu": {"nf": 16, "frames": 3},
    },
    term_options={"adversarial": {"discriminator_options": {"channels": 8}}},
    tile_options={"nf": 16, "gc": 8, "blocks": 1},
    tile_lr=(45, 61),
    tile=24,
    amp_batch=2,
    amp_side=32,
    slot_steps=("--scale", "2", "--patch", "16", "--batch", "2", "--steps", "2", "--rounds", "1", "--warmup", "1"),
    budget_s=600,
)


@dataclasses.dataclass
class Row:
    """One line of the table: ``figures`` are named numbers (or short strings), ``verdict`` is
    pass, FAIL, info (no criterion), skipped or error."""

    check: str
    case: str
    figures: dict
    verdict: str
    note: str = ""


@dataclasses.dataclass
class Job:
    """Work that yields the rows named ``cases`` of one ``check``."""

    check: str
    cases: list[str]
    run: Callable[[], list[Row]]

    def instead(self, verdict: str, note: str) -> list[Row]:
        """The rows this job would have produced, each saying why it did not."""
        return [Row(self.check, case, {}, verdict, note) for case in self.cases]


# --- train step -------------------------------------------------------------------------------


def preset_pair(path: str, arch: str, loss: str) -> tuple[dict, list]:
    """(model entry, loss terms) of a preset pair; pretrained backbones replaced by random ones (offline)."""
    for _, model, name, terms in train_step.preset_pairs([ROOT / path]):
        if model["arch"] == arch and name == loss:
            return model, [offline_term(t) for t in terms]
    raise KeyError(f"{path}: no model {arch!r} with loss {loss!r}; update TRAIN_PAIRS in bench/gpu_check.py")


def offline_term(term: dict) -> dict:
    """A config term with ``backbone_weights: random`` where its class loads a pretrained network."""
    if issubclass(LOSS_TERMS[term["name"]], BackboneTerm):
        return {**term, "backbone_weights": "random"}
    return term


def train_jobs(sizes: Sizes, device: torch.device) -> list[Job]:
    args = train_step.parse(list(sizes.train))
    jobs = []
    for path, arch, loss in TRAIN_PAIRS:
        for precision in ("fp32", "bf16"):
            case = f"{Path(path).stem}: {arch} {loss}, {precision}"
            jobs.append(Job("train step", [case], _train_row(case, path, arch, loss, precision, args, sizes, device)))
    return jobs


def _train_row(case: str, path: str, arch: str, loss: str, precision: str, args, sizes: Sizes, device):
    def run() -> list[Row]:
        model, terms = preset_pair(path, arch, loss)
        model = {**model, "options": {**model.get("options", {}), **sizes.model_options.get(arch, {})}}
        terms = [{**t, **sizes.term_options.get(t["name"], {})} for t in terms]
        cells = train_step.row(Path(path).stem, model, loss, terms, args, device, precision)
        if len(cells) != len(train_step.HEADER):
            return [Row("train step", case, {}, "error", cells[-1].removeprefix("skipped: "))]
        figures = dict(zip(train_step.HEADER[3:], cells[3:]))
        random = " random backbone (offline)." if any(t.get("backbone_weights") == "random" for t in terms) else ""
        note = f"batch {args.batch} x {args.patch} px, x{args.scale}.{random}"
        return [Row("train step", case, figures, "info", note)]

    return run


# --- tiled evaluation ---------------------------------------------------------------------------


def tiling_jobs(sizes: Sizes, device: torch.device) -> list[Job]:
    jobs = []
    for tf32 in (True, False):
        label = "TF32 convolutions (default)" if tf32 else "TF32 off"
        cases = [f"whole, {label}", f"tiled {sizes.tile}, exact overlap, {label}"]
        jobs.append(Job("tiled eval", cases, lambda tf32=tf32, cases=cases: tiling_rows(sizes, device, tf32, cases)))
    return jobs


def tiling_rows(sizes: Sizes, device: torch.device, tf32: bool, cases: list[str]) -> list[Row]:
    """Whole vs tiled RRDBNet x2 on one random image: peak memory, seconds, largest difference."""
    torch.manual_seed(0)
    scale = eval_memory.SCALE
    model = build_model("rrdbnet", scale, sizes.tile_options).to(device).eval()
    lr = torch.rand(1, 3, *sizes.tile_lr, device=device)
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        whole, whole_peak, whole_s = eval_memory.sr_pass(model, lr, scale, 0)
        tiled, tiled_peak, tiled_s = eval_memory.sr_pass(model, lr, scale, sizes.tile)
    finally:
        torch.backends.cudnn.allow_tf32 = previous
    diff = float((tiled - whole).abs().max())
    pixels = int((_uint8(tiled) != _uint8(whole)).sum())
    where = f"RRDBNet x{scale} {sizes.tile_options}, random weights, LR {sizes.tile_lr[1]}x{sizes.tile_lr[0]}"
    peak = "" if device.type == "cuda" else " CPU: peak MiB is the process's peak RSS so far (monotone)."
    verdict, criterion = "pass" if diff <= TILE_TOLERANCE else "FAIL", f"max abs diff <= {TILE_TOLERANCE}"
    figures = {"peak MiB": tiled_peak, "seconds": tiled_s, "max abs diff": diff, "uint8 px differing": pixels}
    return [
        Row("tiled eval", cases[0], {"peak MiB": whole_peak, "seconds": whole_s}, "info", where + "." + peak),
        Row("tiled eval", cases[1], figures, verdict, f"overlap {receptive_radius(model)} LR px; {criterion}."),
    ]


def _uint8(img: torch.Tensor) -> torch.Tensor:
    """What evaluation scores: [0, 1] floats rounded to 8 bits."""
    return img.clamp(0, 1).mul(255).round().to(torch.uint8)


# --- AMP agreement ------------------------------------------------------------------------------


def amp_jobs(sizes: Sizes, device: torch.device) -> list[Job]:
    return [Job("amp", [name], lambda name=name: [amp_row(name, sizes, device)]) for name in sorted(LOSS_TERMS)]


def amp_row(name: str, sizes: Sizes, device: torch.device) -> Row:
    """One term through ``CompositeLoss``, bf16 autocast vs fp32, on a near-converged pair."""
    cls = LOSS_TERMS[name]
    term = offline_term({"name": name, **sizes.term_options.get(name, {})})
    side = fitting_side(cls, sizes.amp_side)
    torch.manual_seed(0)
    loss = build_loss([term]).to(device)
    sr, hr = near_pair(sizes.amp_batch, side, device)
    rel, cosine = autocast_agreement(loss, sr, hr, {"lr": imresize(hr, 0.5)})
    figures = {"precision": cls.precision, "value rel. diff": rel, "gradient cosine": cosine}
    note = f"batch {sizes.amp_batch} x {side} px."
    if cls.precision == "fp32":
        verdict = "pass" if rel <= AMP_REL and cosine > AMP_COSINE else "FAIL"
        return Row("amp", name, figures, verdict, note + f" fp32 term: rel. diff <= {AMP_REL}, cosine > {AMP_COSINE}.")
    what = "random backbone (offline)" if "backbone_weights" in term else "random discriminator"
    return Row("amp", name, figures, "info", f"{note} bf16 by design; {what}.")


def fitting_side(cls: type, side: int) -> int:
    """The smallest multiple of 16 from ``side`` on whose patches the term runs (MS-SSIM needs 176 px)."""
    options = cls.check_options()
    for candidate in range(side, 1025, 16):
        try:
            cls.check_patch_size(options, candidate)
            return candidate
        except ValueError:
            continue
    raise ValueError(f"{cls.__name__}: no patch side up to 1024 px fits its default options")


def near_pair(batch: int, side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth HR image and an SR image close to it (late training, where a loss is small)."""
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(batch, 3, side // 8, side // 8, generator=g)
    hr = torch.nn.functional.interpolate(coarse, size=side, mode="bicubic").clamp(0, 1)
    sr = (hr + 0.01 * torch.randn(hr.shape, generator=g)).clamp(0, 1)
    return sr.to(device), hr.to(device)


# --- 2-GPU slots --------------------------------------------------------------------------------

SLOT_CASE = "two training jobs through srloss gpu-run"


def slot_jobs(sizes: Sizes, device: torch.device) -> list[Job]:
    return [Job("2-GPU slots", [SLOT_CASE], lambda: [slot_row(sizes, device)])]


def slot_row(sizes: Sizes, device: torch.device) -> Row:
    """Start two training jobs at once through ``srloss gpu-run`` (srloss/gpu.py): each must get its
    own device and both must train at the same time. Dry mode: two fake GPU ids, jobs on the CPU."""
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and gpus < 2:
        return Row("2-GPU slots", SLOT_CASE, {}, "skipped", f"skipped ({'one GPU' if gpus == 1 else f'{gpus} GPUs'})")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SRLOSS_GPU_LOCK_DIR=str(Path(tmp) / "locks"), PYTHONUNBUFFERED="1")
        if device.type == "cpu":
            env["SRLOSS_GPUS"] = "0,1"
            env.pop("CUDA_VISIBLE_DEVICES", None)
        cmd = [sys.executable, "-m", "srloss", "gpu-run", "--", sys.executable, __file__, "--slot-job", tmp]
        cmd += ["--device", device.type, "--", *sizes.slot_steps]
        procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in (1, 2)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
    failed = [err.strip().splitlines()[-1:] for p, (_, err) in zip(procs, outs) if p.returncode != 0]
    if failed:
        return Row("2-GPU slots", SLOT_CASE, {}, "FAIL", f"a job failed: {failed}")
    jobs = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    visible = [j["visible"] for j in jobs]
    overlap = min(j["end"] for j in jobs) - max(j["start"] for j in jobs)
    figures = {"devices": " and ".join(map(str, visible)), "overlap s": overlap}
    figures.update({f"ms/step job {i + 1}": j["ms_step"] for i, j in enumerate(jobs)})
    verdict = "pass" if len(set(visible)) == 2 and None not in visible and overlap > 0 else "FAIL"
    note = "dry: fake GPU ids 0,1 (SRLOSS_GPUS), jobs on the CPU." if device.type == "cpu" else f"{gpus} GPUs."
    return Row("2-GPU slots", SLOT_CASE, figures, verdict, note + " Devices distinct and overlap > 0.")


def slot_job(barrier: Path, device: str, train_args: list[str]) -> None:
    """Child: wait until both jobs have their device, train (srcnn, L1), print one JSON line."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    args, model, terms = train_step.parse(train_args), {"arch": "srcnn"}, [{"name": "l1"}]
    build_loss(terms), build_model("srcnn", args.scale, {})  # imports done before the clock starts
    warm = torch.nn.Parameter(torch.zeros(1))
    warm.grad = torch.zeros(1)
    torch.optim.Adam([warm]).step()  # a first optimiser step imports torch._dynamo: seconds
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("ready-*"))) < 2:  # a second job held back by a lock never arrives
        if time.monotonic() > deadline:
            sys.exit(f"slot job: the other job did not start within 120 s (CUDA_VISIBLE_DEVICES={visible})")
        time.sleep(0.05)
    start = time.time()
    (barrier / f"started-{os.getpid()}").touch()
    real, _ = train_step.bench_pair(model, terms, args, torch.device(device))
    # a job holds its slot until the other has started training too (tiny dry-mode jobs can finish
    # before a descheduled partner starts): both jobs then held their devices at the same time
    while len(list(barrier.glob("started-*"))) < 2 and time.monotonic() < deadline + 60:
        time.sleep(0.05)
    print(json.dumps({"visible": visible, "start": start, "end": time.time(), "ms_step": real * 1e3}))


# --- the table ----------------------------------------------------------------------------------


def header(device: torch.device, dry: bool) -> str:
    cuda = f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if torch.version.cuda else "no CUDA"
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mode = "dry mode (CPU, tiny sizes, bf16 CPU autocast)" if dry else f"{gpus} GPU(s) visible"
    return (
        f"device: {train_step.device_name(device)}; torch {torch.__version__} ({cuda}); "
        f"python {platform.python_version()}; {mode}; {datetime.date.today().isoformat()}"
    )


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e5) else f"{value:.2f}"
    return str(value)


def markdown(head: str, rows: list[Row]) -> str:
    lines = [head, "", "| check | case | figures | verdict | note |", "|---|---|---|---|---|"]
    for r in rows:
        figures = "; ".join(f"{k} {fmt(v)}" for k, v in r.figures.items())
        cells = (r.check, r.case, figures, r.verdict, r.note)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    counts = {v: sum(r.verdict == v for r in rows) for v in ("pass", "FAIL", "info", "skipped", "error")}
    lines += ["", "verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items())]
    return "\n".join(lines) + "\n"


def write(out: Path, head: str, rows: list[Row]) -> None:
    """``gpu_check.md`` (the table) and ``gpu_check.csv`` (one line per figure) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.md").write_text(markdown(head, rows))
    with open(out / "gpu_check.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["check", "case", "figure", "value", "verdict", "note"])
        for r in rows:
            for name, value in r.figures.items() or [("", "")]:
                w.writerow([r.check, r.case, name, value, r.verdict, r.note])


def run_jobs(
    jobs: list[Job], budget_s: float, device: torch.device, on_rows: Callable[[list[Row], float], None]
) -> None:
    """Run each job unless the budget is spent; an exception becomes the job's rows with verdict error.
    ``on_rows`` gets the rows so far and the job's seconds after each job."""
    start, rows = time.monotonic(), []
    for job in jobs:
        job_start = time.monotonic()
        if job_start - start > budget_s:
            rows += job.instead("skipped", f"skipped: the time budget ({budget_s:.0f} s) was spent")
        else:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)  # a row's peak is its own
            try:
                rows += job.run()
            except Exception as e:  # noqa: BLE001 (a row that cannot run says why; the others still run)
                rows += job.instead("error", f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}")
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        on_rows(rows, time.monotonic() - job_start)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry", action="store_true", help="CPU, tiny sizes (also GPU_CHECK_DRY=1)")
    p.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for gpu_check.md and gpu_check.csv")
    p.add_argument("--budget-s", type=float, default=None, help="skip the rows not started by then (default: 400)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (dry mode default: 1)")
    p.add_argument("--slot-job", type=Path, default=None, help=argparse.SUPPRESS)  # the 2-GPU slot test's child
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    p.add_argument("train_args", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.dry = args.dry or os.environ.get("GPU_CHECK_DRY", "") not in ("", "0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.slot_job is not None:
        torch.set_num_threads(1)
        slot_job(args.slot_job, args.device, args.train_args)
        return 0
    if not args.dry and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU is visible here; run it where one is, or with --dry (GPU_CHECK_DRY=1)")
    sizes = DRY if args.dry else FULL
    torch.set_num_threads(args.threads or (1 if args.dry else torch.get_num_threads()))
    device = torch.device("cpu" if args.dry else "cuda")
    head = header(device, args.dry)
    print(head, file=sys.stderr, flush=True)
    jobs = train_jobs(sizes, device) + tiling_jobs(sizes, device) + amp_jobs(sizes, device) + slot_jobs(sizes, device)
    done: list[Row] = []

    def on_rows(rows: list[Row], seconds: float) -> None:
        done[:] = rows
        write(args.out, head, rows)
        print(f"  {seconds:6.1f} s  {rows[-1].check}: {rows[-1].case}: {rows[-1].verdict}", file=sys.stderr, flush=True)

    run_jobs(jobs, sizes.budget_s if args.budget_s is None else args.budget_s, device, on_rows)
    print(markdown(head, done), end="")
    print(f"written: {args.out / 'gpu_check.md'}, {args.out / 'gpu_check.csv'}")
    return 1 if any(r.verdict in ("FAIL", "error") for r in done) else 0


if __name__ == "__main__":
    sys.exit(main())
