"""Make the README's screenshots from the running app: `python scripts/screenshots.py [NAME...]`
(no names: all of them; `--list` names them).

Each picture is the real app driven by key presses (Textual's Pilot), saved as SVG in screenshots/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from walker_tui.catalog import walker_lrs
from walker_tui.config import Config
from walker_tui.ui.app import WalkerApp, make_app

OUT = Path(__file__).resolve().parent.parent / "screenshots"
# the status line's live memory figure changes from run to run: left out of the pictures
os.environ.setdefault("WALKER_TUI_DEVICE_FIGURES", "0")
WATCH = "watch-120x40"  # the one recipe that runs `walker-tui watch` on a training script


@dataclass
class Recipe:
    """One picture: the app for ``cfg`` at ``size``, ``keys`` pressed, saved once ``ready``."""

    name: str
    size: tuple[int, int]
    cfg: Config
    ready: Callable[[WalkerApp], bool]
    keys: list[str] = field(default_factory=list)
    about: str = ""
    paused: bool = False  # start paused (as --paused): the picture waits on no race with a key


CPU = dict(device="cpu")
RECIPES = [
    Recipe("walker-120x40", (120, 40), Config(**CPU, pace=8), lambda a: a.view.done,
           about="the bare command: the notebook's problem, walked to the target"),
    Recipe("race-120x40", (120, 40),
           Config(**CPU, pace=0, race=[("stepper", 0.3), ("stepper", 0.7)]),
           lambda a: "stepper 0.3" in a.view.histories and a.view.done, ["s"],
           about="a race against the notebook's stepper (0.3) and a fast one (0.7)"),
    Recipe("paused-80x24", (80, 24), Config(**CPU, pace=4),
           lambda a: a.view.state == "paused" and a.view.latest_epoch >= 4, ["n"] * 4,
           about="the smallest terminal it is built for, paused mid-walk, stepped four epochs",
           paused=True),
    Recipe("quadratic-race-120x40", (120, 40),
           Config(**CPU, problem="quadratic", lrs_spec="log:0.002:0.5:12", epochs=200,
                  min_loss=1e-6, pace=0,
                  race=[("stepper", 0.15), ("momentum", 0.05), ("exact", 0.0)]),
           lambda a: "exact" in a.view.histories and a.view.done, ["s", "x"],
           about="the tilted bowl (kappa 10) raced on the loss-evaluation axis (key x)"),
    Recipe("rosenbrock-adaptive-120x40", (120, 40),
           Config(**CPU, problem="rosenbrock", lrs_spec="0.1:1:0.1", grid="adaptive",
                  epochs=5000, min_loss=1e-5, pace=0),
           lambda a: a.view.done,
           about="Rosenbrock from the notebook's grid: the adaptive grid walks down to ~1e-3"),
    Recipe("logistic-race-120x40", (120, 40),
           Config(**CPU, problem="logistic", lrs_spec="log:0.1:100:13", epochs=500,
                  min_loss=0.5182, pace=0, race=[("stepper", 3.0), ("adam", 0.5)]),
           lambda a: "adam 0.5" in a.view.histories and a.view.done, ["s"],
           about="logistic regression with label noise, raced by Adam"),
    Recipe("mlp-slice-120x40", (120, 40),
           Config(**CPU, problem="mlp", n=200, lrs_spec="log:0.01:10:13", epochs=1000,
                  min_loss=0.02, pace=0, race=[("adam", 0.02)]),
           lambda a: "adam 0.02" in a.view.histories and a.view.done, ["s"],
           about="a 2-16-16-1 network on two moons, seen in a filter-normalised 2-D slice"),
    Recipe("diverging-race-120x40", (120, 40),
           Config(**CPU, pace=0, race=[("stepper", 0.3), ("stepper", 5.0)]),
           lambda a: "stepper 5" in a.view.histories and a.view.done, ["s"],
           about="a stepper at 5 diverges: its path leaves the surface with an arrow at the edge"),
    Recipe("wild-rate-120x40", (120, 40), Config(**CPU, lrs_spec="0.1,0.5,0.9,1e30", pace=0),
           lambda a: a.view.done,
           about="a 1e30 rate in the grid: inf candidates shown, never winning"),
    Recipe("digits-race-120x40", (120, 40),
           Config(**CPU, problem="digits", lrs_spec="log:0.01:10:13", epochs=30, min_loss=None,
                  batch_size=64, pace=0, race=[("stepper", 0.3), ("adam", 0.003)]),
           lambda a: "adam 0.003" in a.view.histories and a.view.done, ["s"],
           about="the digits MLP in mini-batches of 64, raced by Adam, held-out figures shown"),
    Recipe("digits-walker-adam-120x40", (120, 40),
           Config(**CPU, problem="digits", direction="adam",
                  lrs_spec=walker_lrs("digits", "adam"), epochs=30, min_loss=None,
                  batch_size=64, pace=0, race=[("adam", 0.03)]),
           lambda a: "adam 0.03" in a.view.histories and a.view.done, ["s"],
           about="the walker along Adam's direction raced by Adam at its best swept rate: "
                 "most steps take the reused rate, and the panels say so"),
]  # fmt: skip


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


def refined(app: WalkerApp) -> bool:
    """The surface is there, and its window's last view, not a coarse one still refining."""
    surface = app.view.surface
    return surface is not None and "refining" not in surface.note


