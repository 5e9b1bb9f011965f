"""What ``walker-tui watch`` shows, as plain data: the runs followed side by side, the run picked
(its candidates and path are shown), the loss panel's metric and smoothing, and where the view
stands: following the newest epoch, or back at one while the status line counts what came in.
The keys ask it and it answers as RunView does (a Note, or whether the view moved); what each
panel draws for it is viewmodel.watch_frames. No Textual here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from walker_tui.core.trainers.loop import HostEpoch
from walker_tui.viewmodel.series import WEIGHTS
from walker_tui.viewmodel.view import EpochView, Note
from walker_tui.viewmodel.watch import Feed, Run, run_names

SMOOTHING = (None, *WEIGHTS)  # the smoothing key's steps
BULK_FRAMES = 0.5  # seconds between frames while a long file is being opened


@dataclass
class Taken:
    """What a feed taken in asks of the screen: its notes said; ``shown``: the status line
    anew (False: a long file being opened, held back); ``drawn``: the panels too."""

    notes: list[Note] = field(default_factory=list)
    shown: bool = True
    drawn: bool = False


class WatchView(EpochView):
    """Recordings followed as they grow: every key reads what is held, nothing trains."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.waiting = "still reading the recordings: their rows show in a moment"
        self.paths = [Path(p) for p in paths]
        names = run_names(self.paths)
        self.runs = [Run(i, p, n) for i, (p, n) in enumerate(zip(self.paths, names, strict=True))]
        self.selected = 0
        self.metric: str | None = None  # None: the loss panel shows the loss
        self.smooth: float | None = None  # the EMA's weight; None: raw
        self.back_base: list[int] | None = None  # each run's rows when the view left the newest
        self.differ_said: str | None = None  # the runs-differ note last said
        self.feeds = 0  # feeds taken in (for tests and the benchmark)
        self.bulk_shown = 0.0
        self.undrawn = False  # rows taken in and not yet asked to be drawn
        self.fed_at = 0.0  # when the last feed with new rows was taken in (time.monotonic)

    # --- what the follower read ---

    def take(self, feed: Feed, now: float) -> Taken:
        """Take in what the follower read of one file (``now``: time.monotonic)."""
        run = self.runs[feed.index]
        problem_before = run.problem
        new = run.absorb(feed)
        self.feeds += 1
        self.waiting = "no rows written yet: watch shows them as the files grow"
        taken = Taken()
        if feed.restart is not None:
            taken.notes.append(Note(feed.restart, "bold red", 30, sticky=True))
        if run.problem is not None and problem_before is None:
            taken.notes.append(Note(run.problem, "bold red", 30, sticky=True))
        self.histories = {r.name: r.history for r in self.runs if r.history is not None}
        self.undrawn = self.undrawn or bool(new) or feed.restart is not None
        if feed.more and now - self.bulk_shown < BULK_FRAMES:
            taken.shown = False  # (a long file being opened: a frame and a status every half s)
            return taken
        self.bulk_shown = now
        if self.undrawn:  # what this feed brought, and what the feeds held back brought
            self.undrawn = False
            self.fed_at = now
            taken.drawn = True
        differ = self.differ
        if differ and differ != self.differ_said:  # (again when a run read later joins it)
            self.differ_said = differ
            taken.notes.append(Note(f"{differ}: their curves overlay all the same", seconds=10))
        return taken

    def tick(self) -> bool:
        """Once a second (the runs' ages): whether rows held back while a long file was read
        are still to be drawn."""
        undrawn, self.undrawn = self.undrawn, False
        return undrawn

    @property
    def differ(self) -> str | None:
        """How the runs differ where they do: their problems, or what a row is."""
        known = [r for r in self.runs if r.head is not None]
        if len({r.kind for r in known}) < 2 and len({r.unit for r in known}) < 2:
            return None
        parts = [f"{r.name} {r.kind} ({r.unit}s)" for r in known]
        return "runs differ: " + ", ".join(parts)

    def rows(self) -> list[int]:
        return [r.rows for r in self.runs]

    # --- state ---

    @property
    def state(self) -> str:
        return "following" if self.view_epoch is None else "back"

    @property
    def picked(self) -> Run:
        """The run whose candidates and path are shown."""
        return self.runs[self.selected]

    @property
    def unit(self) -> str:
        units = {r.unit for r in self.runs if r.head is not None}
        return units.pop() if len(units) == 1 else "epoch/step" if units else "epoch"

    @property
    def file_stem(self) -> str:
        """A screenshot's name: the run shown."""
        return f"watch-{self.picked.name.replace('/', '-')}"

    def walker_at(self, epoch: int, run: Run | None = None) -> HostEpoch | None:
        """The record the picked run (or ``run``) holds nearest at or before ``epoch`` (its
        last past its end)."""
        history = (run or self.picked).history
        if history is None or history.latest is None:
            return None
        if epoch >= history.latest.epoch:
            return history.latest
        rec = history.at(epoch)
        if rec is None:
            near = history.nearest(epoch, -1)
            rec = history.at(near) if near is not None else None
        return rec

    # --- keys ---

    def travel(self, to: float, direction: int) -> Note | bool:
        """As EpochView's; leaving the newest epoch starts counting what comes in."""
        before = self.view_epoch
        moved = super().travel(to, direction)
        self._left(before)
        return moved

    def _left(self, before: int | None) -> None:
        """The view left the newest epoch (count what comes in from now) or came back."""
        if self.view_epoch is None:
            self.back_base = None
        elif before is None:
            self.back_base = self.rows()

    def follow(self) -> bool:
        """Follow the newest epoch again (what came in while back is on screen at once)."""
        self.unsay()
        self.view_epoch = None
        self._left(0)
        return True

    def toggle_pause(self) -> Note | None:
        """Space: stop following here (new epochs are counted), or follow again."""
        if self.view_epoch is not None:
            self.follow()
            return None
        if not self.histories:
            return Note("no epoch read yet: nothing to stop at")
        self.unsay()
        self.view_epoch = self.latest_epoch
        self._left(None)
        return None

    def newest(self) -> Note | bool:
        """End: follow the newest epoch again."""
        if self.view_epoch is None and self.histories:
            return Note(f"following the newest {self.unit} already: left, page up or space go back")
        if self.view_epoch is not None:  # (stopped at the newest too: end follows again)
            return self.follow()
        return self.travel(self.latest_epoch, 1)

    def step(self) -> Note | bool:
        """n: one epoch forth, once back."""
        if self.view_epoch is None:
            return Note("following the newest: n steps forth once back (left, page up, home)")
        return self.travel(self.shown_epoch + 1, 1)

    def pick_run(self, number: int) -> Note:
        """Run ``number`` (from 1): its candidates and path are shown (the note says whose)."""
        if number > len(self.runs):
            return Note(f"run {number}: there are {len(self.runs)} (c goes through them)")
        return self._pick(number - 1)

    def next_run(self) -> Note:
        return self._pick((self.selected + 1) % len(self.runs))

    def _pick(self, index: int) -> Note:
        if len(self.runs) == 1:
            return Note("one file watched: its candidates and path are shown (c picks another)")
        self.unsay()
        self.selected = index
        return Note(f"candidates and path of {self.picked.name} ({index + 1} of {len(self.runs)})")

    def next_metric(self) -> Note | bool:
        """The loss panel's next: the loss, then each metric the runs logged."""
        names: list[str] = []
        for r in self.runs:
            names += [n for n in r.metrics if n not in names]
        if not names:
            return Note(
                "no metrics logged: a script adds them with WalkerSGD's opt.log(name=value)"
            )
        self.unsay()
        cycle = [None, *names]
        at = cycle.index(self.metric) if self.metric in cycle else 0
        self.metric = cycle[(at + 1) % len(cycle)]
        return True

    def next_smoothing(self) -> bool:
        self.unsay()
        self.smooth = SMOOTHING[(SMOOTHING.index(self.smooth) + 1) % len(SMOOTHING)]
        return True

    def on_disk(self) -> Note:
        """w: the run is a file already."""
        return Note(f"{self.picked.name} is on disk already: {self.picked.path}")
