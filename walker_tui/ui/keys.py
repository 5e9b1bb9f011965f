"""The keys, in ONE table with a column per mode (live training, a replay, watch): each mode's
bindings (and its footer, in their order), its command palette, its help screen and the help
screen's own bindings (each key closes the help and acts) all come from it, so they cannot drift
apart (``w`` and ``p`` once did nothing on the help screen, missing from one of four lists). No
torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from textual.actions import parse
from textual.binding import Binding

MODES = ("live", "replay", "watch")


@dataclass(frozen=True)
class Use:
    """What a key is in one mode: its word in the footer (None: not shown there), its line on
    the help screen (key label, what it does), its title in the command palette (ctrl+p), and
    ``note``: where it does nothing in this mode, what it says instead (then it is offered
    nowhere; it answers all the same)."""

    footer: str | None = None
    help: tuple[str, str] | None = None
    palette: str | None = None
    note: str | None = None
    still: str | None = None  # its footer word while the run is paused or played out

    @property
    def offered(self) -> bool:
        return self.note is None


QUIET = Use()  # bound, offered nowhere (a mode's own words for it are on another row's help)


def note(text: str) -> Use:
    return Use(note=text)


@dataclass(frozen=True)
class Key:
    keys: str  # Textual's key names, comma-separated
    action: str  # the app's action_<name>
    live: Use | None  # None: not bound in that mode
    replay: Use | None
    watch: Use | None
    display: str | None = None  # how the footer writes the key (+ for plus)

    @property
    def label(self) -> str:
        return self.display or self.keys.split(",")[0]

    def use(self, mode: str) -> Use | None:
        return getattr(self, mode)


def same(use: Use, replay_help: str | None = None, still: str | None = None) -> dict[str, Use]:
    """The live and replay columns, alike but for the replay's help words (and ``still``, the
    replay's footer word while paused or played out)."""
    if replay_help is None or use.help is None:
        return {"live": use, "replay": use}
    return {"live": use, "replay": Use(use.footer, (use.help[0], replay_help), use.palette,
                                       still=still)}  # fmt: skip


