"""The screen's threads run at the lowest priority, and only they: the training's do not."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from walker_tui.core.threads import BACKGROUND_NICE, run_in_background


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_background_thread_lowers_its_own_priority_only():
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, object] = {}

    def background() -> None:
        seen["took"] = run_in_background()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = threading.Thread(  # a thread it starts inherits it (a torch op's OpenMP team)
            target=lambda: seen.setdefault(
                "child", os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            )
        )
        child.start()
        child.join()

    thread = threading.Thread(target=background)
    thread.start()
    thread.join(10)
    assert seen["took"] is True and seen["nice"] == BACKGROUND_NICE
    assert seen["child"] == BACKGROUND_NICE
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # not the caller's
