"""The app under torchrun: rank 0 leads (its app's sessions send each operation to the other
ranks first, and a heartbeat keeps paused followers inside the timeout), every other rank
follows. Built on viewmodel.session and walker_tui.parallel.sharded (which session needs), so
neither imports this module back."""

from __future__ import annotations

import threading
import time
from typing import Any

import torch.distributed as dist

from walker_tui.viewmodel.session import Session

# Every session operation that runs collectives (a new session, advance, catch_up, the race on or
# off) is broadcast by rank 0 as a small command just before it runs it, under one lock, so the
# other ranks run the same operations in the same order. While the app is paused nothing runs:
# rank 0 sends a heartbeat every HEARTBEAT seconds, so the followers, waiting in a broadcast,
# never reach the collective timeout. q (or Ctrl+C, a key in the app) sends quit to every rank.

HEARTBEAT = 2.0
LOCK = threading.RLock()
_last_sent = [0.0]


def send(command: tuple) -> None:
    """Rank 0: tell every other rank what to do next (under LOCK)."""
    with LOCK:
        dist.broadcast_object_list([command], src=0)
        _last_sent[0] = time.monotonic()


def receive() -> tuple:
    box: list[Any] = [None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class LeaderSession(Session):
    """The session rank 0's app trains with: each operation is sent to the followers first. It
    keeps the whole problem (on the CPU) beside its shard, to draw the surface."""

    keep_full = True
    _leading = False  # (Session's own set_race at start: the followers do it too)

    def __post_init__(self) -> None:
        with LOCK:
            send(("session", self.seed, self.race))
            super().__post_init__()
            self._leading = True

    def set_race(self, on: bool) -> bool:
        if not self._leading:
            return super().set_race(on)
        with LOCK:
            send(("race", on))
            return super().set_race(on)

    def advance(self, count: int) -> list:
        with LOCK:
            send(("advance", count))
            return super().advance(count)

    def catch_up(self, count: int) -> list:
        with LOCK:
            send(("catch_up", count))
            return super().catch_up(count)


class Heartbeat:
    """Rank 0, while its app runs: a command at least every HEARTBEAT seconds (see above)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(HEARTBEAT / 4):
            if time.monotonic() - _last_sent[0] < HEARTBEAT:
                continue
            if LOCK.acquire(blocking=False):  # (busy: the followers are in that work too)
                try:
                    send(("noop",))
                finally:
                    LOCK.release()

    def close(self) -> None:
        """Stop, and send every rank quit (once)."""
        if self.stop.is_set():
            return
        self.stop.set()
        self.thread.join()
        send(("quit",))


def follow(cfg: Any) -> int:
    """A rank other than 0 in the app: run what rank 0 sends, print nothing, until quit."""
    session = None
    while True:
        command = receive()
        op = command[0]
        if op == "quit":
            return 0
        if op == "session":
            _, seed, race = command
            session = Session(cfg, seed, race)  # (as rank 0's driver makes it)
        elif op == "advance":
            session.advance(command[1])
        elif op == "catch_up":
            session.catch_up(command[1])
        elif op == "race":
            session.set_race(command[1])
