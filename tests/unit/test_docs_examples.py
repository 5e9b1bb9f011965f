"""The code in the README and the docs runs as printed: the README's WalkerSGD script trains and
writes the recording that `walker-tui watch` is then pointed at, and every Python block in the
docs at least compiles (a renamed argument or a missing name is caught where a test can run it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from walker_tui.recording.reader import Recording

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_readmes_walkersgd_script_trains_and_writes_its_recording(tmp_path):
    scripts = [code for code in _blocks(ROOT / "README.md") if "WalkerSGD(" in code]
    assert len(scripts) == 1, "the README has one WalkerSGD script"
    (tmp_path / "train.py").write_text(scripts[0], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("epoch 30: loss ")
    recording = Recording.load(tmp_path / "run.csv")
    assert len(recording.rows) == 30 * 4  # a row a step: 512 points in batches of 128
    assert recording.end is not None and recording.end["outcome"] == "closed"
    assert recording.rows[-1].loss < recording.rows[0].loss


def test_every_python_block_in_the_readme_and_the_docs_compiles():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for i, code in enumerate(_blocks(page)):
            compile(code, f"{page.relative_to(ROOT)} block {i + 1}", "exec")
