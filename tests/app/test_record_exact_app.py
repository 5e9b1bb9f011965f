"""The live app records the walker's epochs (for w) with float_text, the vectorised writer, and
the file w saves holds the very float32 losses and weights it was handed."""

from __future__ import annotations

import numpy as np
from helpers import until

from walker_tui.config import Config
from walker_tui.recording import float_text
from walker_tui.recording.reader import Recording
from walker_tui.ui.app import make_app


async def test_w_saves_what_float_text_wrote_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    handed: list[np.ndarray] = []
    text = float_text.text

    def spied(values: np.ndarray) -> tuple[bytes, np.ndarray]:
        handed.append(np.array(values, dtype=np.float32))
        return text(values)

    monkeypatch.setattr(float_text, "text", spied)
    app = make_app(Config(problem="mlp", device="cpu", pace=0, epochs=6))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view.done, timeout=120)
        await pilot.press("w")
        await until(pilot, lambda: bool(list(tmp_path.glob("*.csv"))), timeout=20)
    saved = Recording.load(next(tmp_path.glob("*.csv")))
    assert len(handed) == len(saved.rows) == 6  # (mlp's 13 x 338 values: float_text's rows)
    for block, row in zip(handed, saved.rows, strict=True):
        got = np.column_stack([row.losses, row.weights.T])  # as the writer lays a row out
        assert got.shape == block.shape and got.view("u4").tobytes() == block.view("u4").tobytes()
