"""WalkerSGD under DistributedDataParallel with 2 real ranks (torchrun, gloo): each rank scores
the candidates on its own batch, their losses are averaged across ranks, every rank takes the
same winner and holds the same weights after every step, in each mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real torchrun job

HERE = Path(__file__).parent
MODES = ("closure", "forward_only", "attached", "adam_closure", "adam_attached")


def test_every_rank_takes_the_same_step_in_each_mode():
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(HERE / "ddp_walkersgd.py"), *MODES, "unsynced"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, start_new_session=True)  # fmt: skip
    try:
        out, err = job.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)  # torchrun and its ranks: a hang fails, never stays
        out, err = job.communicate()
        pytest.fail(f"hung: {err[-2000:]}")
    assert job.returncode == 0, err[-3000:]
    want = [f"same weights on every rank: {m}" for m in MODES] + ["unsynced ranks parted"]
    assert want == out.split("\n")[:-1]  # (sync=False, the control: the averaging mattered)
