"""Where the panels' data comes from: a Source runs on a thread of its own and hands plain events
(numbers, numpy arrays and records, never tensors) to the callback it was made with; the UI
steers it through attributes (a :class:`~walker_tui.viewmodel.driver.Control`) and stops it with
``cancel``. Three siblings stand behind it, each a small class of its own:

- training: a :class:`~walker_tui.viewmodel.driver.Driver` stepping a
  :class:`~walker_tui.viewmodel.session.Session` (:func:`training`);
- replay: the same driver, paced and stepped the same way, playing a recording's rows as they
  are (:func:`replay`, over :class:`~walker_tui.viewmodel.replay.Playback`; a problem is rebuilt
  only to draw the surface, and none where there is none to rebuild);
- watch: a :class:`~walker_tui.viewmodel.watch.Follower` reading files as they grow (it takes no
  Control: the keys travel what it has read).

The app holds one, with a view and a key mode (live, replay, watch: walker_tui.ui.keys). UI-free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from walker_tui.config import Config
from walker_tui.recording.reader import Recording
from walker_tui.viewmodel.driver import Control, Driver, Event
from walker_tui.viewmodel.replay import Playback
from walker_tui.viewmodel.session import Session
from walker_tui.viewmodel.watch import POLL, Feed, Follower


class Source(Protocol):
    """What the app needs of a source: start it, stop it, and know whether its threads are
    still inside their work (quitting waits for them, see cli)."""

    def start(self) -> object:
        """Run on a daemon thread; events go to the source's callback."""
        ...

    def cancel(self) -> None:
        """Stop at the next check and report nothing more."""
        ...

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for its threads to end; True if they have."""
        ...

    @property
    def busy(self) -> bool:
        """A thread of it is still running."""
        ...


MakeSession = Callable[[Config, int, bool], Session]


def training(
    cfg: Config,
    seed: int,
    control: Control,
    emit: Callable[[Event], object],
    make_session: MakeSession = Session,
) -> Driver:
    """One seed's training run (``make_session``: under torchrun, the leader's session)."""
    return Driver(cfg, seed, control, emit, make_session)


def replay(
    recording: Recording,
    cfg: Config,
    control: Control,
    emit: Callable[[Event], object],
    resume_at: int | None = None,
) -> Driver:
    """A recording played epoch by epoch, paced, paused and stepped as training is (``cfg``:
    the one it was made with, see walker_tui.viewmodel.replay.load_replay; ``resume_at``: every
    epoch up to this one at once, then played on from it)."""
    return Driver(
        cfg, cfg.seed, control, emit, lambda c, _s, _r: Playback(recording, c, resume_at=resume_at)
    )


def watch(paths: list[Path], emit: Callable[[Feed], None], poll: float = POLL) -> Follower:
    """Recordings followed as they grow, each feed handed to ``emit``."""
    return Follower(paths, emit, poll)
