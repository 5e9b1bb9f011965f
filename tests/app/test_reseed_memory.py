"""A reseed frees the old run's data (its session, problem and surface samples) as soon as its
threads end, by reference counting alone: no cycle keeps it until the garbage collector's next
full pass (at n = 10^7 the resident memory once climbed ~115 MiB a reseed, to 1.5 GiB)."""

from __future__ import annotations

import gc
import weakref

from helpers import until

from walker_tui.config import Config
from walker_tui.ui.app import make_app


async def test_the_old_runs_data_is_freed_when_a_reseed_starts_the_next():
    app = make_app(Config(device="cpu", n=20_000), start_paused=True)
    gc.collect()
    gc.disable()  # only reference counting frees what follows
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.driver.session is not None and app.view.surface)
            old = app.driver
            session, problem = weakref.ref(old.session), weakref.ref(old.session.problem)
            data = [weakref.ref(t) for t in vars(old.session.problem).values()
                    if type(t).__name__ == "Tensor"]  # fmt: skip
            assert data  # (the problem's tensors: what a big n makes big)
            await pilot.press("r")
            await until(pilot, lambda: app.driver is not old and not old.busy)
            old = None
            await pilot.pause(0.2)
            assert session() is None and problem() is None
            assert all(t() is None for t in data)
    finally:
        gc.enable()