WATCH_NOTE = "watch shows the files as they are written"
KEYS = [  # the footer shows them in this order: help and quit before the pace keys (and
    # before watch's own keys)
    Key("space", "toggle_pause", **same(Use("pause", ("space", "pause / resume training"),
        "Pause or resume"), "pause / resume playing", still="play"),
        watch=Use("stop/follow", ("space", "stop following here / follow again"),
                  "Stop following here, or follow again")),
    Key("n", "step", **same(Use("step", ("n", "one epoch (pauses first if running)"),
        "Step one epoch"), "one epoch on (pauses first)"), watch=QUIET),
    Key("left", "back", **same(Use(None, ("left / right",
        "back / forth one epoch through the run (pauses)"), "Back one epoch")),
        watch=Use(None, ("left / right", "back / forth one epoch (or step): following stops"),
                  "Back one epoch (following stops)")),
    Key("right", "forth", **same(Use(palette="Forth one epoch")),
        watch=Use(palette="Forth one epoch")),
    Key("pageup", "page_back", **same(Use(None, ("pgup / pgdn",
        "back / forth 10 epochs (a twentieth of a run past 200)"),
        "Back 10 epochs (a twentieth of a long run)")),
        watch=Use(None, ("pgup / pgdn", "back / forth 10 epochs (a twentieth of a run past 200)"),
                  "Back 10 epochs (a twentieth of a long run)")),
    Key("pagedown", "page_forth",
        **same(Use(palette="Forth 10 epochs (a twentieth of a long run)")),
        watch=Use(palette="Forth 10 epochs (a twentieth of a long run)")),
    Key("home", "first", **same(Use(None, ("home / end", "the first / the newest epoch"),
        "Back to the first epoch")),
        watch=Use(None, ("home", "the first epoch"), "Back to the first epoch")),
    Key("end", "newest", **same(Use(palette="To the newest epoch")),
        watch=Use("follow", ("end", "follow the newest epoch again (the status counts what came "
                  "in while back)"), "Follow the newest epoch again")),
    Key("r", "reseed", Use("reseed", ("r", "reseed: next seed, new data and w0, from epoch 0"),
        "Reseed: new data and start"),
        replay=note("a replay shows what was recorded: it has one seed (q quits)"),
        watch=note(f"{WATCH_NOTE}: no reseed (q quits)")),
    Key("s", "race", Use("race", ("s", "race the walker from the same w0; s again drops the "
        "racers"), "Race the walker, or stop the race"),
        replay=note("a replay holds the walker's recording alone: no racers to add"),
        watch=note(f"{WATCH_NOTE}: no racers to add")),
    Key("question_mark", "help", **same(Use("help", ("?", "this help"), "Help: every key")),
        watch=Use("help", ("?", "this help"), "Help: every key"), display="?"),
    Key("q", "quit_app", **same(Use("quit", ("q", "quit"), "Quit walker-tui")),
        watch=Use("quit", ("q", "quit (the recordings are left as they are)"),
                  "Quit (the recordings are left as they are)")),
    Key("plus,equals_sign", "faster", **same(Use("faster", ("+ / -",
        "faster / slower pace, up to as fast as it goes"), "Faster")),
        watch=note("watch follows the files as they are written (replay FILE plays at a pace)"),
        display="+"),
    Key("minus", "slower", **same(Use("slower", palette="Slower")),
        watch=note("watch follows the files as they are written (replay FILE plays at a pace)"),
        display="-"),
    Key("x", "x_axis", Use(None, ("x", "loss curve along epochs, loss evaluations or training "
        "time"), "Loss curve by epochs, evaluations or training time"),
        replay=Use(None, ("x", "loss curve along epochs or loss evaluations (a recording holds no "
        "training time)"), "Loss curve by epochs or evaluations"),
        watch=note("a recording holds no training time: its curve runs along its rows")),
    Key("l", "log_x", **same(Use(None, ("l", "loss curve on a log / linear x axis (long runs)"),
        "Loss curve on a log or linear epoch axis")),
        watch=Use(None, ("l", "loss curve on a log / linear x axis (long runs)"),
                  "Loss curve on a log or linear epoch axis")),
    Key("w", "save_record", Use(None, ("w", "save the walker's run (walker-tui replay opens it)"),
        "Save the walker's run as a recording"), replay=QUIET, watch=QUIET),
    Key("p", "screenshot", **same(Use(None, ("p", "save a screenshot (SVG)"),
        "Save a screenshot (SVG)")),
        watch=Use(None, ("p", "save a screenshot (SVG)"), "Save a screenshot (SVG)")),
    Key("c", "next_run", None, None,
        Use("next run", ("c  or  1-9", "whose candidates and path are shown: the next run, or "
            "run N"), "Next run: its candidates and path")),
    Key("m", "metric", None, None,
        Use("metric", ("m", "the loss panel: the loss, then each metric the script logged "
            "(opt.log)"), "Loss panel: the loss, or a metric the script logged")),
    Key("e", "smoothing", None, None,
        Use("smoothing", ("e", "smoothing: an EMA of 0.6, 0.9, 0.99 or off, the raw curve faint "
            "behind"), "Smoothing: an EMA of 0.6, 0.9, 0.99, or off")),
    *(Key(str(i), f"pick_run({i})", None, None, QUIET) for i in range(1, 10)),
]  # fmt: skip
PALETTE_HELP = ("ctrl+p", "command palette: every action, and themes")


def _used(mode: str) -> list[tuple[Key, Use]]:
    return [(k, u) for k in KEYS if (u := k.use(mode)) is not None]


def _action(key: Key, use: Use) -> str:
    """The action a key runs: its own, or saying its note where it does nothing here."""
    return key.action if use.note is None else f"note({use.note!r})"


STILL = "still"  # the parameter of a key's binding that shows its word while the run is still


