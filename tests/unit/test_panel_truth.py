"""Panels say what they show at every width (issue 19): the surface's note (coarse, refining,
sampled, failed), the candidates' title when the walk stays, the axis words."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rich.text import Text
from textual_plotext.plot import Plot

from walker_tui.core.grid import format_rate
from walker_tui.core.surface import SurfaceData, Window
from walker_tui.ui.help import FOOT
from walker_tui.ui.widgets.candidates import CandidateBars
from walker_tui.ui.widgets.surface_plot import SurfacePlot
from walker_tui.viewmodel.frames import BarsFrame, CurveFrame, SurfaceFrame


def text_of(panel, width: int, height: int, frame) -> str:
    """What a panel's draw puts on a width x height screen, as plain text."""
    plt = Plot()
    plt.plotsize(width, height)
    plt._set_size(width, height)
    panel.draw(plt, width, height, frame)
    return Text.from_ansi(plt.build()).plain


def surface(note: str) -> SurfaceData:
    xs, ys = np.linspace(-3, 3, 30), np.linspace(-2, 2, 30)
    z = np.add.outer(ys**2, xs**2)
    ring = np.linspace(0, 2 * np.pi, 60)
    contours = [(r * np.cos(ring), r * np.sin(ring)) for r in (0.5, 1.0, 1.5)]
    return SurfaceData(Window(-3, 3, -2, 2), xs, ys, z, contours, note)


NOTES = {
    "coarse 30x30, refining…": ["refining"],
    "coarse 30x30 on 318 of 1,437 points, refining…": ["refining"],
    "120x120 on 318 of 1,437 points": ["318"],
    "no surface: RuntimeError: Only Tensors created explicitly by the user": ["no surface"],
}


@pytest.mark.parametrize("width", [24, 30, 40, 58, 80, 120])
@pytest.mark.parametrize("note", list(NOTES))
def test_the_surface_says_its_note_at_every_width(note, width):
    paths = {"walker": (np.array([2.5, 1.0]), np.array([1.5, 0.5]))}
    frame = SurfaceFrame(paths, surface=surface(note), start=(2.5, 1.5), minimum=(0.0, 0.0))
    shown = text_of(SurfacePlot(), width, 20, frame)
    for word in NOTES[note]:
        assert word in shown, f"{note!r} at width {width}:\n{shown}"


def test_a_full_surface_keeps_its_axes_names():
    shown = text_of(SurfacePlot(), 40, 20, SurfaceFrame({}, surface=surface(""), start=(2.5, 1.5)))
    assert "w0 (y: w1)" in shown


def bars(width: int = 60, height: int = 14, **kw) -> str:
    rates = [0.1, 0.2, 0.3, 0.5]
    losses = np.array([16380988.0, 3e7, 5e7, 2e8])
    return text_of(CandidateBars(), width, height, BarsFrame(rates, losses, 0, 2, 0.1, **kw))


def test_a_walk_that_stayed_names_the_best_candidate_not_a_step_taken():
    shown = bars(stayed=True)
    assert "stayed put" in shown and "best" in shown
    assert "★" not in shown and "*0.10" not in shown  # nothing was taken
    taken = bars()
    assert "★" in taken and "stayed" not in taken


@pytest.mark.parametrize("width", [22, 24, 29, 30, 35, 40, 45, 58, 60, 70, 100])
def test_a_reused_rates_bars_say_so_and_name_the_epoch_they_come_from(width):
    """A step at a reused rate scores no candidate (core/schedule.py): its bars are the last
    scored step's, drawn faint, with no star nor * (their winner is not this epoch's), and the
    title says which epoch the bars are from at every width (29: the panel of a 60x20 app,
    which said only '0.07812 reused', the faint bars read as this epoch's), that the rate was
    reused and the rate taken where they fit (the status line says 'lr 0.05285 (reused)')."""
    for source, earlier in ((1, False), (2, True)):
        shown = bars(width=width, reused=0.05285, source=source, earlier_batch=earlier)
        title = shown.splitlines()[0]
        assert "0.05285" in title or width < 35, title
        assert "reused" in title or width < 28, title
        assert re.search(rf"\bbars .*\b(epoch|ep) {source}$", title.strip()), title
        assert "★" not in shown and "*0.10" not in shown, shown
        # why a rate that is none of the bars' (a new user read it as a worse pick): the
        # reused rate is the mean of the last 8 winners, said from the 120x40 layout's width
        assert re.search(r"8-winner mean|mean of (the last )?8 winners", title) or width < 58
    wide = bars(width=160, reused=0.05285, source=1)
    assert (
        "epoch 2: rate 0.05285 reused (mean of the last 8 winners), no candidates scored; "
        "bars from epoch 1 (won by"
    ) in wide.replace("\n", "")
    assert "reuses the winners' mean" in FOOT  # (? no longer says every epoch scores the grid)
    assert "bars from an earlier batch of epoch 2" in bars(
        width=120, reused=0.05285, source=2, earlier_batch=True
    )
    assert "reused" not in bars(width=width)  # a scored epoch: as before


