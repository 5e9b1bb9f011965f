"""The status line's outcomes of a run (a RunView): each trainer's once it has one, a racer
still going by its loss at the epoch shown (back in time, its figure there, not its last), and
the short forms a small terminal takes. No Textual here."""

from __future__ import annotations

from typing import Any

import numpy as np

from walker_tui.catalog import walker_name
from walker_tui.numbers import describe_outcome, format_loss, format_metric

RunView = Any  # viewmodel.view.RunView (imported there: named here, it would be a cycle)


def shown_record(view: RunView, name: str) -> Any | None:
    """A trainer's record of the epoch shown (None: it had none there, or none yet)."""
    history = view.histories.get(name)
    if history is None or view.view_epoch is None:
        return history.latest if history is not None else None
    return history.at(view.view_epoch)


def parts(view: RunView) -> list[tuple[str, str]]:
    """(name, words) of each trainer: its outcome, or a racer's loss at the epoch shown (back
    before a racer's end, its figure there; a racer with no epoch there yet says so)."""
    out = []
    back, unit, target = view.view_epoch, view.unit, view.target
    for name, outcome in view.outcomes.items():
        history = view.histories.get(name)
        latest = history.latest if history is not None else None
        racing = outcome is None or (back is not None and outcome.epochs > back)
        if outcome is not None and (name == "walker" or not racing):
            shown = walker_name(view.cfg.direction) if name == "walker" else name
            part = describe_outcome(shown, outcome, target, unit)
        elif name != "walker" and latest is not None:
            latest = shown_record(view, name)
            if latest is None:  # (a racer catching up, not there yet)
                out.append((name, f"{name}: no {unit} {back} yet"))
                continue
            part = f"{name} racing: {format_loss(latest.loss, target)}"
        else:
            continue
        # a model's held-out accuracy, so a race compares what a user cares about too
        accuracy = (latest.metrics or {}).get("held-out accuracy") if latest else None
        if accuracy is not None and len(view.outcomes) > 1:
            part += f" ({format_metric('accuracy', accuracy)} held out)"
        out.append((name, part))
    return out


def short(view: RunView) -> list[str]:
    """The outcomes for a small terminal: the walker's, the best racer's (lowest loss at the
    epoch shown) and how many more there are; one line each, longest first (the status line
    takes the first that fits)."""
    found = parts(view)
    if len(found) <= 2:  # both on one line, or the walker's, or the racer's
        texts = [part for _, part in found]
        return [" · ".join(texts), *texts] if len(texts) == 2 else texts

    def loss(name: str) -> float:
        shown = shown_record(view, name)
        value = shown.loss if shown is not None else np.inf
        return value if np.isfinite(value) else np.inf

    walker = [p for n, p in found if n == "walker"]
    racers = [(n, p) for n, p in found if n != "walker"]
    best = min(racers, key=lambda item: loss(item[0]))[1]
    more = f"+{len(racers) - 1} more"
    return [" · ".join([*walker, f"best racer {best}", more]),
            " · ".join([*walker, f"best {best}", more]),
            f"best racer {best} · {more}", f"best {best} · {more}",
            f"{len(racers)} racers (a wider terminal shows them)"]  # fmt: skip
