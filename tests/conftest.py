import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here / "unit"))
sys.path.insert(0, str(here / "app"))


import os  # noqa: E402
import threading  # noqa: E402

# the status line's live device figure (walker_tui.core.devices) changes from run to run: off in the
# tests (snapshots, status lines), on where a test turns it on with a fake device
os.environ.setdefault("WALKER_TUI_DEVICE_FIGURES", "0")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_torch_thread_left_running():
    """After each test, let cancelled training and surface threads finish the epoch or grid chunk
    they are in: a daemon thread inside torch when the interpreter exits aborts it (exit 134)."""
    yield
    for thread in threading.enumerate():
        if thread.daemon and thread.name.startswith(("train-", "surface")):
            thread.join(30)
