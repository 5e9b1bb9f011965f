"""A source's events as Textual messages, one class per event so the app handles each by name
(``on_started``, ``on_epochs``, ..., watch's ``on_fed``). They carry the event as it came: plain
numbers, numpy arrays and records, never tensors."""

from __future__ import annotations

from textual.message import Message

import walker_tui.viewmodel.driver as driver
import walker_tui.viewmodel.watch as watch


class DriverMessage(Message):
    """An event of the source run ``gen`` (the app drops those of runs it has replaced)."""

    def __init__(self, gen: int, event: driver.Event | watch.Feed) -> None:
        super().__init__()
        self.gen, self.event = gen, event


class Started(DriverMessage):
    event: driver.Started


class Epochs(DriverMessage):
    event: driver.Epochs


class Racers(DriverMessage):
    event: driver.Racers


class Surface(DriverMessage):
    event: driver.Surface


class Failed(DriverMessage):
    event: driver.Failed


class Fed(DriverMessage):
    """What the files' follower read of one file (watch)."""

    event: watch.Feed


MESSAGES: dict[type, type[DriverMessage]] = {
    driver.Started: Started,
    driver.Epochs: Epochs,
    driver.Racers: Racers,
    driver.Surface: Surface,
    driver.Failed: Failed,
    watch.Feed: Fed,
}


def wrap(gen: int, event: driver.Event | watch.Feed) -> DriverMessage:
    """The message for a source's event."""
    return MESSAGES[type(event)](gen, event)
