"""The docs' reference pages (the command line, the keys) are what scripts/docs_reference.py
writes from the parsers and the key tables: a changed option or key without the page fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts/docs_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_pages_are_the_generators_output():
    for path, text in _generator().pages().items():
        name = path.relative_to(ROOT)
        assert path.exists(), f"{name} is missing: run python scripts/docs_reference.py"
        assert path.read_text(encoding="utf-8") == text, (
            f"{name} differs from the code it describes: run python scripts/docs_reference.py"
        )


def test_every_option_and_key_is_on_its_page():
    gen = _generator()
    from walker_tui.cli.args import PARSERS
    from walker_tui.ui.keys import KEYS, MODES

    cli, keys = gen.cli_page(), gen.keys_page()
    for parser in (make() for make in PARSERS.values()):
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in cli, option
    for key in KEYS:
        for use in (key.use(mode) for mode in MODES):
            if use is not None and use.help is not None:
                label = " ".join(use.help[0].split())  # (the page's cells take one space)
                assert f"`{label}`" in keys, use.help[0]
