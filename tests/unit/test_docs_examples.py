"""The code in the README and the docs runs as printed: the README's WalkerSGD script trains and
writes the recording that `walker-tui watch` is then pointed at, and every Python block in the
docs at least compiles (a renamed argument or a missing name is caught where a test can run it)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from walker_tui.recording.reader import Recording

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@contextlib.contextmanager
def _cwd(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_readmes_walkersgd_script_trains_and_writes_its_recording(tmp_path):
    scripts = [code for code in _blocks(ROOT / "README.md") if 'record="run.csv"' in code]
    assert len(scripts) == 1, "the README has one script that records run.csv"
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


SPAN = re.compile(r"`(walker-tui[^`\n]*)`")


# what the docs show being refused (own-model.md: an error in the user's model, named by line)
REFUSED = {"walker-tui run --problem tests/unit/user_problems.py:broken_forward"}


def _commands(text: str) -> list[str]:
    """The walker-tui commands a page shows: in inline code, and on lines of its shell blocks."""
    lines, fence = [], None  # fence: the open code block's language ("" for none)
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
        elif fence is None:
            lines += SPAN.findall(line)
        elif fence in ("sh", "bash") or (fence in ("", "console") and line.startswith("$ ")):
            lines.append(line.removeprefix("$ "))  # (a transcript's output is not a command)
    out = []
    for line in lines:
        for command in re.split(r"&&|&|;", line.split(" #")[0]):
            command = command.strip()
            if command.startswith("walker-tui") and not command.startswith("walker-tui run:"):
                out.append(command)
    return out


def test_every_walker_tui_command_in_the_readme_and_the_docs_is_accepted():
    """Parsed and checked as the command line would (not run): a renamed or removed option, or
    one that would be ignored, fails here rather than in a reader's terminal."""
    from walker_tui.cli import COMMANDS
    from walker_tui.cli.args import PARSERS, join_negative_values
    from walker_tui.cli.checks import parse, racers_of, validate

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    seen = 0
    for page in pages:
        if page.name == "cli.md":  # (generated from the parsers themselves)
            continue
        for command in _commands(page.read_text(encoding="utf-8")):
            argv = join_negative_values(shlex.split(command)[1:])
            if any(a.isupper() or "..." in a or "*" in a for a in argv):
                continue  # a placeholder (FILE..., PATH), or a glob the shell would expand
            name = argv[0] if argv and argv[0] in COMMANDS else "app"
            parser = PARSERS[name]()
            argv = argv[1:] if name != "app" else argv
            where = f"{page.relative_to(ROOT)}: {command}"
            if "--help" in argv or (name in ("replay", "watch") and not argv):
                continue  # (`walker-tui watch` alone names the command in prose)
            try:
                args = parse(parser, argv) if name in ("run", "bench", "app") else None
                if name == "serve":
                    parser.parse_args(argv)
                elif name in ("replay", "watch"):
                    parser.parse_args(argv)
                else:
                    args.device = "cpu"  # (a cuda command is checked on any machine)
                    flag = {"run": "--optimizer", "bench": "--racers", "app": "--race"}[name]
                    if name == "run":  # (as walker_tui.cli._main checks each command)
                        names, exact = [args.optimizer], [(args.optimizer, args.lr)]
                    else:
                        given = args.racers if name == "bench" else args.race
                        names, exact = [n for n, _ in given or []], racers_of(args)
                    with _cwd(ROOT):
                        validate(parser, args, flag, names, exact)
            except SystemExit as e:
                assert command in REFUSED, f"{where} is refused (exit {e.code})"
                assert e.code == 2, where
            else:
                assert command not in REFUSED, f"{where} shows an error, and is accepted"
            seen += 1
    assert seen >= 20  # (the pages show many; a broken extractor finds none)
