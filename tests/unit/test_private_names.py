"""A leading underscore means "this file only": no module of walker_tui imports another's private
name (``from walker_tui.x import _name``) or reaches for one through an imported module
(``x._name``). What crosses a module gets a public name (the recording's schema.py, say)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import walker_tui

PACKAGE = Path(walker_tui.__file__).parent


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ImportFrom names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def private_crossings(path: Path) -> list[str]:
    """Each private name ``path`` takes from another walker_tui module, as 'line: what'."""
    tree = ast.parse(path.read_text(), str(path))
    module, is_package = _module_of(path), path.name == "__init__.py"
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("walker_tui."):
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
                    if alias.asname:
                        modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            if source != "walker_tui" and not source.startswith("walker_tui."):
                continue
            for alias in node.names:
                if _private(alias.name) or any(_private(p) for p in source.split(".")):
                    found.append(f"{node.lineno}: from {source} import {alias.name}")
                elif _is_module(f"{source}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_name():
    crossings = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if (found := private_crossings(path))
    }
    assert crossings == {}, "private names used across modules (give them public names)"


def test_the_check_sees_each_kind_of_crossing(tmp_path, monkeypatch):
    folder = tmp_path / "walker_tui"
    (folder / "recording").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "recording" / "__init__.py").write_text("")
    (folder / "recording" / "disk.py").write_text("def _open(): ...\n")
    source = folder / "recording" / "writer.py"
    source.write_text(
        "from walker_tui.recording.disk import _open\n"
        "from .disk import _open as opener\n"
        "from walker_tui.recording import disk\n"
        "disk._open()\n"
        "from walker_tui.recording.disk import _open as _mine  # still another file's\n"
        "def _here(): ...\n"  # (its own: fine)
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", folder)
    assert sorted(int(line.split(":")[0]) for line in private_crossings(source)) == [1, 2, 4, 5]
