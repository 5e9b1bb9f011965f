"""The app's keys, in ONE table: the bindings (and the footer, in their order), the command
palette, the help screen and the help screen's own bindings (each app key closes the help and
acts) all come from it, so they cannot drift apart (``w`` and ``p`` once did nothing on the help
screen, missing from one of four lists). No torch."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str  # Textual's key names, comma-separated
    action: str  # the app's action_<name>
    footer: str | None = None  # its word in the footer; None: not shown there
    display: str | None = None  # how the footer writes the key (+ for plus)
    help: tuple[str, str] | None = None  # its line on the help screen (key label, what it does)
    palette: str | None = None  # its title in the command palette (ctrl+p)
    live_only: bool = False  # a replay has one seed, no racers and nothing to save
    replay_help: str | None = None  # its help line's words in a replay, where they differ

    @property
    def label(self) -> str:
        return self.display or self.keys.split(",")[0]


KEYS = [  # the footer shows them in this order: help and quit before the pace keys
    Key("space", "toggle_pause", "pause", help=("space", "pause / resume training"),
        palette="Pause or resume", replay_help="pause / resume playing"),
    Key("n", "step", "step", help=("n", "one epoch (pauses first if running)"),
        palette="Step one epoch", replay_help="one epoch on (pauses first)"),
    Key("left", "back", help=("left / right", "back / forth one epoch through the run (pauses)"),
        palette="Back one epoch"),
    Key("right", "forth", palette="Forth one epoch"),
    Key("pageup", "page_back",
        help=("pgup / pgdn", "back / forth 10 epochs (a twentieth of a run past 200)"),
        palette="Back 10 epochs (a twentieth of a long run)"),
    Key("pagedown", "page_forth", palette="Forth 10 epochs (a twentieth of a long run)"),
    Key("home", "first", help=("home / end", "the first / the newest epoch"),
        palette="Back to the first epoch"),
    Key("end", "newest", palette="To the newest epoch"),
    Key("r", "reseed", "reseed", help=("r", "reseed: next seed, new data and w0, from epoch 0"),
        palette="Reseed: new data and start", live_only=True),
    Key("s", "race", "race",
        help=("s", "race the walker from the same w0; s again drops the racers"),
        palette="Race the walker, or stop the race", live_only=True),
    Key("question_mark", "help", "help", "?", help=("?", "this help"), palette="Help: every key"),
    Key("q", "quit_app", "quit", help=("q", "quit"), palette="Quit walker-tui"),
    Key("plus,equals_sign", "faster", "faster", "+",
        help=("+ / -", "faster / slower pace, up to as fast as it goes"), palette="Faster"),
    Key("minus", "slower", "slower", "-", palette="Slower"),
    Key("x", "x_axis", help=("x", "loss curve along epochs, loss evaluations or training time"),
        palette="Loss curve by epochs, evaluations or training time"),
    Key("l", "log_x", help=("l", "loss curve on a log / linear x axis (long runs)"),
        palette="Loss curve on a log or linear epoch axis"),
    Key("w", "save_record", help=("w", "save the walker's run (walker-tui replay opens it)"),
        palette="Save the walker's run as a recording", live_only=True),
    Key("p", "screenshot", help=("p", "save a screenshot (SVG)"),
        palette="Save a screenshot (SVG)"),
]  # fmt: skip
PALETTE_HELP = ("ctrl+p", "command palette: every action, and themes")


def bindings() -> list[Binding]:
    """The app's bindings: the table's, and ctrl+c (quit, before any widget sees it)."""
    out = [
        Binding(k.keys, k.action, k.footer or k.action.replace("_", " "),
                show=k.footer is not None, key_display=k.display)
        for k in KEYS
    ]  # fmt: skip
    return out + [
        Binding("ctrl+c", "quit_app", "quit", show=False, priority=True),
        Binding("escape", "hide_help_panel", "close keys", show=False),  # Textual's Keys panel
    ]


def replay_bindings() -> list[Binding]:
    """A replay's overrides: its live-only keys leave the footer (they still answer, with a
    note that a replay has one seed and no racers)."""
    return [Binding(k.keys, k.action, k.footer or k.action, show=False) for k in KEYS
            if k.live_only]  # fmt: skip


def help_lines(replay: bool = False) -> list[tuple[str, str]]:
    """The help screen's lines, in the table's order (a replay's: only keys that work there)."""
    lines = []
    for k in KEYS:
        if k.help is None or (replay and k.live_only):
            continue
        lines.append((k.help[0], (k.replay_help if replay else None) or k.help[1]))
    last = [line for line in lines if line[0] in ("?", "q")]  # help and quit close the list
    return [line for line in lines if line not in last] + [PALETTE_HELP] + last


def help_forwards() -> list[Binding]:
    """The help screen's bindings: every app key but help (which closes it) closes it and
    acts."""
    return [Binding(k.keys, f"forward('{k.action}')", show=False) for k in KEYS
            if k.action != "help"]  # fmt: skip


def palette() -> list[tuple[str, str, str]]:
    """The command palette's entries: (title, key as shown, action)."""
    shown = {"question_mark": "?", "plus": "+", "minus": "-", "pageup": "pgup", "pagedown": "pgdn"}
    return [(k.palette, k.display or shown.get(k.keys.split(",")[0], k.keys.split(",")[0]),
             k.action) for k in KEYS if k.palette]  # fmt: skip
