"""The engine never imports the UI: its modules load without textual, rich or plotext (checked in
a fresh interpreter, where nothing else has imported them)."""

from __future__ import annotations

import json
import subprocess
import sys

ENGINE = [
    "catalog",
    "config",
    "data",
    "driver",
    "engine",
    "grids",
    "headless",
    "history",
    "numbers",
    "precision",
    "problems",
    "session",
    "surface",
]
UI = ("textual", "rich", "plotext", "textual_plotext")


def test_engine_modules_never_import_the_ui():
    code = (
        "import json, sys\n"
        + "".join(f"import walker_tui.{name}\n" for name in ENGINE)
        + f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {UI!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []
