"""Redraw pacing: the screen's CPU (the painter's builds and the UI thread's work) keeps to its
share of the time between frames, a smaller one while the training runs flat out."""

from __future__ import annotations

import time
from types import SimpleNamespace

import walker_tui.ui.base as base
from walker_tui.ui.base import PanelApp


class Plot:
    pending = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def take_render_seconds(self) -> float:
        spent, self.seconds = self.seconds, 0.0
        return spent


def app(flat_out: bool, build_seconds: float) -> SimpleNamespace:
    plots = [Plot(build_seconds / 2), Plot(build_seconds / 2)]
    stub = SimpleNamespace(dirty=True, _next_redraw=0.0, _redraw_at=time.monotonic(), redraws=0)
    stub._ui_cpu = time.thread_time()  # nothing spent on this thread since
    stub._plots = lambda: plots
    stub.training_flat_out = lambda: flat_out
    stub.redraw = lambda: setattr(stub, "redraws", stub.redraws + 1)
    return stub


def wait_after(stub: SimpleNamespace) -> float:
    now = time.monotonic()
    PanelApp._redraw_if_dirty(stub)
    assert stub.redraws == 1 and not stub.dirty
    return stub._next_redraw - now


def test_a_frames_cost_sets_the_wait_for_the_next():
    # 40 ms of builds: a quarter of the time while training waits, a twentieth while flat out
    assert abs(wait_after(app(False, 0.04)) - 0.04 / base.REDRAW_SHARE) < 0.02
    assert abs(wait_after(app(True, 0.04)) - 0.04 / base.REDRAW_SHARE_TRAINING) < 0.02


def test_cheap_frames_come_at_most_every_frame_interval_and_a_burst_holds_no_frame_long():
    assert abs(wait_after(app(False, 0.0)) - base.REDRAW_INTERVAL) < 0.02
    assert wait_after(app(True, 10.0)) <= base.REDRAW_WAIT_MAX + 0.01


def test_time_since_the_last_frame_counts_and_nothing_is_drawn_before_its_time():
    stub = app(True, 0.04)
    stub._redraw_at = time.monotonic() - 5.0  # a quiet spell: the next redraw is not held
    assert wait_after(stub) <= base.REDRAW_INTERVAL + 0.01
    stub.dirty, stub._next_redraw = True, time.monotonic() + 1.0
    PanelApp._redraw_if_dirty(stub)
    assert stub.redraws == 1 and stub.dirty  # not yet
