"""Devices: what ``--device`` resolves to on machines with and without GPUs (faked), and the same
walk on every device this machine has and through every host-transfer path (one epoch at a time,
or batches that the run must rewind inside)."""

import pytest
import torch

from walker_tui.core.devices import resolve_device
from walker_tui.core.grid import parse_lrs
from walker_tui.core.problems.base import PROBLEMS
from walker_tui.core.problems.regression import LinearProblem
from walker_tui.core.problems.torch_model import pass_order
from walker_tui.core.problems.zoo import make_problem
from walker_tui.core.seeds import SEED_MAX, SEED_MIN, seed64
from walker_tui.core.trainers.loop import run
from walker_tui.core.trainers.walker import Walker

CUDA = torch.cuda.device_count() if torch.cuda.is_available() else 0
MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
GPUS = (["cuda"] if CUDA else []) + (["mps"] if MPS else [])


def fake_machine(monkeypatch, cuda: int = 0, mps: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


NONE = "available: cpu"
TWO = "available: cpu, cuda, cuda:0, cuda:1"
RESOLVES = [
    # (CUDA devices, MPS, --device, the device, or "!" and the words of the error)
    (0, False, "auto", "cpu"),
    (0, False, "cpu", "cpu"),
    (0, False, " CPU ", "cpu"),
    (0, False, "cuda", f"!device 'cuda' is not available here; {NONE}"),
    (0, False, "cuda:0", f"!device 'cuda:0' is not available here; {NONE}"),
    (0, False, "mps", f"!device 'mps' is not available here; {NONE}"),
    (0, False, "tpu", "!unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"),
    (0, False, "cuda:x", "!unknown device 'cuda:x'"),
    (2, False, "auto", "cuda"),
    (2, False, "cuda", "cuda"),
    (2, False, "cuda:1", "cuda:1"),
    (2, False, "CUDA:0", "cuda:0"),
    (2, False, "cpu", "cpu"),
    (2, False, "cuda:2", f"!device 'cuda:2' is not available here; {TWO}"),
    (2, False, "mps", f"!device 'mps' is not available here; {TWO}"),
    (0, True, "auto", "mps"),
    (0, True, "mps", "mps"),
    (0, True, "cuda", "!device 'cuda' is not available here; available: cpu, mps"),
    (1, True, "auto", "cuda"),  # CUDA before MPS
]


@pytest.mark.parametrize("cuda, mps, spec, want", RESOLVES, ids=lambda v: repr(v))
def test_resolve_device(monkeypatch, cuda, mps, spec, want):
    fake_machine(monkeypatch, cuda, mps)
    if want.startswith("!"):
        with pytest.raises(ValueError) as error:
            resolve_device(spec)
        assert want[1:] in str(error.value)
    else:
        assert resolve_device(spec) == torch.device(want)


def test_resolve_device_on_this_machine():
    want = "cuda" if CUDA else "mps" if MPS else "cpu"
    assert resolve_device("auto") == torch.device(want)
    for spec in ["cuda", "mps"]:
        if spec in GPUS:
            assert resolve_device(spec).type == spec
        else:
            with pytest.raises(ValueError, match="not available"):
                resolve_device(spec)


def test_a_seed_is_its_data():
    a, b = LinearProblem(seed=5), LinearProblem(seed=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.w0, b.w0)
    assert not torch.equal(a.x, LinearProblem(seed=6).x)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_every_seed_torch_takes_builds_every_problem(problem):
    # the ends of manual_seed's range, and seeds whose derived ones (seed + 1, the mini-batch
    # order's seed * 1_000_003 + epoch) fall past it; -1 is 2**64 - 1 to torch, as before
    for seed in (SEED_MIN, SEED_MAX, 10**16, -(10**16)):
        p = make_problem(problem, 20, seed, "cpu")
        p.plane()
    a, b = make_problem(problem, 20, -1, "cpu"), make_problem(problem, 20, SEED_MAX, "cpu")
    assert torch.equal(a.w0, b.w0)
    assert seed64(17) == 17 and seed64(-1) == SEED_MAX


def test_a_mini_batch_order_past_int64_is_drawn():
    assert pass_order(10, 10**16, 3).sort().values.tolist() == list(range(10))
    assert torch.equal(pass_order(10, 5, 3), pass_order(10, 5, 3))


@pytest.mark.skipif(not GPUS, reason="no GPU here: nothing to compare the CPU with")
@pytest.mark.parametrize("device", GPUS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_same_seed_same_start_and_data_on_every_device(device, problem):
    cpu, gpu = make_problem(problem, 100, 17, "cpu"), make_problem(problem, 100, 17, device)
    assert gpu.device.type == device
    assert torch.equal(cpu.w0, gpu.w0.cpu())
    for name in ("xt", "y"):
        if hasattr(cpu, name):
            assert torch.equal(getattr(cpu, name), getattr(gpu, name).cpu()), name


def walk(device, every, problem="linear", lrs="0.1:1:0.1", epochs=100, min_loss=0.1, **kw):
    rows = []
    trainer = Walker(make_problem(problem, 100, 17, device), parse_lrs(lrs), **kw)
    outcome = run(
        trainer,
        epochs,
        min_loss,
        on_epoch=lambda r: rows.append((r.epoch, int(r.winner), r.lr, r.loss, r.moved)),
        sync_every=every,
    )
    return rows, outcome, trainer


# every device here, and on the CPU the batched path the GPUs take (16 epochs a transfer; 3 puts
# the notebook's stop at epoch 11 inside a batch, which must rewind)
PATHS = [("cpu", 3), ("cpu", 16)] + [(d, 16) for d in GPUS] + [(d, 1) for d in GPUS]
WALKS = {
    "notebook": dict(),  # stops at the target, epoch 11
    "adaptive rosenbrock": dict(
        problem="rosenbrock", epochs=60, min_loss=0.0, adaptive=True
    ),  # rates move and some epochs stay put: each epoch's rates come back from the device
}


@pytest.mark.parametrize("name", WALKS)
@pytest.mark.parametrize("device, every", PATHS, ids=lambda v: str(v))
def test_same_walk_on_every_device_and_path(device, every, name):
    want, want_outcome, cpu = walk("cpu", 1, **WALKS[name])
    got, outcome, trainer = walk(device, every, **WALKS[name])
    assert (outcome.state, outcome.epochs) == (want_outcome.state, want_outcome.epochs)
    assert [(r[0], r[1], r[4]) for r in got] == [(r[0], r[1], r[4]) for r in want]  # winners
    # another device rounds float32 in another order (sums, the adaptive grid's powers): the
    # same walk, with noise that Rosenbrock's valley grows to ~1e-4 over 60 epochs
    exact = device == "cpu"
    for (_, _, lr, loss, _m), (_, _, ref_lr, ref, _n) in zip(got, want, strict=True):
        if exact:
            assert (lr, loss) == (ref_lr, ref)
        else:
            assert lr == pytest.approx(ref_lr, rel=1e-5) and loss == pytest.approx(ref, rel=1e-3)
    assert trainer.epoch == cpu.epoch  # a batch that overshot was rewound
    assert torch.allclose(trainer.w.cpu(), cpu.w, rtol=0 if exact else 1e-3, atol=0)
    if name == "notebook":
        assert outcome.epochs == 11 and [r[1] for r in got][:3] == [0, 4, 8]