def _tagged(key: Key, mode: str, use: Use) -> str:
    """The key's action in ``mode``; where another mode shows the same action in other words
    (space: pause, stop/follow), each mode's carries its mode, so check_action tells them
    apart (the action ignores it)."""
    if use.note is not None:
        return _action(key, use)
    words = {(u.footer, u.still) for m in MODES if (u := key.use(m)) is not None and u.offered}
    return key.action if len(words) < 2 else f"{key.action}({mode!r})"


def bindings(mode: str = "live") -> list[Binding]:
    """A mode's bindings: its column of the table (a key with a ``still`` word twice, the first
    shown only while the run is paused or played out), and ctrl+c (quit, before any widget sees
    it)."""
    out = []
    for k, u in _used(mode):
        action, word = _tagged(k, mode, u), u.footer or k.action.replace("_", " ")
        if u.still is not None:
            out.append(Binding(k.keys, f"{k.action}({STILL!r})", u.still, key_display=k.display))
        out.append(Binding(k.keys, action, word, show=u.footer is not None, key_display=k.display))
    return out + [
        Binding("ctrl+c", "quit_app", "quit", show=False, priority=True),
        Binding("escape", "hide_help_panel", "close keys", show=False),  # Textual's Keys panel
    ]


def _union(of: Callable[[str], list[Binding]]) -> tuple[Binding, ...]:
    """Every mode's bindings by ``of``, each once, in the table's order."""
    out: list[Binding] = []
    for mode in MODES:
        out += [b for b in of(mode) if b not in out]
    rows = [k.keys for k in KEYS]
    return tuple(sorted(out, key=lambda b: rows.index(b.key) if b.key in rows else len(rows)))


@cache
def every_binding() -> tuple[Binding, ...]:
    """Every mode's bindings, in the table's order: the app's BINDINGS, of which its
    check_action keeps the mode's (:func:`allows`)."""
    return _union(bindings)


@cache
def _actions(mode: str | None) -> frozenset[tuple[str, tuple]]:
    """The (name, parameters) of a mode's bindings' actions (None: every mode's)."""
    found = every_binding() if mode is None else bindings(mode)
    return frozenset((name, params) for _, name, params in (parse(b.action) for b in found))


def allows(mode: str, action: str, parameters: tuple, still: bool = False) -> bool:
    """Whether a binding's action (its name and parameters) is the mode's: a key bound in
    another mode alone, or another mode's answer for it, is neither run nor shown. ``still``:
    the run is paused or played out (a key's still word shows then, its own word otherwise)."""
    named = (action, tuple(parameters))
    if named not in _actions(None):
        return True  # (Textual's own: the palette, quit; a key the help screen forwards)
    if named not in _actions(mode):
        return False
    return still or named[1] != (STILL,)


def help_lines(mode: str = "live") -> list[tuple[str, str]]:
    """A mode's help screen, in the table's order: only the keys that work there."""
    lines = [u.help for _, u in _used(mode) if u.help is not None]
    last = [line for line in lines if line[0] in ("?", "q")]  # help and quit close the list
    return [line for line in lines if line not in last] + [PALETTE_HELP] + last


def help_forwards(mode: str = "live") -> list[Binding]:
    """The help screen's bindings: every key of the mode but help (which closes it) closes it
    and acts."""
    return [Binding(k.keys, f"forward({_action(k, u)!r})", show=False) for k, u in _used(mode)
            if k.action != "help"]  # fmt: skip


@cache
def every_forward() -> tuple[Binding, ...]:
    """Every mode's help screen bindings (the help screen's BINDINGS: see :func:`forwards`)."""
    return _union(help_forwards)


@cache
def forwards(mode: str) -> frozenset[str]:
    """The actions the help screen forwards in ``mode``."""
    return frozenset(parse(b.action)[2][0] for b in help_forwards(mode))


def palette(mode: str = "live") -> list[tuple[str, str, str]]:
    """A mode's command palette entries: (title, key as shown, action)."""
    shown = {"question_mark": "?", "plus": "+", "minus": "-", "pageup": "pgup", "pagedown": "pgdn"}
    return [(u.palette, k.display or shown.get(k.keys.split(",")[0], k.keys.split(",")[0]),
             k.action) for k, u in _used(mode) if u.palette and u.offered]  # fmt: skip
