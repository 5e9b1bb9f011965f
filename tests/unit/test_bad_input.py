"""Bad input gets a one-line error naming the problem and exit status 2, before any work."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import children
import pytest
import torch

from walker_tui.cli import main
from walker_tui.core.grid import MAX_RATES
from walker_tui.recording.reader import Recording

BAD = [
    (["--lrs", ""], "--lrs: empty"),
    (["--lrs", "0.1,x"], "not a number"),
    (["--lrs", "nan"], "not finite"),
    (["--lrs", "0.1,inf"], "not finite"),
    (["--lrs", "0"], "not positive"),
    (["--lrs", "-0.5,0.1"], "not positive"),
    (["--lrs", "1:0.1:0.1"], "yields no rate"),
    (["--lrs", "log:0:1:5"], "cannot touch 0"),
    (["--lrs", f"lin:0.1:1:{MAX_RATES + 1}"], f"limit of {MAX_RATES}"),
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "-5"], "--n must be at least 1"),
    (["--n", "1.5"], "not a whole number"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--min-loss", "-1"], "--min-loss"),
    (["--min-loss", "nan"], "not finite"),
    (["--seed", "x"], "--seed: 'x' is not a whole number"),
    (["--seed", "99999999999999999999"], "--seed: 99999999999999999999 is out of range"),
    (["--seed", "-9223372036854775809"], "--seed: -9223372036854775809 is out of range"),
    (["--problem", "digits", "--seed", "18446744073709551616"], "is out of range"),
    (["--w0", "1"], "linear has 2 weights, got 1 number"),
    (["--w0", "1,2,3"], "linear has 2 weights, got 3 numbers"),
    (["--w0", "a,b"], "two numbers for 2-D problems"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "cuda:x"], "unknown device"),
    (["--problem", "quartic"], "choose from 'linear'"),
]
RUN_ONLY = [
    (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--optimizer", "stepper", "--lr", "inf"], "not finite"),
    (["--optimizer", "adam", "--lr", "-1"], "--lr: -1: adam's rate must be positive and finite"),
    (["--lr", "0", "--optimizer", "momentum"], "--lr: 0: momentum's rate must be positive"),
    (["--optimizer", "lbfgs", "--lr", "nan"], "nan is not finite: lbfgs's rate"),
    (["--optimizer", "nesterov"], "choose from 'walker', 'stepper', 'momentum'"),
    (["--record", "/no/such/folder/r.csv"], "does not exist"),
    (["--record", "/proc/r.csv"], "cannot be written"),
    (["--record", "r.txt"], "must end in .csv, .json or .npz"),
]
NO_GPU = [] if torch.cuda.is_available() else [(["--device", "cuda"], "available: cpu")]
NO_GPU += [] if torch.cuda.device_count() > 7 else [(["--device", "cuda:7"], "not available")]
NO_MPS = [] if torch.backends.mps.is_available() else [(["--device", "mps"], "not available")]


def fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no usage dump, no traceback
    return lines[0]


@pytest.mark.parametrize("command", [[], ["run"], ["bench"]], ids=["app", "run", "bench"])
@pytest.mark.parametrize("args, words", BAD + NO_GPU + NO_MPS, ids=lambda v: str(v))
def test_bad_input_everywhere(command, args, words, capsys):
    line = fails(command + args, capsys)
    assert words in line
    assert line.startswith("walker-tui")


@pytest.mark.parametrize("args, words", RUN_ONLY, ids=lambda v: str(v))
def test_bad_run_input(args, words, capsys):
    assert words in fails(["run", *args], capsys)


@pytest.mark.parametrize("seed", ["99999999999999999999", "-9223372036854775809"])
def test_serve_says_a_seed_out_of_range_in_one_line(seed, capsys):
    assert "--seed" in fails(["serve", "--seed", seed], capsys)


def test_existing_record_needs_force(tmp_path, capsys):
    target = tmp_path / "r.json"
    target.write_text("keep me")
    assert "add --force" in fails(["run", "--record", str(target)], capsys)
    assert target.read_text() == "keep me"
    assert main(["run", "--quiet", "--record", str(target), "--force", "--device", "cpu"]) == 0
    assert len(Recording.load(target).rows) == 11


def test_limit_is_said():
    from walker_tui.core.grid import GridError, parse_lrs

    with pytest.raises(GridError, match=str(MAX_RATES)):
        parse_lrs(f"lin:0.1:1:{MAX_RATES + 1}")


def cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "walker_tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_errors_are_not_tracebacks_in_a_real_process():
    proc = cli("run", "--lrs", "1:0.1:0.1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_out_of_memory_names_the_size():
    proc = cli("run", "--n", "1000000000000", "--device", "cpu")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "out of memory at --n 1000000000000" in proc.stderr


def test_wild_rate_walks_exactly_as_without_it():
    a = cli("run", "--lrs", "0.1,0.5,0.9,1e30", "--device", "cpu")
    b = cli("run", "--lrs", "0.1,0.5,0.9", "--device", "cpu")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_diverging_stepper_says_so():
    proc = cli("run", "--optimizer", "stepper", "--lr", "5", "--device", "cpu")
    assert proc.returncode == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("Diverged at epoch") and "diverged" in last.lower()


def test_walker_with_only_wild_rates_diverges():
    proc = cli("run", "--lrs", "1e30,1e31", "--device", "cpu")
    assert proc.returncode == 1
    assert proc.stdout.strip().splitlines()[-1] == (
        "Diverged at epoch 2: no candidate has a finite loss."
    )


def test_bench_reports_a_diverged_stepper():
    proc = cli("bench", "--stepper-lrs", "0.5,5", "--repeat", "1", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    rows = [r.split("\t") for r in proc.stdout.splitlines() if r.count("\t") == 7][1:]
    assert rows[2][0] == "stepper" and rows[2][2] == "diverged"


def endless(command: str, errors, *extra: str) -> subprocess.Popen:
    """``walker-tui COMMAND`` on the CPU with no stopping point, its stderr to ``errors`` (killed
    after the test)."""
    argv = [sys.executable, "-m", "walker_tui", command, "--epochs", "100000000"]
    argv += ["--min-loss", "0", "--device", "cpu", *extra]
    with errors.open("w") as err:  # the child keeps its own copy
        return children.spawn(argv, stdout=subprocess.PIPE, stderr=err, text=True)


class Lines:
    """A child's stdout, read on a thread so that waiting for its lines has a deadline: a child
    that dies or hangs fails the test with what it said, instead of blocking it for ever."""

    def __init__(self, proc: subprocess.Popen, errors) -> None:
        self.proc, self.errors = proc, errors
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def take(self, count: int, timeout: float = 60.0) -> list[str]:
        lines: list[str] = []
        end = time.monotonic() + timeout
        while len(lines) < count:
            try:
                line = self.queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"only {len(lines)} of {count} lines in {timeout:.0f} s")
            if line is None:
                self.proc.wait(timeout=30)
                pytest.fail(
                    f"the child ended (exit {self.proc.returncode}) after {len(lines)} of "
                    f"{count} lines: {self.errors.read_text()[-2000:]}"
                )
            lines.append(line)
        return lines

    def finish(self, timeout: float = 60.0) -> list[str]:
        """Wait for the child to exit (killed after ``timeout``); the lines it wrote since."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            pytest.fail(f"the child was still running {timeout:.0f} s later")
        self.thread.join(timeout=30)
        self.proc.stdout.close()
        rest = []
        while (line := self.queue.get(timeout=30)) is not None:
            rest.append(line)
        return rest


def test_ctrl_c_keeps_rows_and_a_valid_record(tmp_path):
    record = tmp_path / "run.csv"
    errors = tmp_path / "stderr"
    proc = endless("run", errors, "--record", str(record))
    # wait until it is training (a few hundred rows out), then interrupt
    lines = Lines(proc, errors)
    rows = lines.take(300)
    proc.send_signal(signal.SIGINT)
    out = lines.finish()
    err = errors.read_text()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted at epoch" in err
    printed = len(rows) + len(out) - 1  # minus the header
    saved = Recording.load(record)
    assert len(saved.rows) >= printed - 1 and saved.rows[0][0] == 1
    epochs = [r[0] for r in saved.rows]
    assert epochs == list(range(1, len(epochs) + 1))


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_ctrl_c_in_bench_exits_130(tmp_path):
    errors = tmp_path / "stderr"
    proc = endless("bench", errors)
    lines = Lines(proc, errors)
    lines.take(1)  # the title line: torch is loaded, work has begun
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    lines.finish()
    err = errors.read_text()
    assert proc.returncode == 130 and "Traceback" not in err, err
