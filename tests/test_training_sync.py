"""A training step never synchronises host and device: logged values are read once per window.

On the CPU there is no device to wait for, so the test counts what would be a synchronisation on
a GPU: every conversion of a floating-point or boolean tensor to a Python value (``item``,
``float()``, ``bool()``, ``tolist``, ``numpy``, ``cpu``) made by srloss code, and the generator
step it happened in. Such conversions may happen only at the end of a logging window. On a
CUDA machine, ``torch.cuda.set_sync_debug_mode("error")`` checks the same for real.
"""

import logging
import math
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_training import DATASET, SMALL_D, outputs, run_spec

import srloss.training.loop
from srloss.data.prepare import prepare
from srloss.training.loop import train
from srloss.training.meter import WindowMeter

SRC = str(Path(srloss.__file__).resolve().parent)
CONVERSIONS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")
GAN = {
    "gan": {
        "terms": [
            {"name": "l1"},
            {"name": "adversarial", "weight": 0.01, "kind": "wgan_gp", "discriminator_options": SMALL_D},
        ]
    }
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    paths = {split: root / f"{split}.h5" for split in ("train", "val", "test")}
    prepare(DATASET, 2, paths)
    return paths


@pytest.fixture
def conversions(monkeypatch):
    """(generator steps so far, method) of every float/bool tensor conversion made by srloss code."""
    events, steps = [], {"n": 0}
    real_step = srloss.training.loop.generator_step

    def counting_step(*args, **kwargs):
        steps["n"] += 1
        return real_step(*args, **kwargs)

    monkeypatch.setattr(srloss.training.loop, "generator_step", counting_step)
    for name in CONVERSIONS:

        def patched(self, *args, _original=getattr(torch.Tensor, name), _name=name, **kwargs):
            by_srloss = sys._getframe(1).f_code.co_filename.startswith(SRC)
            if by_srloss and (self.dtype.is_floating_point or self.dtype == torch.bool):
                events.append((steps["n"], _name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, patched)
    return events


def test_tensors_are_converted_only_at_the_end_of_a_window(shards, tmp_path, conversions):
    spec = run_spec(GAN, {"steps": 20, "val_every": 10, "discriminator": {"steps_per_g": 2}}, "gan")
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"log_every": 4})
    assert record["status"].split()[0] in ("completed", "stalled")
    per_step = Counter(step for step, _ in conversions)
    # 0: setup and the validation before training; 4, 8, 12, 16: log points; 10, 20: validations (20: also the end)
    assert set(per_step) == {0, 4, 8, 10, 12, 16, 20}, sorted(per_step)
    for step in (4, 8, 12, 16):  # a log point reads the window's buffer in one transfer
        assert per_step[step] <= 2, [e for e in conversions if e[0] == step]
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["step"].tolist() == [0, 4, 8, 10, 12, 16, 20]
    assert history["val_psnr_y"].notna().tolist() == [True, False, False, True, False, False, True]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_cuda_synchronisation_inside_a_step(shards, tmp_path, monkeypatch):
    """CUDA's own sync detector raises on any synchronising call made during the step functions."""
    import srloss.training.meter as meter

    def strict(fn):
        def wrapped(*args, **kwargs):
            torch.cuda.set_sync_debug_mode("error")
            try:
                return fn(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")

        return wrapped

    for name in ("generator_step", "discriminator_steps", "set_learning_rates"):
        monkeypatch.setattr(srloss.training.loop, name, strict(getattr(srloss.training.loop, name)))
    monkeypatch.setattr(meter.WindowMeter, "add", strict(meter.WindowMeter.add))
    spec = run_spec(GAN, {"steps": 12, "val_every": 6, "discriminator": {"steps_per_g": 2}}, "gan")
    execution = {"log_every": 4, "device": "cuda"}
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution=execution)
    assert record["device"]["type"] == "cuda" and record["steps_done"] == 12


def test_meter_means_and_the_exact_first_non_finite_step():
    meter = WindowMeter(["loss", "mse"], ["d_loss"], 2, 5, torch.device("cpu"))
    t = torch.tensor
    for i, bad in enumerate([None, None, "g", None]):
        loss = t(math.nan) if bad == "g" else t(float(i))
        meter.add([loss, t(2.0 * i)], [[t(1.0)], [t(3.0)]])
    window = meter.read(step=14)  # the window held steps 11..14; the NaN came at its third step
    assert window.diverged_at == 13 and window.first_loss == 0.0
    assert window.means["mse"] == pytest.approx((0 + 2 + 4 + 6) / 4) and window.means["d_loss"] == 2.0
    meter.add([t(1.0), t(1.0)], [[t(math.inf)], [t(0.0)]])  # a discriminator part counts too
    assert meter.read(step=15).diverged_at == 15
    meter.add([t(1.0), t(1.0)], [[t(0.0)], [t(0.0)]])
    assert meter.read(step=16).diverged_at is None


def test_tensorboard_scalars_are_written(shards, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is in the test extras; install srloss[test]")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = run_spec({"mse": {"terms": [{"name": "mse"}]}}, {"steps": 6, "val_every": 3}, "mse")
    train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"log_every": 2, "tensorboard": True})
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [2, 3, 4, 6]
    assert [e.step for e in events.Scalars("val/psnr_y")] == [0, 3, 6] and "train/lr" in events.Tags()["scalars"]


def test_tensorboard_without_the_package_fails_at_start_naming_it(shards, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    spec = run_spec({"mse": {"terms": [{"name": "mse"}]}}, {"steps": 2}, "mse")
    with pytest.raises(RuntimeError, match=r"pip install tensorboard"):
        train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"tensorboard": True})
    assert not (tmp_path / "model.pt").exists()


def test_compile_falls_back_to_eager_with_a_warning(shards, tmp_path, monkeypatch, caplog):
    """A C++ compiler that does not exist makes inductor fail for real; training goes on eagerly."""
    import torch._inductor.config as inductor

    monkeypatch.setattr(inductor.cpp, "cxx", ("/nonexistent/c++",))
    torch._dynamo.reset()
    spec = run_spec({"mse": {"terms": [{"name": "mse"}]}}, {"steps": 3, "compile": True}, "mse")
    with caplog.at_level(logging.WARNING):
        execution = {"log_every": 3, "device": "cpu"}
        record = train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution=execution)
    torch._dynamo.reset()
    assert record["device"]["compile"] == {"requested": True, "used": False} and record["steps_done"] == 3
    assert "training.compile: torch.compile does not work on this machine" in caplog.text