@pytest.mark.parametrize("width", [22, 30, 45, 70])
def test_the_candidates_title_survives_a_narrow_panel(width):
    """80x24 at epoch 1 left the title blank: every width gets one."""
    epoch1 = text_of(
        CandidateBars(), width, 10, BarsFrame([0.1, 0.5], np.array([2.0, 2.0]), -1, 1, 0.1)
    )
    assert "start" in epoch1
    assert "stay" in bars(width=width, stayed=True)


def x_labels(shown: str) -> list[str]:
    """The bars' rate labels: the words of the panel's last line."""
    return shown.rstrip().splitlines()[-1].split()


def test_the_stay_candidate_and_the_grids_top_are_labelled():
    """--stay's zero-rate bar had no label (every other bar labelled, the last dropped); a
    40-rate grid labelled none near its top."""
    rates = [round(0.1 * i, 1) for i in range(1, 10)] + [0.0]  # --stay: its zero last
    losses = np.linspace(5.0, 3.0, 10)
    labels = x_labels(text_of(CandidateBars(), 57, 20, BarsFrame(rates, losses, 4, 2, 0.1)))
    assert labels[-1] == "stay" and "*0.50" in labels
    rates = [0.01 * 1.1**i for i in range(40)]
    losses = np.linspace(5.0, 3.0, 40)
    labels = x_labels(text_of(CandidateBars(), 57, 20, BarsFrame(rates, losses, 3, 2, 0.1)))
    assert labels[-1] == format_rate(rates[-1], rates), labels


def test_the_header_counts_rates_in_words():
    from walker_tui.config import Config
    from walker_tui.viewmodel.driver import Control
    from walker_tui.viewmodel.frames import subtitle
    from walker_tui.viewmodel.view import RunView

    def header(**kw) -> str:
        cfg = Config(device="cpu", **kw)
        return subtitle(RunView(cfg, Control(paused=True, pace=4)), 120, None)

    assert "9 rates + stay ·" in header(stay=True)
    assert "· 1 rate · 0.5" in header(lrs_spec="0.5")


def test_an_adaptive_grids_range_reads_from_to_and_fits_the_replays_header():
    # ("now 8.812e-05-2.81": a minus sign, and the replay's header cut it off)
    from walker_tui.config import Config
    from walker_tui.viewmodel.driver import Control
    from walker_tui.viewmodel.frames import subtitle
    from walker_tui.viewmodel.replay_view import ReplayView
    from walker_tui.viewmodel.view import RunView

    cfg = Config(device="cpu", grid="adaptive", lrs_spec="log:0.0001:0.01:9")
    rates = list(np.geomspace(8.812e-05, 2.81, 9))
    for replay, width in ((None, 200), (object(), 200), (None, 120), (object(), 120)):
        control = Control(paused=True, pace=4)
        v = RunView(cfg, control) if replay is None else ReplayView(cfg, control, replay)
        title = subtitle(v, width, rates)
        assert "8.812e-05 to 2.81" in title and "-2.81" not in title, title
        assert len(title) <= width - 30, title  # (the header's own words take the rest)


def test_the_axis_is_named_as_an_axis_not_like_a_problem():
    shown = bars(width=90)
    assert "losses on a log axis" in shown and "(linear)" not in shown and "(log)" not in shown
    lin = text_of(CandidateBars(), 90, 14, BarsFrame([0.1, 0.2], np.array([1.0, 1.1]), 1, 5, 0.1))
    assert "losses on a linear axis" in lin


def test_an_adaptive_grid_that_keeps_staying_keeps_distinct_rates():
    """A 100,000-epoch replay labelled every bar 1e-12: each rate was clamped to the floor. The
    grid now keeps its span at the floor, in the engine and in WalkerSGD alike."""
    import torch

    from walker_tui.core.adaptive import adapt_rates, next_grid
    from walker_tui.core.grid import format_rate
    from walker_tui.core.problems.zoo import make_problem
    from walker_tui.core.trainers.walker import Walker

    walker = Walker(make_problem("rosenbrock", 1, 17, "cpu"), [0.1, 0.2, 0.5, 1.0], adaptive=True)
    walker.step()
    stay, lrs, span = torch.tensor(len(walker.grid)), walker.lrs, walker.span
    for _ in range(400):  # staying put moves the grid down a quarter span each time
        lrs, span = next_grid(lrs, span, walker.span0, stay, torch.tensor(True))
    rates = lrs.tolist()
    assert min(rates) >= 1e-12 * (1 - 1e-6)
    labels = [format_rate(r, rates) for r in rates]
    assert len(set(labels)) == len(rates), labels
    grid, span = [0.1, 0.2, 0.5, 1.0], 1.0
    for _ in range(400):
        grid, span = adapt_rates(grid, span, 1.0, len(grid), True)
    assert min(grid) >= 1e-12 * (1 - 1e-6) and len({f"{r:.4g}" for r in grid}) == 4
    assert np.allclose(sorted(grid), sorted(rates), rtol=1e-4)  # the two copies agree


