"""Make the README's screenshots from the running app: `python scripts/screenshots.py [NAME...]`.

Each picture is the real app driven by key presses (Textual's Pilot), saved as SVG in screenshots/.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from walker_tui.app import make_app
from walker_tui.config import Config

OUT = Path(__file__).resolve().parent.parent / "screenshots"


async def wait(pilot, cond, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the app")
        await pilot.pause(0.05)
    await pilot.pause(0.3)
    app = pilot.app
    while not app.settled:  # every frame asked for is built and on screen
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the panels")
        await pilot.pause(0.05)


ONLY = set(sys.argv[1:])  # names to make (none: all of them)


async def shot(name: str, size: tuple[int, int], cfg: Config, keys: list[str], cond) -> None:
    if ONLY and name not in ONLY:
        return
    app = make_app(cfg)
    async with app.run_test(size=size) as pilot:
        await wait(pilot, lambda: app.histories)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.05)
        await wait(pilot, lambda: cond(app))
        path = OUT / f"{name}.svg"
        app.save_screenshot(str(path))
        print(f"wrote {path.relative_to(OUT.parent)}")
    app.still_busy(wait=30)  # a thread inside torch when the interpreter exits aborts it


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    base = dict(device="cpu")
    # The bare command: the notebook's problem, walked to the target.
    await shot("walker-120x40", (120, 40), Config(**base, pace=8), [], lambda a: a.done)
    # A race against the notebook's stepper (0.3) and a fast one (0.7).
    await shot(
        "race-120x40",
        (120, 40),
        Config(**base, pace=0, race=[("stepper", 0.3), ("stepper", 0.7)]),
        ["s"],
        lambda a: "stepper 0.3" in a.histories and a.done,
    )
    # The smallest terminal it is built for, paused mid-walk and stepped back one epoch.
    await shot(
        "paused-80x24",
        (80, 24),
        Config(**base, pace=4),
        ["space", "n", "n"],
        lambda a: a.state == "paused" and a.latest_epoch >= 2,
    )
    # Beyond the notebook: the tilted bowl (kappa 10) raced by a stepper, heavy ball and the
    # exact line search, on the loss-evaluation axis (key x) that a fair race counts.
    await shot(
        "quadratic-race-120x40",
        (120, 40),
        Config(
            device="cpu",
            problem="quadratic",
            lrs_spec="log:0.002:0.5:12",
            epochs=200,
            min_loss=1e-6,
            pace=0,
            race=[("stepper", 0.15), ("momentum", 0.05), ("exact", 0.0)],
        ),
        ["s", "x"],
        lambda a: "exact" in a.histories and a.done,
    )
    # Rosenbrock from the notebook's 0.1..0.9 grid: the adaptive grid walks down to ~1e-3.
    await shot(
        "rosenbrock-adaptive-120x40",
        (120, 40),
        Config(
            device="cpu",
            problem="rosenbrock",
            lrs_spec="0.1:1:0.1",
            grid="adaptive",
            epochs=5000,
            min_loss=1e-5,
            pace=0,
        ),
        [],
        lambda a: a.done,
    )
    # Logistic regression with label noise, raced by Adam.
    await shot(
        "logistic-race-120x40",
        (120, 40),
        Config(
            device="cpu",
            problem="logistic",
            lrs_spec="log:0.1:100:13",
            epochs=500,
            min_loss=0.5182,
            pace=0,
            race=[("stepper", 3.0), ("adam", 0.5)],
        ),
        ["s"],
        lambda a: "adam 0.5" in a.histories and a.done,
    )
    # A 2-16-16-1 network on two moons: 337 weights, seen in a filter-normalised 2-D slice.
    await shot(
        "mlp-slice-120x40",
        (120, 40),
        Config(
            device="cpu",
            problem="mlp",
            n=200,
            lrs_spec="log:0.01:10:13",
            epochs=1000,
            min_loss=0.02,
            pace=0,
            race=[("adam", 0.02)],
        ),
        ["s"],
        lambda a: "adam 0.02" in a.histories and a.done,
    )
    # A stepper at 5 diverges: the surface stays on the walk, the racer's path leaves with an
    # arrow at the edge, and the summary says who diverged.
    await shot(
        "diverging-race-120x40",
        (120, 40),
        Config(**base, pace=0, race=[("stepper", 0.3), ("stepper", 5.0)]),
        ["s"],
        lambda a: "stepper 5" in a.histories and a.done,
    )
    # The walker on a huge start with a 1e30 rate in its grid: inf candidates shown, never win.
    await shot(
        "wild-rate-120x40",
        (120, 40),
        Config(device="cpu", lrs_spec="0.1,0.5,0.9,1e30", pace=0),
        [],
        lambda a: a.done,
    )
    # The shipped demo: a 64-32-10 MLP on the UCI digits in mini-batches of 64, raced by Adam,
    # held-out loss and accuracy on the status line.
    await shot(
        "digits-race-120x40",
        (120, 40),
        Config(
            device="cpu",
            problem="digits",
            lrs_spec="log:0.01:10:13",
            epochs=30,
            min_loss=None,
            batch_size=64,
            pace=0,
            race=[("stepper", 0.3), ("adam", 0.003)],
        ),
        ["s"],
        lambda a: "adam 0.003" in a.histories and a.done,
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
