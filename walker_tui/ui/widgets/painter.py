"""Plots built off the UI thread.

A plotext build of a 160x48 frame (canvas, ANSI text, then cells) costs 30-40 ms of pure Python.
Done on the UI thread, as textual-plotext does it in ``render()``, a key that lands at the start of
a frame waits for all of it. Here each panel hands its data to one painter thread, which builds the
plot and turns it into Textual strips; the UI thread only swaps the finished strips in. Keys then
wait at most for the interpreter's switch interval (the app sets 1 ms), not for a frame.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot  # noqa: F401 (panels import it from here)

from walker_tui.core.threads import run_in_background
from walker_tui.ui.colors import DARK, Palette, parse, theme_palette


@dataclass
class Job:
    """One frame of one panel: the panel's data and everything the build needs from the UI."""

    ticket: int
    size: Size
    frame: Any  # the panel's typed frame (walker_tui.viewmodel.frames)
    theme: str
    style: RichStyle  # the widget's colours, read on the UI thread
    palette: Palette = DARK  # the theme's colours, each readable on the plot's background


class Painted(Message):
    """A panel's frame is built: its strips, the size they fit, and what the build cost (the
    painter thread's CPU seconds: time it waited for the GIL or a core is not its cost)."""

    def __init__(self, ticket: int, size: Size, strips: list[Strip], seconds: float) -> None:
        super().__init__()
        self.ticket, self.size, self.strips, self.seconds = ticket, size, strips, seconds


class Painter:
    """One daemon thread that builds panels' frames, newest job per panel only."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[PaintedPlot, Job] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, plot: PaintedPlot, job: Job) -> None:
        with self._cond:
            if self._stopped:
                return
            self._jobs[plot] = job  # a newer frame replaces one not yet started
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="painter", daemon=True)
                self._thread.start()
            self._cond.notify()

    def stop(self, wait: float = 0.0) -> None:
        """Build nothing more; ``wait`` seconds at most for a build in progress to end."""
        with self._cond:
            self._stopped = True
            self._jobs.clear()
            self._cond.notify()
        if wait and self._thread is not None:
            self._thread.join(wait)

    def _run(self) -> None:
        run_in_background()  # the training's threads come first (walker_tui.core.threads)
        while True:
            with self._cond:
                while not self._jobs and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                plot = next(iter(self._jobs))
                job = self._jobs.pop(plot)
            t0 = time.thread_time()  # the build's CPU (the app paces frames by it)
            strips = plot.paint(job)
            try:
                plot.post_message(Painted(job.ticket, job.size, strips, time.thread_time() - t0))
            except RuntimeError:  # the app's loop has closed: nobody is left to show it
                return


_shared: list[Painter] = []


def shared_painter() -> Painter:
    """The painter thread of panels whose parent hands them none (a widget in another App)."""
    if not _shared:
        _shared.append(Painter())
    return _shared[0]


class PaintedPlot(PlotextPlot):
    """A plotext panel whose frames are built by the app's painter thread.

    Subclasses implement :meth:`draw`, which makes the plotext calls for a given size and data;
    :meth:`show` (UI thread) queues a frame with that data. Nothing on the UI thread touches the
    plotext figure: the painter thread owns it.
    """

    class Landed(Message):
        """A frame of this panel is built and waits (``grouped``): the parent puts the frame's
        panels on screen together, then calls :meth:`commit` on each."""

    grouped = False  # the parent commits frames (Landed); alone, a panel commits its own

    def __init__(
        self,
        *,
        id: str | None = None,
        painter: Painter | None = None,  # noqa: A002
    ) -> None:
        super().__init__(id=id)
        self.painter = painter  # the parent's painter thread; None: one shared by any app
        self._request: Any = None  # the frame last asked for
        self._ticket = 0  # the newest frame asked for
        self._built = 0  # the newest frame built
        self._shown = 0  # the newest frame on screen
        self._ready: Painted | None = None  # built, waiting for the frame's other panels
        self._strips: list[Strip] = []
        self._strips_size = Size(0, 0)
        self._render_seconds = 0.0

    # --- what subclasses write ---

    def draw(self, plt: Plot, width: int, height: int, frame: Any) -> None:
        """Make the plotext calls for one frame (painter thread; the figure is cleared)."""
        raise NotImplementedError

    # --- UI thread ---

    def show(self, frame: Any) -> None:
        """Queue this frame (the panel's dataclass in walker_tui.viewmodel.frames); it appears
        when the painter has built it."""
        self._request = frame
        self._ask()

    @property
    def frame(self) -> Any:
        """The frame last asked for (None before the first)."""
        return self._request

    def _ask(self) -> None:
        if self._request is None or not self.is_mounted:
            return
        self._ticket += 1
        size = self.size
        if size.width < 4 or size.height < 4:  # hidden or squeezed: nothing worth building
            self._strips, self._strips_size = [], size
            self._shown = self._built = self._ticket
            self._ready = None
            return
        (self.painter or shared_painter()).submit(self, self.job())

    def job(self) -> Job:
        """The frame last asked for, at the panel's size, as the painter will build it."""
        variables = self.app.theme_variables
        # the plot's canvas is the theme's surface (textual-plotext's theme); an ANSI theme's
        # colours are the terminal's own, which textual-plotext read as black on black
        theme = self._get_plotext_theme_name(self.app.theme)
        if parse(variables.get("surface")) is None or parse(variables.get("foreground")) is None:
            theme = "clear"
        style = self.visual_style.rich_style
        palette = theme_palette(variables, self.app.current_theme.dark)
        return Job(self._ticket, self.size, self._request, theme, style, palette)

    def on_resize(self) -> None:
        self._ask()

    def _register_theme(self, app_theme_name: str) -> None:
        super()._register_theme(app_theme_name)
        self._ask()  # the app's theme changed: build the frame again in its colours

    def on_painted(self, msg: Painted) -> None:
        msg.stop()
        self._render_seconds += msg.seconds
        if msg.ticket < self._built:
            return
        self._built, self._ready = msg.ticket, msg
        if self.grouped:  # the app puts a frame's panels on screen together, with its status
            self.post_message(self.Landed())
        else:
            self.commit()

    def commit(self) -> None:
        """Put the last frame built on screen."""
        ready, self._ready = self._ready, None
        if ready is None:
            return
        self._shown = ready.ticket
        self._strips, self._strips_size = ready.strips, ready.size
        self.refresh()

    @property
    def pending(self) -> bool:
        """A frame has been asked for that is not built yet."""
        return self._built < self._ticket

    def take_render_seconds(self) -> float:
        """The painter's CPU seconds on this panel since the last call (the app paces frames
        by it)."""
        spent, self._render_seconds = self._render_seconds, 0.0
        return spent

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self._strips):
            strip = self._strips[y]
            return strip if self._strips_size.width == width else strip.crop_extend(0, width, None)
        return Strip.blank(width, self.visual_style.rich_style)

    def render(self) -> RenderResult:
        """What is on screen, as text: the build itself happens only on the painter thread."""
        return Text(self.text)

    @property
    def text(self) -> str:
        """The plain text on screen (for tests and screen readers of the source)."""
        return "\n".join(strip.text for strip in self._strips)

    # --- painter thread ---

    def paint(self, job: Job) -> list[Strip]:
        """Build one frame into strips. It never raises: a failure draws its message instead,
        so the thread lives on and other panels keep painting."""
        width = job.size.width
        try:
            return self._paint(job)
        except Exception as error:
            line = f"panel failed: {type(error).__name__}: {error}"
            return [Strip([Segment(line[:width].ljust(width), RichStyle(color="red"))])]

    def _paint(self, job: Job) -> list[Strip]:
        width, height = job.size
        plt = self._plot
        plt.clear_figure()  # a fresh figure: nothing from the last frame carries over
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as textual-plotext does: plotsize alone can lag
        plt.theme(job.theme)  # before drawing: text takes the theme's background
        self.draw(Themed(plt, job.palette), width, height, job.frame)
        return ansi_strips(plt.build(), width, height, job.style)


