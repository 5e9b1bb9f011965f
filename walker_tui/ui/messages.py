"""The driver's events as Textual messages, one class per event so the app handles each by name
(``on_started``, ``on_epochs``, ...). They carry the event as it came: plain numbers, numpy arrays
and records, never tensors."""

from __future__ import annotations

from textual.message import Message

import walker_tui.viewmodel.driver as driver


class DriverMessage(Message):
    """An event of the driver run ``gen`` (the app drops those of runs it has replaced)."""

    def __init__(self, gen: int, event: driver.Event) -> None:
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


MESSAGES: dict[type, type[DriverMessage]] = {
    driver.Started: Started,
    driver.Epochs: Epochs,
    driver.Racers: Racers,
    driver.Surface: Surface,
    driver.Failed: Failed,
}


def wrap(gen: int, event: driver.Event) -> DriverMessage:
    """The message for a driver event."""
    return MESSAGES[type(event)](gen, event)
