"""Make the README's screenshots from the running app: `python scripts/screenshots.py [NAME...]`.

Each picture is the real app driven by key presses (Textual's Pilot), saved as SVG in screenshots/.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from walker_tui.config import Config
from walker_tui.ui.app import make_app

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
        await wait(pilot, lambda: app.view.histories)
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
    await watch_shot("watch-120x40")


# A training script as a user writes one: an MLP on two moons-like classes, 8 batches an epoch,
# WalkerSGD recording every step and logging held-out accuracy at each epoch's end.
TRAIN = """
import sys, time
import torch
from walker_tui import WalkerSGD

path, lrs, epochs, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
torch.manual_seed(0)
x = torch.randn(1280, 2)
y = (x[:, 0] * x[:, 1] > 0).long()
train, held = (x[:1024], y[:1024]), (x[1024:], y[1024:])
model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
loss_fn = torch.nn.CrossEntropyLoss()
with WalkerSGD(model.parameters(), lrs=lrs, record=path) as opt:
    for epoch in range(epochs):
        for batch in torch.randperm(1024).split(128):
            xb, yb = train[0][batch], train[1][batch]

            def closure():
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                return loss

            opt.step(closure)
            time.sleep(pause)
        with torch.no_grad():
            accuracy = (model(held[0]).argmax(1) == held[1]).float().mean()
        opt.log(accuracy=accuracy)
"""


async def watch_shot(name: str) -> None:
    """walker-tui watch on two real runs of TRAIN: one finished (a fixed grid), one still
    training in another process (a log grid), its curves smoothed (key e: EMA 0.6)."""
    if ONLY and name not in ONLY:
        return
    import subprocess
    import tempfile

    from walker_tui.ui.watch_app import WatchApp

    folder = Path(tempfile.mkdtemp(prefix="walker-tui-shot-"))
    fixed, log = folder / "fixed-grid.csv", folder / "log-grid.csv"
    script = folder / "train.py"
    script.write_text(TRAIN)
    subprocess.run(
        [sys.executable, str(script), str(fixed), "0.1:1:0.1", "40", "0"], check=True, timeout=600
    )
    live = subprocess.Popen([sys.executable, str(script), str(log), "log:0.01:10:9", "200", "0.02"])
    try:
        app = WatchApp([fixed, log])
        async with app.run_test(size=(120, 40)) as pilot:
            await wait(pilot, lambda: app.runs[1].rows >= 150 and app.runs[0].ended, 600)
            await pilot.press("e")  # smoothing: EMA 0.6, the raw curve faint behind it
            await pilot.press("c")  # the live run's candidates and path
            await wait(pilot, lambda: app.selected == 1 and app.smooth == 0.6)
            path = OUT / f"{name}.svg"
            app.save_screenshot(str(path))
            print(f"wrote {path.relative_to(OUT.parent)}")
    finally:
        live.kill()
        live.wait(30)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