def contrast(rgb: tuple[int, int, int], background: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""

    def lum(c):
        ch = [v / 255 for v in c]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    a, b = sorted((lum(rgb), lum(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_no_color_series_are_readable_and_differ_by_glyph(monkeypatch):
    from walker_tui.ui.widgets import bar_color, series_color, series_marker

    monkeypatch.setenv("NO_COLOR", "1")
    names = ["walker"] + [f"racer {i}" for i in range(1, 7)]
    for background in [(28, 28, 28), (36, 36, 36), (18, 18, 18)]:  # the 234/235 greys, darker
        for i, name in enumerate(names):
            color = series_color(name, i)
            assert isinstance(color, tuple) and contrast(color, background) >= 3, (name, color)
        assert contrast(bar_color(), background) >= 3
    glyphs = [series_marker(name, i) for i, name in enumerate(names[:6])]
    assert len(set(glyphs)) == len(glyphs)


def test_no_racer_glyph_means_something_else_on_the_surface():
    from walker_tui.ui.widgets import RACER_MARKERS, WINNER_GLYPH
    from walker_tui.ui.widgets.surface_plot import CANDIDATE_GLYPH

    surface_marks = {"o", "+", WINNER_GLYPH, CANDIDATE_GLYPH, "·", "*"}
    assert not surface_marks & set(RACER_MARKERS)


def test_a_legend_that_does_not_fit_counts_the_rest():
    from walker_tui.ui.widgets.loss_curve import LossCurve, fit_legend

    items = ["⣿ walker", "• stepper 0.3", "x adam 0.05", "# lbfgs"]
    assert fit_legend(items, 200) == " ".join(items)
    short = fit_legend(items, 30)
    assert short.endswith("more") and "+" in short and len(short) <= 30
    kept = short.count("walker") + short.count("stepper") + short.count("adam")
    assert int(short.split("+")[1].split()[0]) == len(items) - kept
    xs = np.arange(1, 10.0)
    series = {n.split(" ", 1)[1]: (xs, 1 / xs) for n in items}
    shown = text_of(LossCurve(), 40, 14, CurveFrame(series, 0.1, None))
    assert "more" in shown


def test_the_seconds_axis_says_training_time():
    from walker_tui.ui.widgets.loss_curve import LossCurve

    xs = np.arange(1, 10.0)
    shown = text_of(
        LossCurve(), 80, 16, CurveFrame({"walker": (xs / 100, 1 / xs)}, 0.1, None, "seconds")
    )
    assert "training time" in shown and "wall" not in shown


# --- headless and files (issue 19, items 19-22) ---


def test_a_csv_whose_first_row_is_numbers_gets_one_line(tmp_path, capsys):
    from walker_tui.cli import main

    path = tmp_path / "nohdr.csv"
    path.write_text("1,2,3\n4,5,6\n7,8,10\n")
    with pytest.raises(SystemExit) as stop:
        main(["run", "--data", str(path), "--epochs", "3"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "line 1 holds only numbers" in err and "header row" in err
    assert "Traceback" not in err


def test_a_nan_loss_at_the_start_is_said_before_training_not_as_divergence(capsys):
    from pathlib import Path

    from walker_tui.cli import main

    spec = f"{Path(__file__).parent / 'user_problems.py'}:nan_loss"
    with pytest.raises(SystemExit) as stop:
        main(["run", "--problem", spec, "--epochs", "3", "--device", "cpu"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "the loss at the start weights is nan" in err and "Diverged" not in err


def test_replay_of_a_killed_npz_whose_part_is_unreadable_names_the_part(tmp_path):
    from walker_tui.viewmodel.replay import ReplayError, load_replay

    (tmp_path / "cut.npz.part").write_bytes(b"")  # (a readable one opens: tests/app/test_replay)
    with pytest.raises(ReplayError) as error:
        load_replay(tmp_path / "cut.npz")
    assert "'" + str(tmp_path / "cut.npz.part") + "' is not a walker-tui recording" in str(
        error.value
    )


def test_an_unknown_command_names_the_commands(capsys):
    from walker_tui.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["frobnicate"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err and all(c in err for c in ("run", "bench", "replay", "serve"))


def test_smoothing_adds_to_the_loss_titles_axis_words_and_never_replaces_them():
    """watch's e: at widths where the title said "loss (log) by step" and the legend, the
    smoothing's note took the axis words' place."""
    from walker_tui.ui.widgets.loss_curve import LossCurve

    xs = np.arange(1.0, 40.0)
    series = {"first-run": (xs, 1 / xs), "second-run": (xs, 2 / xs)}
    kept = 0
    for width in range(40, 121):
        plain = text_of(LossCurve(), width, 20, CurveFrame(series, 0.0, None, unit="step"))
        smoothed = text_of(LossCurve(), width, 20, CurveFrame(series, 0.0, None, unit="step",
                           note=", EMA 0.9 (raw faint)"))  # fmt: skip
        assert "EMA 0.9" in smoothed, f"width {width}:\n{smoothed}"
        if "loss (log) by step" in plain:
            kept += 1
            assert "loss (log) by step" in smoothed, f"width {width}:\n{smoothed}"
    assert kept > 20


@pytest.mark.parametrize("width", [24, 30, 40, 58, 120])
def test_a_surface_before_the_first_step_says_so_at_every_width(width):
    """A model before its first step: w0 alone gives the window no scale, so the panel draws it
    path only and says why in its title (a short panel drops the bottom line's note)."""
    from walker_tui.viewmodel.driver import NO_STEP, path_only

    frame = SurfaceFrame({}, surface=path_only(Window(-1e-5, 1e-5, -1e-5, 1e-5), NO_STEP),
                         start=(0.0, 0.0), sliced=True)  # fmt: skip
    title = text_of(SurfacePlot(), width, 12, frame).splitlines()[0]
    assert "no step" in title, title


@pytest.mark.parametrize("width", [58, 120])
def test_the_no_step_note_is_whole_where_there_is_room(width):
    from walker_tui.viewmodel.driver import NO_STEP, path_only

    assert NO_STEP.endswith("comes with the first step")
    frame = SurfaceFrame({}, surface=path_only(Window(-1e-5, 1e-5, -1e-5, 1e-5), NO_STEP),
                         start=(0.0, 0.0), sliced=True)  # fmt: skip
    assert NO_STEP in text_of(SurfacePlot(), width, 12, frame)


@pytest.mark.parametrize("box", [(-2, 1.999, -1, 1), (-1, 1, -1.5, 1.4991)])
def test_axis_numbers_print_no_negative_zero(box):
    """A tick a hair below zero rounds to zero: plotext printed it -0.0 (-0.00 on a rosenbrock
    replay, -0.000 on digits); a zero has no sign. The other ticks keep their sign."""
    xs, ys = np.linspace(box[0], box[1], 30), np.linspace(box[2], box[3], 30)
    data = SurfaceData(Window(*box), xs, ys, np.add.outer(ys**2, xs**2), [], "")
    frame = SurfaceFrame({"walker": (np.array([0.5, 0.1]), np.array([0.5, 0.2]))},
                         surface=data, start=(0.5, 0.5))  # fmt: skip
    for width in (58, 120):
        text = text_of(SurfacePlot(), width, 20, frame)
        assert not re.search(r"-0\.0+(?![0-9])", text), text
        assert re.search(r"-1\.0", text) or re.search(r"-0\.00[0-9]", text), text


def test_a_surface_of_one_point_draws_no_axis_numbers():
    """w0 alone (before the first step, or a watched file's first epoch): the window's width is
    the drawing's choice (±0.000038 about w0), not the run's, so no numbers go on the axes; the
    first step away from w0 brings them."""
    from walker_tui.viewmodel.driver import NO_STEP, path_only

    window = Window(-3.8e-5, 3.8e-5, -3.8e-5, 3.8e-5)
    alone = SurfaceFrame({"walker": ([0.0], [0.0])}, surface=path_only(window, NO_STEP),
                         start=(0.0, 0.0), sliced=True)  # fmt: skip
    text = text_of(SurfacePlot(), 58, 20, alone)
    assert "0.000038" not in text and "0.000000" not in text, text
    assert "o" in text  # the start is still drawn
    moved = SurfaceFrame({"walker": ([0.0, 2e-5], [0.0, -1e-5])},
                         surface=path_only(window), start=(0.0, 0.0), sliced=True)  # fmt: skip
    assert "0.000038" in text_of(SurfacePlot(), 58, 20, moved)
