"""The command line's parsers: no abbreviations, --version on every command, the app's pace by
problem, and bench's header in words that fit its --repeat."""

from __future__ import annotations

import pytest

from walker_tui import __version__
from walker_tui.cli import COMMANDS, main
from walker_tui.cli.args import PARSERS, app_parser
from walker_tui.cli.checks import make_config, parse


def test_every_command_has_its_parser():
    assert set(PARSERS) == {"app", *COMMANDS}


@pytest.mark.parametrize("make", PARSERS.values(), ids=lambda m: m.__name__)
def test_no_option_is_taken_by_an_abbreviation(make):
    assert make().allow_abbrev is False


def test_a_misspelt_option_is_an_error_not_another_option(capsys):
    # (`--epoch 3` was taken as --epochs 3)
    with pytest.raises(SystemExit) as stop:
        main(["run", "--epoch", "3", "--quiet", "--device", "cpu"])
    assert stop.value.code == 2
    assert "unrecognized arguments: --epoch 3" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["run"], ["bench"], ["replay"], ["watch"], ["serve"]])
def test_every_command_says_its_version(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"walker-tui {__version__}\n"


def test_the_opening_walks_one_epoch_a_second():
    # the bare command's 11 epochs were over in 3 s at 4 a second, before a newcomer's first key
    assert make_config(parse(app_parser(), [])).pace == 1.0
    assert make_config(parse(app_parser(), ["--problem", "digits"])).pace == 4.0
    assert make_config(parse(app_parser(), ["--pace", "8"])).pace == 8.0


def test_bench_with_one_timed_run_says_one(capsys):
    argv = ["bench", "--repeat", "1", "--device", "cpu", "--racers", "stepper:0.3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    head = captured.out.splitlines()[0]
    assert head.endswith("one timed run after a warm-up") and "median" not in head
    assert "a warm-up and 1 timed run each" in captured.err
