"""The app under torchrun, in a real pseudo-terminal: rank 0 draws and takes the keys, rank 1
follows; a pause longer than the collective timeout ends nothing; q ends every rank."""

from __future__ import annotations

import sys
import time

import pytest
from helpers import Terminal, descendants, running

# real torchrun jobs: the suite's slowest tests (`pytest -m 'not slow'` leaves them out)
pytestmark = pytest.mark.slow


def test_the_app_under_torchrun_pauses_past_the_timeout_steps_races_and_quits():
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "walker_tui", "--", "--device", "cpu", "--paused", "--n", "400"]  # fmt: skip
    env = {"TERM": "xterm-256color", "OMP_NUM_THREADS": "1", "WALKER_TUI_TIMEOUT": "4"}
    term = Terminal(argv, env)
    try:
        term.wait_for("paused", timeout=90)
        term.wait_for("CPU × 2 ranks", timeout=30)
        term.read(10)  # paused for longer than the 4 s a collective may wait
        term.wait_for("epoch 1", start=term.press(b"n"))
        term.wait_for("epoch 2", start=term.press(b"n"))
        at = term.press(b"s")  # the race: rank 1 adds the stepper too, or the next step hangs
        term.wait_for("stepper 0.3", start=at)
        term.wait_for("epoch 3", start=term.press(b"n"))
        ranks = descendants(term.pid)
        assert len(ranks) >= 2
        term.press(b"q")
        code = term.exit_code(60)
        assert code == 0, (code, term.text[-3000:])
        assert "error" not in term.text.split("walker-tui")[-1].lower()
        time.sleep(1)
        left = [p for p in ranks if running(p)]
        assert not left, f"ranks still running after quit: {left}"
    finally:
        term.kill()
