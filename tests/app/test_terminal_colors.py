"""The app follows the terminal's colour system: TERM=dumb (which names none) got 24-bit colour
codes, Textual's fallback, where xterm-256color gets 256-colour ones. It now draws in the 16
standard colours there and says so on the status line."""

from __future__ import annotations

import os
import re
import sys

import pytest
from helpers import Terminal, status_text, until

from walker_tui.config import Config
from walker_tui.ui.app import make_app


@pytest.mark.parametrize(
    "term,system,said",
    [("dumb", "standard", True), ("xterm-256color", "256", False), ("xterm", "standard", False)],
)
async def test_the_colour_system_is_the_terminals(monkeypatch, term, system, said):
    monkeypatch.setenv("TERM", term)
    monkeypatch.delenv("COLORTERM", raising=False)
    app = make_app(Config(device="cpu"), start_paused=True)
    assert app.console.color_system == system
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.histories)
        assert ("TERM=dumb names no colours" in status_text(app)) == said


@pytest.mark.skipif(os.name != "posix", reason="a pseudo-terminal")
def test_a_dumb_terminal_gets_no_24_bit_codes():
    env = {"TERM": "dumb", "COLORTERM": "", "OMP_NUM_THREADS": "1"}
    term = Terminal([sys.executable, "-m", "walker_tui", "--device", "cpu", "--paused"], env)
    try:
        term.wait_for("paused", timeout=120)
        term.read(1.0)
        sgr = [m.split(b";") for m in re.findall(rb"\x1b\[([0-9;]*)m", term.raw)]
        assert not any(b"38" in p or b"48" in p for p in sgr)  # no 24-bit nor 256 colour
        sixteen = {str(c).encode() for c in [*range(30, 38), *range(90, 98), *range(40, 48)]}
        assert any(sixteen & set(p) for p in sgr)  # the 16 standard colours
        term.press(b"q")
        assert term.exit_code(30) == 0
    finally:
        term.kill()
