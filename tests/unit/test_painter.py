"""The painter's fast ANSI decoder draws the same cells, in the same styles, as the general path
(rich's Text.from_ansi, then Textual's Content), on real frames of every panel."""

import numpy as np
import pytest
from rich.text import Text
from textual.color import Color
from textual.content import Content
from textual.style import Style
from textual.visual import RenderOptions
from textual_plotext.plot import Plot

from walker_tui.core.surface import Window
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.painter import ansi_strips
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.frames import BarsFrame, CurveFrame, SurfaceFrame
from walker_tui.viewmodel.session import SurfaceData

BASE = Style(background=Color(18, 18, 18), foreground=Color(224, 224, 224))


def reference(ansi: str, width: int, height: int) -> list:
    content = Content.from_rich_text(Text.from_ansi(ansi))
    strips = content.render_strips(width, height, BASE, RenderOptions(lambda s: s, {}))
    pad = (BASE + Style(reverse=False)).rich_style
    return [strip.crop_extend(0, width, pad) for strip in strips[:height]]


def segments(strips) -> list[list[tuple[str, object]]]:
    """Each line's segments: text and style (mouse offsets included)."""
    return [[(seg.text, seg.style) for seg in strip] for strip in strips]


def frame(panel, width, height, theme, data) -> str:
    plt = Plot()
    plt.plotsize(width, height)
    plt._set_size(width, height)
    plt.theme(theme)
    panel.draw(plt, width, height, data)
    return plt.build()


def surface_data() -> SurfaceData:
    xs = np.linspace(-3, 3, 40)
    ys = np.linspace(-2, 2, 40)
    z = np.add.outer(ys**2, xs**2)
    ring = np.linspace(0, 2 * np.pi, 60)
    contours = [(r * np.cos(ring), r * np.sin(ring)) for r in (0.5, 1.0, 1.5)]
    return SurfaceData(Window(-3, 3, -2, 2), xs, ys, z, contours)


FRAMES = {
    "loss": (
        LossCurve,
        CurveFrame(
            {
                "walker": (np.arange(1, 30.0), 1e4 * 0.6 ** np.arange(29)),
                "stepper 0.3": (np.arange(1, 30.0), 1e4 * 0.8 ** np.arange(29)),
            },
            0.1,
            12.0,
        ),
    ),
    "bars": (
        CandidateBars,
        BarsFrame([0.1, 0.2, 0.5, 1.0, 2.0], np.array([3.0, 2.0, 1.5, np.inf, np.nan]), 2, 7),
    ),
    "surface": (
        SurfacePlot,
        SurfaceFrame(
            {"walker": (np.array([2.5, 1.0, 0.2]), np.array([1.5, 0.5, 0.1]))},
            (np.array([0.3, 0.1]), np.array([0.2, 0.0])),
            (0.1, 0.0),
            surface=surface_data(),
            start=(2.5, 1.5),
            minimum=(0.0, 0.0),
        ),
    ),
}


@pytest.mark.parametrize("theme", ["pro", "dark", "clear"])
@pytest.mark.parametrize("name", list(FRAMES))
@pytest.mark.parametrize("size", [(80, 22), (61, 17)])
def test_fast_decoder_matches_the_general_path(name, size, theme):
    cls, args = FRAMES[name]
    width, height = size
    ansi = frame(cls(), width, height, theme, args)
    assert "\x1b[" in ansi or theme == "clear"
    fast = ansi_strips(ansi, width, height, BASE.rich_style)
    assert len(fast) == height
    assert all(strip.cell_length == width for strip in fast)
    assert segments(fast) == segments(reference(ansi, width, height))


def test_decoder_keeps_runs_apart_and_pads_the_line():
    ansi = "\x1b[38;5;1mab\x1b[0m\x1b[38;5;1mcd\x1b[0mef"
    (strip,) = ansi_strips(ansi, 8, 1, BASE.rich_style)
    assert [seg.text for seg in strip] == ["ab", "cd", "ef", "  "]
    assert [seg.style.meta.get("offset") for seg in list(strip)[:3]] == [(0, 0), (2, 0), (4, 0)]
    assert strip.text == "abcdef  "
