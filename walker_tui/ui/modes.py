"""What differs between the panels app's modes, as data the one app holds (ui/app.py): the key
table's column, the title, the view and what its panels and status line draw, the status line
widget, what the device line reads, and the source that feeds the view. live and replay: a
RunView fed by a Driver (training a Session, or playing a recording); watch: a WatchView fed by
the files' Follower."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import walker_tui.parallel.sharded as distributed
import walker_tui.viewmodel.frames as frames
import walker_tui.viewmodel.source as sources
import walker_tui.viewmodel.watch_frames as watch_frames
from walker_tui.config import Config
from walker_tui.recording.ends import unit_of
from walker_tui.recording.reader import Recording
from walker_tui.ui.device_monitor import app_probe, watch_probe
from walker_tui.ui.widgets.status import ItemLines, StatusLine
from walker_tui.ui.widgets.watch_status import WatchStatus
from walker_tui.viewmodel.driver import Control
from walker_tui.viewmodel.frames import Panels
from walker_tui.viewmodel.replay_view import ReplayView
from walker_tui.viewmodel.session import Session
from walker_tui.viewmodel.source import Source
from walker_tui.viewmodel.view import PACES, EpochView, RunView
from walker_tui.viewmodel.watch import POLL
from walker_tui.viewmodel.watch_view import WatchView

Post = Callable[[Any], object]  # hands a source's event to the app (from the source's thread)


@dataclass
class Mode:
    """One mode of the panels app (see the module's docstring)."""

    keys: str  # live, replay or watch: the key table's column (walker_tui.ui.keys)
    title: str
    view: EpochView
    control: Control  # the UI's wishes to a Driver (watch's follower takes none)
    status_line: type[ItemLines]  # StatusLine or WatchStatus
    probe: Callable[[], Callable[[], str]]  # what the device line reads
    panels: Callable[[Any], Panels]  # the view's frames for the epoch shown
    status: Callable[..., Any]  # (view, rec, epoch, latest, device_use): the status frame
    subtitle: Callable[[Any, int, list[float] | None], str]  # (view, width, rates)
    source: Callable[[Post, int | None], Source]  # a new source for the view (post, resume_at)
    file_stem: Callable[[], str]  # what a saved file's name starts with
    tick: float | None = None  # seconds between the status line's looks at the clock


def run_mode(cfg: Config, start_paused: bool = False, replay: Recording | None = None) -> Mode:
    """Training (live), or ``replay`` played (replay): a RunView fed by a Driver."""
    pace = cfg.pace if cfg.pace in PACES else min(PACES[:-1], key=lambda p: abs(p - cfg.pace))
    control = Control(paused=start_paused, pace=pace)
    # what a row is: a WalkerSGD recording's is a step (a batch), not an epoch
    unit = unit_of(replay.options) if replay is not None else "epoch"
    view = RunView(cfg, control) if replay is None else ReplayView(cfg, control, replay, unit)

    def source(post: Post, resume_at: int | None) -> Source:
        control.set(race=view.race)
        if replay is not None:
            return sources.replay(replay, cfg, control, post, resume_at)
        make = Session
        if distributed.active():  # under torchrun: the other ranks follow (parallel.leader)
            from walker_tui.parallel.leader import LeaderSession

            make = LeaderSession
        return sources.training(cfg, view.seed, control, post, make)

    return Mode(
        keys="live" if replay is None else "replay",
        title="walker-tui",
        view=view,
        control=control,
        status_line=StatusLine,
        probe=lambda: app_probe(cfg.device),
        panels=frames.panels,
        status=frames.status_frame,
        subtitle=frames.subtitle,
        source=source,
        file_stem=lambda: f"walker-tui-{view.file_stem}-seed{view.seed}",
    )


def watch_mode(paths: list[Path], poll: float = POLL) -> Mode:
    """Recordings followed as they grow (watch): a WatchView fed by the files' Follower."""
    view = WatchView(paths)

    def source(post: Post, resume_at: int | None) -> Source:
        return sources.watch(view.paths, post, poll)

    return Mode(
        keys="watch",
        title="walker-tui watch",
        view=view,
        control=Control(paused=False, pace=1.0),  # (unused: the follower takes no Control)
        status_line=WatchStatus,
        probe=lambda: watch_probe,  # this machine's, which may not be the job's: the line says so
        panels=watch_frames.panels,
        status=watch_frames.status_frame,
        subtitle=watch_frames.subtitle,
        source=source,
        file_stem=lambda: f"walker-tui-{view.file_stem}",
        tick=1.0,  # the runs' ages ("no new step for 45 s")
    )
