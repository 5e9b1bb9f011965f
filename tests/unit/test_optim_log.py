"""WalkerSGD.log (issue 22): a script's own metrics in the step's row, read back in every format;
a value a file cannot hold is one clear error at log; every way a script ends is in the file."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from walker_tui import WalkerSGD
from walker_tui.recording.reader import Recording

FORMATS = [".csv", ".json", ".npz"]


def model_and_closure():
    torch.manual_seed(0)
    x, y = torch.randn(16, 2), torch.randn(16)
    model = torch.nn.Linear(2, 1)

    def closure_for(opt):
        def closure():
            opt.zero_grad()
            loss = ((model(x)[:, 0] - y) ** 2).mean()
            loss.backward()
            return loss

        return closure

    return model, closure_for


@pytest.mark.parametrize("suffix", FORMATS)
def test_logged_metrics_are_read_back(tmp_path, suffix):
    model, closure_for = model_and_closure()
    path = tmp_path / f"m{suffix}"
    with WalkerSGD(model.parameters(), lrs="0.01,0.1", record=path) as opt:
        for step in range(1, 7):
            opt.step(closure_for(opt))
            opt.log(grad_norm=np.float32(step), accuracy=torch.tensor(step / 10))
            if step == 3:
                opt.log(accuracy=0.35)  # again for the same step: the later value stands
        assert opt.last.metrics == {"grad_norm": 6.0, "accuracy": pytest.approx(0.6)}
    back = Recording.load(path)
    assert [e for e, _ in back.logs] == [1, 2, 3, 3, 4, 5, 6]
    merged = {}
    for epoch, values in back.logs:
        merged.setdefault(epoch, {}).update(values)
    assert merged[3] == {"grad_norm": 3.0, "accuracy": 0.35}
    assert merged[6]["accuracy"] == pytest.approx(0.6)
    assert back.options["unit"] == "step" and back.end["outcome"] == "closed"
    assert back.end["epoch"] == 6 and len(back.rows) == 6


@pytest.mark.parametrize(
    "value,kind,words",
    [
        (float("nan"), ValueError, "metric 'acc': nan is not finite"),
        (float("inf"), ValueError, "metric 'acc': inf is not finite"),
        ("0.9", TypeError, "metric 'acc': '0.9' is not a number"),
        (True, TypeError, "metric 'acc': True is not a number"),
        (torch.ones(3), TypeError, "metric 'acc': holds 3 values"),
        ([1.0], TypeError, "metric 'acc': [1.0] is not a number"),
    ],
)
def test_a_bad_value_is_one_error_and_the_file_stays_whole(tmp_path, value, kind, words):
    model, closure_for = model_and_closure()
    path = tmp_path / "bad.csv"
    opt = WalkerSGD(model.parameters(), lrs="0.01,0.1", record=path)
    opt.step(closure_for(opt))
    with pytest.raises(
        kind, match="WalkerSGD.log: " + words.replace("[", r"\[").replace("]", r"\]")
    ):
        opt.log(acc=value, fine=1.0)  # nothing of the call is written
    opt.log(acc=0.5)
    opt.close()
    back = Recording.load(path)
    assert back.logs == [(1, {"acc": 0.5})] and len(back.rows) == 1


def test_log_before_a_step_or_without_names_says_what_to_do():
    model, _ = model_and_closure()
    opt = WalkerSGD(model.parameters())
    with pytest.raises(RuntimeError, match="no step yet"):
        opt.log(acc=0.5)
    with pytest.raises(TypeError, match="give metrics by name"):
        opt.log()


SCRIPT = """
import sys, torch
from walker_tui import WalkerSGD
model = torch.nn.Linear(2, 1)
x = torch.randn(8, 2)
opt = WalkerSGD(model.parameters(), lrs="0.01,0.1", record=sys.argv[1])
def closure():
    opt.zero_grad(); loss = model(x).pow(2).mean(); loss.backward(); return loss
for _ in range(3):
    opt.step(closure)
if sys.argv[2] == "raise":
    raise ValueError("the script's own bug")
if sys.argv[2] == "with":
    with opt:
        raise KeyboardInterrupt
"""


@pytest.mark.parametrize(
    "how,outcome,detail",
    [
        ("exit", "closed", "at the script's exit, without close()"),
        ("raise", "failed", "ValueError"),
        ("with", "interrupted", "Ctrl+C"),
    ],
)
def test_how_a_script_ended_is_in_its_recording(tmp_path, how, outcome, detail):
    path = tmp_path / "s.json"
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), str(path), how], capture_output=True, timeout=120)
    end = Recording.load(path).end
    assert end["outcome"] == outcome and end["how"] == detail and end["epoch"] == 3


@pytest.mark.parametrize(
    "argv,outcome,epoch",
    [
        ([], "reached", 11),
        (["--min-loss", "0", "--epochs", "5"], "limit", 5),
        (["--lrs", "5,10"], "diverged", 18),
    ],
)
def test_run_record_ends_with_the_runs_outcome(tmp_path, argv, outcome, epoch):
    from walker_tui.cli import main

    path = tmp_path / "r.csv"
    main(["run", "--record", str(path), "--quiet", "--device", "cpu", *argv])
    end = Recording.load(path).end
    assert end["outcome"] == outcome and end["epoch"] == epoch
