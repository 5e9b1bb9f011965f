"""scripts/screenshots.py, which makes the README's pictures: every recipe's condition reads what
the app has, and a cheap recipe runs to its picture."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from walker_tui.ui.app import make_app, make_watch_app

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"


@pytest.fixture(scope="module")
def shots():
    spec = importlib.util.spec_from_file_location("screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["screenshots"] = module  # (its dataclass looks its module up)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["screenshots"]


def test_every_recipe_reads_only_what_the_app_has(shots):
    names = [r.name for r in shots.RECIPES]
    assert len(set(names)) == len(names)
    for recipe in shots.RECIPES:
        app = make_app(recipe.cfg)  # (not run: its view is there before the first epoch)
        assert recipe.ready(app) is False, recipe.name
    watch = make_watch_app([Path("a.csv"), Path("b.csv")])
    view = watch.view
    assert (view.runs[1].rows, view.runs[0].ended, view.selected, view.smooth) == (
        0,
        False,
        0,
        None,
    )


def test_the_help_names_every_recipe(shots, capsys):
    with pytest.raises(SystemExit):
        shots.parse(["--help"])
    out = capsys.readouterr().out
    assert all(r.name in out for r in shots.RECIPES) and shots.WATCH in out
    with pytest.raises(SystemExit):
        shots.parse(["no-such-picture"])


async def test_a_recipe_makes_its_picture(shots, tmp_path):
    recipe = next(r for r in shots.RECIPES if r.name == "paused-80x24")
    path = await shots.shot(recipe, tmp_path)
    svg = path.read_text()
    assert path.name == "paused-80x24.svg" and "paused" in svg and "epoch" in svg
