import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here / "unit"))
sys.path.insert(0, str(here / "app"))


import threading  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_torch_thread_left_running():
    """After each test, let cancelled training and surface threads finish the epoch or grid chunk
    they are in: a daemon thread inside torch when the interpreter exits aborts it (exit 134)."""
    yield
    for thread in threading.enumerate():
        if thread.daemon and thread.name.startswith(("train-", "surface")):
            thread.join(30)
