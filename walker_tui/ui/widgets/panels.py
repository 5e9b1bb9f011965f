"""The panels, composed once for every mode: the loss curve and the candidates on the left, the
surface on the right, the status line under them, and the line a terminal too small shows in
their place (the screen's ``too-small`` class decides, see app.tcss)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Static

from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.painter import Painter
from walker_tui.ui.widgets.surface_plot import SurfacePlot

MIN_SIZE = (60, 20)  # the smallest terminal the panels are drawn in


class PanelGrid(Vertical):
    """The three plot panels (built on ``painter``'s thread) and ``status``, the mode's status
    line."""

    DEFAULT_CSS = """
    PanelGrid {
        height: 1fr;
    }
    """

    def __init__(self, painter: Painter, status: Widget) -> None:
        super().__init__()
        self.painter, self.status = painter, status

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield LossCurve(id="loss", painter=self.painter)
                yield CandidateBars(id="bars", painter=self.painter)
            yield SurfacePlot(id="surface", painter=self.painter)
        yield Static(
            "terminal too small: walker-tui needs at least "
            f"{MIN_SIZE[0]}x{MIN_SIZE[1]}; enlarge it or press q",
            id="too-small",
        )
        yield self.status