async def shot(recipe: Recipe, out: Path = OUT) -> Path:
    """Run the app for ``recipe`` and save its picture in ``out``."""
    app = make_app(recipe.cfg, start_paused=recipe.paused)
    try:
        async with app.run_test(size=recipe.size) as pilot:
            await wait(pilot, lambda: app.view.histories)
            for key in recipe.keys:
                await pilot.press(key)
                await pilot.pause(0.05)
            await wait(pilot, lambda: recipe.ready(app) and refined(app))
            path = out / f"{recipe.name}.svg"
            app.save_screenshot(str(path))
    finally:
        app.still_busy(wait=30)  # a thread inside torch when the interpreter exits aborts it
    return path


async def main(names: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    for recipe in RECIPES:
        if not names or recipe.name in names:
            path = await shot(recipe)
            print(f"wrote {path.relative_to(OUT.parent)}")
    if not names or WATCH in names:
        path = await watch_shot(WATCH)
        print(f"wrote {path.relative_to(OUT.parent)}")


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


async def watch_shot(name: str, out: Path = OUT) -> Path:
    """walker-tui watch on two real runs of TRAIN: one finished (a fixed grid), one still
    training in another process (a log grid), its curves smoothed (key e: EMA 0.6)."""
    import subprocess
    import tempfile

    from walker_tui.ui.app import make_watch_app

    folder = Path(tempfile.mkdtemp(prefix="walker-tui-shot-"))
    fixed, log = folder / "fixed-grid.csv", folder / "log-grid.csv"
    script = folder / "train.py"
    script.write_text(TRAIN)
    subprocess.run(
        [sys.executable, str(script), str(fixed), "0.1:1:0.1", "40", "0"], check=True, timeout=600
    )
    live = subprocess.Popen([sys.executable, str(script), str(log), "log:0.01:10:9", "200", "0.02"])
    try:
        app = make_watch_app([fixed, log])
        async with app.run_test(size=(120, 40)) as pilot:
            await wait(pilot, lambda: app.view.runs[1].rows >= 150 and app.view.runs[0].ended, 600)
            await pilot.press("e")  # smoothing: EMA 0.6, the raw curve faint behind it
            await pilot.press("c")  # the live run's candidates and path
            await wait(pilot, lambda: app.view.selected == 1 and app.view.smooth == 0.6)
            path = out / f"{name}.svg"
            app.save_screenshot(str(path))
    finally:
        live.kill()
        live.wait(30)
    return path


def parse(argv: list[str]) -> list[str]:
    names = [r.name for r in RECIPES] + [WATCH]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="recipes:\n"
        + "\n".join(f"  {r.name:28} {r.about}" for r in RECIPES)
        + f"\n  {WATCH:28} walker-tui watch on a finished and a live WalkerSGD run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="recipes to make (default: all)")
    parser.add_argument("--list", action="store_true", help="name the recipes and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(names))
        sys.exit(0)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"no recipe {', '.join(unknown)} (--list names them)")
    return args.names


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