class Themed:
    """A plotext figure whose every colour passes through the theme's palette on its way in, so
    a panel names its colours (``cyan``, ``gray``) and each stays readable in any theme."""

    _COLOURED = ("plot", "scatter", "text", "rectangle", "bar")

    def __init__(self, plt: Any, palette: Palette) -> None:
        self._plt, self._palette = plt, palette

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._plt, name)
        fit = self._palette
        if name in ("hline", "vline"):  # (coordinate, color)
            return lambda at, color=None, *a, **k: attr(at, fit(color) if color else None, *a, **k)
        if name in self._COLOURED:

            def coloured(*args: Any, color: Any = None, **kwargs: Any) -> Any:
                return attr(*args, color=fit("foreground" if color is None else color), **kwargs)

            return coloured
        return attr


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_STYLES: dict[tuple[RichStyle, str], RichStyle] = {}


def ansi_strips(ansi: str, width: int, height: int, base: RichStyle) -> list[Strip]:
    """plotext's ANSI output as strips of ``width`` cells, exactly as Textual's general path
    (rich's ``Text.from_ansi``, then ``Content``) would make them: the same segments, styles
    (``base`` under the ANSI colours) and mouse offsets. A unit test holds the two together.

    The general path parses every escape afresh and is about half of a frame's cost. plotext
    writes few distinct escapes (a background, a colour, a reset), so here each is decoded
    once. (Each segment keeps its own offset: an SVG screenshot places segments one by one,
    where one long merged run drifts against the cells in renderers whose fonts lack a glyph.)
    """
    strips = []
    for y, line in enumerate(ansi.split("\n")[:height]):
        parts = _SGR.split(line)  # text, code, text, code, ..., text
        segments: list[Segment] = []
        active = ""
        x = 0
        for i, part in enumerate(parts):
            if i % 2:
                active = "" if part in ("", "0") else f"{active};{part}" if active else part
                continue
            if not part:
                continue
            style = _STYLES.get((base, active))
            if style is None:
                if len(_STYLES) > 4096:  # (themes come and go; plotext uses a few codes each)
                    _STYLES.clear()
                style = _STYLES[(base, active)] = _decode(base, active)
            segments.append(Segment(part, style + RichStyle.from_meta({"offset": (x, y)})))
            x += cell_len(part)
        strips.append(Strip(segments).crop_extend(0, width, base))
    while len(strips) < height:
        strips.append(Strip.blank(width, base))
    return strips


def _decode(base: RichStyle, codes: str) -> RichStyle:
    """The style of text after the SGR ``codes``, over ``base`` (rich decodes the codes)."""
    decoded = Text.from_ansi(f"\x1b[{codes}mx") if codes else Text("x")
    style = RichStyle()
    for span in decoded.spans:
        style += span.style if isinstance(span.style, RichStyle) else RichStyle.parse(span.style)
    return base + style
