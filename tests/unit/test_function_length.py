"""No function is over 80 lines: a long one becomes named steps. The package is parsed (AST) and
each function and method measured from its ``def`` to its last line (a nested function counts in
the one around it too)."""

from __future__ import annotations

import ast
from pathlib import Path

import walker_tui

ROOT = Path(walker_tui.__file__).parent
MAX_LINES = 80
# folders of walker_tui not held to it yet, while they are being reworked
EXCLUDED: tuple[str, ...] = ()


def long_functions(root: Path = ROOT, excluded: tuple[str, ...] = EXCLUDED) -> list[str]:
    """``path:line name (N lines)`` for every function over MAX_LINES under ``root``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        if where.parts[0] in excluded:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    out.append(f"{root.name}/{where.as_posix()}:{node.lineno} {node.name} "
                               f"({lines} lines)")  # fmt: skip
    return out


def test_the_checker_sees_a_long_function(tmp_path):
    def source(name: str, lines: int) -> str:  # a function of this many lines, its def included
        return f"def {name}():\n" + "".join(f"    x{i} = {i}\n" for i in range(lines - 1))

    (tmp_path / "long.py").write_text(source("long", MAX_LINES + 1), encoding="utf-8")
    (tmp_path / "ok.py").write_text(source("ok", MAX_LINES), encoding="utf-8")
    (tmp_path / "skipped").mkdir()
    (tmp_path / "skipped" / "long.py").write_text(source("long", 500), encoding="utf-8")
    found = long_functions(tmp_path, ("skipped",))
    assert found == [f"{tmp_path.name}/long.py:1 long ({MAX_LINES + 1} lines)"]


def test_every_excluded_folder_is_in_the_package():
    assert all((ROOT / name).is_dir() for name in EXCLUDED)


def test_no_function_is_over_80_lines():
    assert long_functions() == []


# --- modules: none over 500 lines, the app's own module at most 400 (issue 30) ---

MAX_MODULE = 500
MAX_APP = 400
APP = ROOT / "ui" / "app.py"


def long_modules(root: Path = ROOT) -> list[str]:
    """``path (N lines)`` for every module over its limit under ``root``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > (MAX_APP if path == APP else MAX_MODULE):
            out.append(f"{path.relative_to(root).as_posix()} ({lines} lines)")
    return out


def test_the_module_checker_sees_a_long_module(tmp_path):
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_MODULE + 1), encoding="utf-8")
    (tmp_path / "ok.py").write_text("x = 1\n" * MAX_MODULE, encoding="utf-8")
    assert long_modules(tmp_path) == [f"long.py ({MAX_MODULE + 1} lines)"]


def test_no_module_is_over_500_lines_and_the_app_over_400():
    assert APP.exists() and long_modules() == []
