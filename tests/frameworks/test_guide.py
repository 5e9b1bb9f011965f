"""The Python in docs/guides/walkersgd-frameworks.md runs as printed: the plain loop with no
closure, and the whole LightningModule (where Lightning is installed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "walkersgd-frameworks.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[str]:
    return BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("index", range(2))
def test_the_guides_examples_run(index, tmp_path):
    code = blocks()[index]
    if "lightning" in code:
        pytest.importorskip("lightning.pytorch", reason="Lightning is not installed")
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_readmes_lightning_module_is_the_guides():
    """The README shows the guide's LightningModule word for word, so the test above runs it."""
    readme = GUIDE.parents[2] / "README.md"
    lightning = [code for code in blocks() if "lightning" in code]
    readme_blocks = BLOCK.findall(readme.read_text(encoding="utf-8"))
    assert len(lightning) == 1 and lightning[0] in readme_blocks
