"""Headless output that reads well where it lands (issue 11: 17, 18): bench aligns its columns on
a terminal and stays tab-separated when piped; CSV errors name the file's line and the delimiter."""

from __future__ import annotations

import io

import pytest

from walker_tui.cli import main
from walker_tui.cli.headless import Table
from walker_tui.core.data import DataError, load_table


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_aligns_on_a_terminal_and_tabs_when_piped():
    head = ["Optimizer", "LR", "Final loss"]
    rows = [["walker", "lin:0.1:1:10 (10 rates)", "0.096"], ["stepper", "0.9", "0.0996"]]
    piped, tty = io.StringIO(), Terminal()
    for out in (piped, tty):
        table = Table(out, head)
        for r in rows:
            table.row(r)
        table.end()
    assert piped.getvalue().splitlines()[1] == "walker\tlin:0.1:1:10 (10 rates)\t0.096"
    lines = tty.getvalue().splitlines()
    assert "\t" not in tty.getvalue()
    # every column starts at the same place on every line
    starts = [line.index("0.096") for line in lines[1:2]] + [lines[2].index("0.0996")]
    assert starts[0] == starts[1] == lines[0].index("Final loss")


def test_bad_cells_name_the_file_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n\n1,2,3\n4,x,6\n")  # a blank line: the bad cell is on line 4
    with pytest.raises(DataError, match="line 4, column 'b'"):
        load_table(path)
    path.write_text("a,b,y\n1,2,3\n4,5\n")
    with pytest.raises(DataError, match="line 3 has 2 cells"):
        load_table(path)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_delimiters_are_detected(tmp_path, sep):
    path = tmp_path / "t.csv"
    rows = ["a,b,y".replace(",", sep)] + [
        sep.join(str(v) for v in (i, (i * 7) % 5, 2 * i + 1)) for i in range(6)
    ]
    path.write_text("\n".join(rows) + "\n")
    table = load_table(path)
    assert table.features == ["a", "b", "intercept"] and table.target == "y"
    assert table.x.shape == (6, 3)


def test_one_column_says_what_it_saw(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("a y\n1 2\n3 4\n")
    with pytest.raises(SystemExit):
        main(["run", "--data", str(path)])
    err = capsys.readouterr().err
    assert "saw one column" in err and "line 1" in err and "'a y'" in err
