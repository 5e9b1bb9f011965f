"""The layers below the UI never import it: every module of core, run, recording and parallel,
plus optim, the top-level config, catalog and numbers, and the headless commands, loads without
textual, rich or plotext (checked in a fresh interpreter, where nothing else has imported them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import walker_tui

ROOT = Path(walker_tui.__file__).parent
UI_FREE_PACKAGES = ("core", "viewmodel", "recording", "parallel")
UI_FREE_MODULES = ("config", "catalog", "numbers", "optim", "cli.headless", "cli.checks")
UI = ("textual", "rich", "plotext", "textual_plotext")


def ui_free() -> list[str]:
    names = [f"walker_tui.{m}" for m in UI_FREE_MODULES]
    for package in UI_FREE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_layers_below_the_ui_never_import_it():
    names = ui_free()
    assert len(names) > 30  # the walk found the layers' modules
    code = (
        "import json, sys\n"
        + "".join(f"import {name}\n" for name in names)
        + f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {UI!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []
