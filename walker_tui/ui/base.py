"""The panels app's plumbing, whatever its mode (walker_tui.ui.modes): the panels composed once
(PanelGrid) with the mode's status line, a source (walker_tui.viewmodel.source) and the key
table's column of the mode (its bindings, through check_action; its palette and help), redraw
pacing (at most 20 redraws a second, one redraw's panels landing together with its status line),
the status line's notes, travel through the epochs, the device line, the size check and
screenshots. The app on it (ui/app.py) feeds the view and answers the keys."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header

import walker_tui.ui.device_monitor as gpu
import walker_tui.ui.keys as keys
from walker_tui.ui.colors import fit_color_system
from walker_tui.ui.device_monitor import DeviceMonitor
from walker_tui.ui.help import HelpScreen
from walker_tui.ui.modes import Mode
from walker_tui.ui.widgets import Say, TravelTo
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.footer import KeyFooter
from walker_tui.ui.widgets.loss_curve import LossCurve
from walker_tui.ui.widgets.painter import PaintedPlot, Painter
from walker_tui.ui.widgets.panels import MIN_SIZE, PanelGrid
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.driver import POST_INTERVAL
from walker_tui.viewmodel.saved import write_new
from walker_tui.viewmodel.source import Source
from walker_tui.viewmodel.view import EpochView, Note

REDRAW_INTERVAL = POST_INTERVAL  # the redraw tick: the screen redraws at the events' pace
# The share of the wall clock the screen's CPU (the painter's builds, the UI thread's work) may
# take: a quarter while training waits, a twentieth while it runs flat out, since that pure
# Python takes a core and the GIL from the training (measured: docs/design/performance.md).
REDRAW_SHARE = 0.25
REDRAW_SHARE_TRAINING = 0.05
REDRAW_WAIT_MAX = 2.0  # seconds: a burst of UI work (a reseed, a resize) holds no redraw longer
STATUS_LINES_MIN = 3  # the status line's rows at the smallest terminal (60x20)
LOSS_ROWS = 10  # the loss curve's rows (5 of them the plot's) the status line leaves it


def status_budget(height: int) -> int:
    """The status line's most rows at ``height``: what leaves the loss curve (half the rows
    between the header and the footer) LOSS_ROWS, and never fewer than STATUS_LINES_MIN."""
    return max(STATUS_LINES_MIN, height - 2 - 2 * LOSS_ROWS)


class DeviceSampled(Message):
    """The device monitor has a new line for the status (posted from its thread)."""


class PanelApp(App[int]):
    """The panels, a source and a mode; redraw pacing, notes, travel, the device line and the
    size check, for the mode's view."""

    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True  # ctrl+p: the mode's actions and Textual's themes
    BINDINGS = list(keys.every_binding())  # every mode's: check_action keeps the mode's
    view: EpochView

    def __init__(self, mode: Mode) -> None:
        super().__init__()
        self.mode = mode  # its keys: live, replay or watch, a column of the key table
        self.still = False  # the run is paused or played out (a key's still word shows)
        self.source: Source | None = None  # what feeds the view now
        self._sources: list[Source] = []  # every source started, until its threads have ended
        self.colors_note = fit_color_system(self.console)  # (TERM=dumb: 16 colours, said)
        self._status_due: tuple | None = None  # (record, (epoch, latest)) of the redraw building
        self._next_redraw = 0.0
        self._ui_cpu = time.thread_time()  # the UI thread's CPU clock at the last redraw
        self._redraw_at = 0.0  # when the last redraw began
        self._plots_of: dict[object, list[PaintedPlot]] = {}  # each screen's panels
        self.dirty = True
        self.painter = Painter()  # builds the plot panels off the UI thread
        self._switch_interval = sys.getswitchinterval()  # (start_panels shortens it)
        self.monitor: DeviceMonitor | None = None  # the device's memory (ui.device_monitor)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield PanelGrid(self.painter, self.mode.status_line(id="status"))
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A binding of the key table runs, and shows in the footer, in its mode alone."""
        return keys.allows(self.mode.keys, action, parameters, self.still)

    def redraw(self) -> None:
        """Hand every panel the epoch shown's frame (at most 20 times a second); the status
        line goes with them when their builds land."""
        frame = self.mode.panels(self.view)
        if self.view.still != self.still:  # a replay's footer: space play, not pause
            self.still = self.view.still
            self.refresh_bindings()
        with self.batch_update():
            self.query_one(LossCurve).show(frame.curve)
            self.query_one(CandidateBars).show(frame.bars)
            self.query_one(SurfacePlot).show(frame.surface)
            self._status_due = (frame.rec, (frame.epoch, frame.latest))
            if frame.rec is not None:  # (an adaptive grid's range now)
                self.set_sub_title(list(frame.rec.rates))

    def set_sub_title(self, rates: list[float] | None) -> None:
        title = self.mode.subtitle(self.view, self.size.width, rates)
        if title != self.sub_title:
            self.sub_title = title

    def show_status(self, rec=None, look_up: bool = False, at=None) -> None:  # noqa: ANN001
        """The status line alone: cheap, so keys update it at once instead of at the next redraw.
        ``at``: (epoch, latest) of the redraw it joins, when not the view's now."""
        found = self.query(self.mode.status_line)
        if not found:
            return
        view = self.view
        epoch, latest = at if at is not None else (view.shown_epoch, view.latest_epoch)
        rec = view.walker_at(epoch) if look_up else rec
        use = self.monitor.text if self.monitor is not None else None
        frame = self.mode.status(view, rec, epoch, latest, use)
        # (the loss curve keeps its rows)
        found.first().show(frame, max_lines=status_budget(self.size.height))

    def start_panels(self) -> None:
        """On mount: pacing, the size check and the device monitor start."""
        # The UI, training and painter threads share the GIL; handing it over every 1 ms instead
        # of every 5 ms lets a key's handler take its turn sooner (benchmarks/app_redraw.py).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        self._check_size()
        for plot in self._plots():  # their builds go on screen together (panels_landed)
            plot.grouped = True
        self.set_interval(REDRAW_INTERVAL, self._redraw_if_dirty)
        # another theme (ctrl+p): the status line's colours are fitted to its background anew
        self.theme_changed_signal.subscribe(self, lambda _: self.show_status(look_up=True))
        if gpu.enabled():
            self.monitor = DeviceMonitor(self.device_probe(), self._device_sampled).start()

    def stop_panels(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        self.painter.stop()
        sys.setswitchinterval(self._switch_interval)

    def training_flat_out(self) -> bool:
        """The training runs back to back now (redraws then keep to REDRAW_SHARE_TRAINING)."""
        return False

    def device_probe(self):  # noqa: ANN201
        """What the status line's device figure reads (the tests hand the app a fake one)."""
        return self.mode.probe()

    def _device_sampled(self) -> None:
        self.post_message(DeviceSampled())  # (the monitor's thread: post_message is safe)

    def on_device_sampled(self, msg: DeviceSampled) -> None:
        self.show_status(look_up=True)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)
        self.dirty = True

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        w, h = (width, height) if width is not None and height is not None else self.size
        self.screen.set_class(w < MIN_SIZE[0] or h < MIN_SIZE[1], "too-small")
        for footer in self.query(Footer):  # a narrow terminal: the footer's keys packed closer
            footer.compact = w < 100

    # --- notes on the status line ---

    def say(
        self,
        text: str,
        style: str = "bold yellow",
        seconds: float = 4.0,
        sticky: bool = False,
        epoch: int | None = None,
    ) -> None:
        """A note on the status line's last row (see viewmodel.view.Note; toasts would cover it)."""
        self.tell(Note(text, style, seconds, sticky, epoch))

    def tell(self, note: Note | None) -> bool:
        """Say ``note``; False (and nothing said) for None."""
        if note is None:
            return False
        self.view.set_note(note)
        self.set_timer(note.seconds + 0.05, self._expire_note)
        self.show_status(look_up=True)
        return True

    def _expire_note(self) -> None:
        if self.view.expire():
            self.show_status(look_up=True)

    # --- drawing ---

    def _redraw_if_dirty(self) -> None:
        """Redraw at most every REDRAW_INTERVAL, one redraw at a time, and leave the training
        worker most of the CPU: the next redraw waits until the screen's CPU since the last one
        (the painter's builds and this thread's work) is REDRAW_SHARE of the time between them,
        REDRAW_SHARE_TRAINING while the training runs flat out (a redraw costing 100 ms of CPU:
        one every 2 s, REDRAW_WAIT_MAX). The builds never block the UI thread, so keys answer
        mid-frame, and a key's redraw does not wait (see _moved)."""
        now = time.monotonic()
        plots = self._plots()
        if not plots or not self.dirty or now < self._next_redraw:  # (none: not composed yet)
            return
        if any(p.pending for p in plots):  # the last redraw is still being built
            return
        cpu = time.thread_time()
        spent = cpu - self._ui_cpu + sum(p.take_render_seconds() for p in plots)
        self._ui_cpu = cpu
        self.dirty = False
        self.redraw()
        share = REDRAW_SHARE_TRAINING if self.training_flat_out() else REDRAW_SHARE
        # the time since the last redraw counts: after a quiet spell the next is not held
        wait = min(REDRAW_WAIT_MAX, spent / share)
        self._next_redraw = max(now + REDRAW_INTERVAL, self._redraw_at + wait)
        self._redraw_at = now

    def on_painted_plot_landed(self, msg: PaintedPlot.Landed) -> None:
        self.panels_landed()

    def on_say(self, msg: Say) -> None:
        self.say(msg.text)

    def on_travel_to(self, msg: TravelTo) -> None:
        self._travel(msg.epoch, 0)

    def panels_landed(self) -> None:
        """A panel's build is done; when the redraw's last one is, all of them go on screen in one
        refresh with the redraw's status line, so one screen shows one epoch."""
        plots = self._plots()
        if not plots or any(p.pending for p in plots):  # none: the app is quitting
            return
        with self.batch_update():
            for plot in plots:
                plot.commit()
            if self._status_due is not None:
                (rec, at), self._status_due = self._status_due, None
                self.show_status(rec, at=at)

    def _plots(self) -> list[PaintedPlot]:
        """The active screen's panels (none on the help screen), found once per screen: the DOM
        query cost 0.9 ms, 20 times a second, on the thread that shares the GIL with training."""
        children = self.children
        screen = children[0] if children else None
        found = self._plots_of.get(screen)
        if found is None or not all(p.is_attached for p in found):
            found = list(self.query(PaintedPlot))
            if not found:
                return found
            self._plots_of[screen] = found
        return found

    @property
    def settled(self) -> bool:
        """Everything the app holds is on screen: no redraw waiting to be drawn or built."""
        pending = any(p.pending for p in self._plots())
        return not self.dirty and self._status_due is None and not pending

    def _moved(self, soon: float = 0.0) -> None:
        """A key changed the view: redraw at the next tick (``soon``: the status line first)."""
        self.dirty = True
        if soon:
            self.show_status(look_up=True)
            self._next_redraw = max(self._next_redraw, time.monotonic() + soon)
        else:
            self._next_redraw = 0.0

    @property
    def file_stem(self) -> str:
        """What a saved file's name starts with."""
        return self.mode.file_stem()

    def action_screenshot(self) -> None:
        """An SVG of the screen under a new name (walker_tui.viewmodel.saved.write_new), or a line
        saying why not."""
        try:
            svg = self.export_screenshot().encode("utf-8")
            dest = write_new(self.file_stem, ".svg", lambda fh: fh.write(svg))
        except OSError as error:
            self.say(
                f"could not save the screenshot: {error}", style="bold red", seconds=8, sticky=True
            )
            return
        self.say(f"screenshot saved to {dest}", seconds=8, sticky=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): Textual's own commands (themes, keys) and every action
        of the mode, with its key."""
        for command in super().get_system_commands(screen):
            # ours: Quit stops the training thread first; p saves where the app works, not to
            # a ~/Downloads that need not exist
            if command.title not in ("Quit", "Screenshot"):
                yield command
        for title, key, action in keys.palette(self.mode.keys):
            yield SystemCommand(f"{title} ({key})", f"key {key}", getattr(self, f"action_{action}"))

    # --- the source ---

    def adopt(self, source: Source) -> None:
        """Start ``source`` in place of the one feeding the view (which the caller cancelled)."""
        self._sources = [s for s in self._sources if s.busy] + [source]
        self.source = source
        source.start()

    def still_busy(self, wait: float) -> bool:
        """After quitting: is a source's thread still inside its work ``wait`` seconds on?
        Cancelled, it ends after the epoch or grid chunk it is in (an epoch at n = 10^7 takes
        seconds); the caller must not tear the interpreter down under it (see cli)."""
        end = time.monotonic() + wait
        return not all(s.join(max(0.0, end - time.monotonic())) for s in self._sources)

    def closed(self) -> None:
        """What the app closes as it leaves, beside its source and panels."""

    def on_unmount(self) -> None:
        if self.source is not None:
            self.source.cancel()
        self.closed()
        self.stop_panels()

    # --- the keys every mode shares ---

    def _travel(self, to: float, direction: int) -> None:
        moved = self.view.travel(to, direction)
        if isinstance(moved, Note):
            self.tell(moved)
        elif moved:
            self._moved()

    def action_back(self) -> None:
        self._travel(self.view.shown_epoch - 1, -1)

    def action_forth(self) -> None:
        self._travel(self.view.shown_epoch + 1, 1)

    def action_page_back(self) -> None:
        self._travel(self.view.shown_epoch - self.view.page(), -1)

    def action_page_forth(self) -> None:
        self._travel(self.view.shown_epoch + self.view.page(), 1)

    def action_first(self) -> None:
        self._travel(0, -1)

    def action_log_x(self) -> None:
        self.view.unsay()
        self.view.log_x = not self.view.log_x
        self._moved()

    def action_note(self, text: str) -> None:
        """A key that does nothing in this mode says why (its note in the key table)."""
        self.say(text)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.mode.keys))

    def action_quit_app(self) -> None:
        if self.source is not None:
            self.source.cancel()  # (a daemon thread: the exit never waits for an epoch)
        self.exit(0)  # (on_unmount stops the painter)
