import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here / "unit"))
sys.path.insert(0, str(here / "app"))


import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

# the status line's live device figure (walker_tui.ui.device_monitor) changes from run to run: off
# in the tests (snapshots, status lines), on where a test turns it on with a fake device
os.environ.setdefault("WALKER_TUI_DEVICE_FIGURES", "0")

import pytest  # noqa: E402
from children import reap  # noqa: E402

# Threads already waited on after an earlier test: a thread a failed test left running (a surveyor
# never closed waits for windows for ever) costs that test its wait, not every later test.
_waited_on: set[threading.Thread] = set()
THREAD_WAIT = 30.0  # seconds, for all of a test's threads together


@pytest.fixture(autouse=True)
def _screen_threads_at_the_tests_priority(monkeypatch):
    """The painter and surface threads run at nice 19 (walker_tui.core.threads) so that training
    comes first. Beside other busy processes such a thread gets ~1.5% of a core, and a test
    waiting on a surface timed out after 30 s; the tests check what those threads do, and
    tests/unit/test_threads.py checks their priority."""
    monkeypatch.setattr("walker_tui.core.surface.run_in_background", lambda: False)
    monkeypatch.setattr("walker_tui.ui.widgets.painter.run_in_background", lambda: False)


@pytest.fixture(autouse=True)
def _no_torch_thread_left_running():
    """After each test, let cancelled training and surface threads finish the epoch or grid chunk
    they are in: a daemon thread inside torch when the interpreter exits aborts it (exit 134).
    Child processes the test started (tests/unit/children.py) are killed."""
    yield
    reap()
    end = time.monotonic() + THREAD_WAIT
    for thread in threading.enumerate():
        if thread.daemon and thread.name.startswith(("train-", "surface")):
            if thread not in _waited_on:
                thread.join(max(0.0, end - time.monotonic()))
            if thread.is_alive():
                _waited_on.add(thread)
