"""A --data table is parsed once per file, however often a run reseeds or races."""

from __future__ import annotations

import walker_tui.core.data as data
from walker_tui.config import Config
from walker_tui.viewmodel.session import Session


def test_a_table_is_parsed_once_per_run(tmp_path, monkeypatch):
    table = tmp_path / "houses.csv"
    table.write_text("size,rooms,price\n50,2,150\n80,3,240\n65,2,170\n120,4,400\n")
    parsed = []
    real = data._parse
    monkeypatch.setattr(data, "_parse", lambda *a: parsed.append(a) or real(*a))
    cfg = Config(data=str(table), device="cpu", min_loss=0)
    data.load_table(str(table))  # the command line's check
    for seed in (17, 18, 19):  # reseeds
        Session(cfg, seed, race=seed % 2 == 0)
    assert len(parsed) == 1
    # the file changed on disk (to a new size: its mtime may not tick): read again
    table.write_text("size,rooms,price\n50,2,150\n80,3,240\n65,2,170\n120,4,4100\n")
    Session(cfg, 20)
    assert len(parsed) == 2
