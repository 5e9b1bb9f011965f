"""Finding, calling and checking a user's problem function (``--problem FILE.py:FUNC`` or
``package.module:FUNC``); an error in their code as one line naming their own line."""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from walker_tui.core.seeds import seed64


class UserProblemError(ValueError):
    """A user's problem that cannot be trained; the message is one line naming what is wrong."""


@dataclass
class ModelSpec:
    """What a problem function returned, checked."""

    model: torch.nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    data: tuple[torch.Tensor, torch.Tensor]
    held: tuple[torch.Tensor, torch.Tensor] | None
    label: str  # how the app names it (the spec, or the built-in's name)
    files: tuple[str, ...] = ()  # the user's source files, for naming their line in an error


# --- finding and calling the user's function ---

_MODULES: dict[tuple[str, float], Any] = {}  # (path, mtime) -> module: imported once per version


def is_user_spec(name: str) -> bool:
    """``FILE.py:FUNC`` or ``package.module:FUNC`` (the built-in problems have no colon)."""
    return ":" in name


def load_function(spec: str) -> tuple[Callable[[], Any], tuple[str, ...]]:
    """The function a spec names, and the source file it lives in."""
    where, _, func = spec.rpartition(":")
    if not where or not func.isidentifier():
        raise UserProblemError(f"{spec!r}: give FILE.py:FUNC or package.module:FUNC")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _import_file(spec, Path(where))
    else:
        if Path(where).is_file():  # a file that is not .py: not importable as a module
            raise UserProblemError(f"{spec!r}: {where!r} is not a .py file (give FILE.py:FUNC)")
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())  # modules here, as `python -m` finds them
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            if error.name is not None and where.startswith(error.name):
                raise UserProblemError(f"{spec!r}: no module named {where!r}") from None
            raise UserProblemError(user_error(error, spec)) from None
        except Exception as error:
            raise UserProblemError(user_error(error, spec)) from None
    target = getattr(module, func, None)
    if target is None:
        raise UserProblemError(f"{spec!r}: {where} has no function {func!r}")
    if not callable(target):
        kind = type(target).__name__
        article = "an" if kind[:1] in "aeiou" else "a"
        raise UserProblemError(f"{spec!r}: {func!r} is {article} {kind}, not a function")
    source = getattr(module, "__file__", None)
    return target, (str(Path(source).resolve()),) if source else ()


def _import_file(spec: str, path: Path) -> Any:
    if path.is_dir():
        raise UserProblemError(f"{spec!r}: {str(path)!r} is a folder, not a .py file")
    if not path.is_file():
        raise UserProblemError(f"{spec!r}: file {str(path)!r} does not exist")
    path = path.resolve()
    key = (str(path), path.stat().st_mtime)
    if key in _MODULES:
        return _MODULES[key]
    name = f"walker_tui_user_{abs(hash(key))}"
    loader = importlib.util.spec_from_file_location(name, path)
    if loader is None or loader.loader is None:
        raise UserProblemError(f"{spec!r}: {str(path)!r} cannot be imported as Python")
    module = importlib.util.module_from_spec(loader)
    sys.path.insert(0, str(path.parent))  # its own imports of files beside it
    try:
        loader.loader.exec_module(module)
    except Exception as error:
        raise UserProblemError(user_error(error, spec, (str(path),))) from None
    finally:
        sys.path.remove(str(path.parent))
    _MODULES[key] = module
    return module


def spec_files(spec: str) -> tuple[str, ...]:
    """The user's source file a ``FILE.py:FUNC`` spec names (none for a module spec)."""
    where = spec.rpartition(":")[0]
    return (str(Path(where).resolve()),) if where.endswith(".py") else ()


def user_error(error: BaseException, where: str, files: tuple[str, ...] = ()) -> str:
    """One line for an exception raised in the user's code: the deepest line of theirs it passed
    through (that is the line they need), then the error."""
    frames = traceback.extract_tb(error.__traceback__)
    package = str(Path(__file__).resolve().parents[2])  # walker_tui/
    theirs = [f for f in frames if str(Path(f.filename).resolve()) in files] if files else []
    if not theirs:  # a module import: any frame outside walker-tui, torch and the standard library
        theirs = [
            f
            for f in frames
            if not str(Path(f.filename).resolve()).startswith(package)
            and "site-packages" not in f.filename
            and "/lib/python" not in f.filename
            and not f.filename.startswith("<")
        ]
    message = (str(error).strip().splitlines() or [""])[0][:200]
    what = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if theirs:
        f = theirs[-1]
        line = (f.line or linecache.getline(f.filename, f.lineno or 0)).strip()
        return f"{where}: {what} (at {f.filename}:{f.lineno} in {f.name}: {line})"
    return f"{where}: {what}"


def _as_pair(value: Any, what: str, spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise UserProblemError(
            f"{spec}: {what} must be a tuple (inputs, targets), got {type(value).__name__}"
            + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        )
    x, y = value
    for name, t in (("inputs", x), ("targets", y)):
        if not isinstance(t, torch.Tensor):
            raise UserProblemError(
                f"{spec}: {what}'s {name} must be a torch.Tensor, got {type(t).__name__}"
            )
        if t.dim() == 0:
            raise UserProblemError(f"{spec}: {what}'s {name} is a 0-d tensor; the first "
                                   "dimension must be the sample")  # fmt: skip
    if len(x) != len(y):
        raise UserProblemError(
            f"{spec}: {what} has {len(x)} inputs but {len(y)} targets (they must be as many)"
        )
    if len(x) == 0:
        raise UserProblemError(f"{spec}: {what} is empty")
    return x, y


def check_spec(
    result: Any, spec: str, files: tuple[str, ...] = (), label: str | None = None
) -> ModelSpec:
    """A problem function's return value, checked; a UserProblemError names what is wrong."""
    if not isinstance(result, (tuple, list)) or len(result) not in (3, 4):
        got = type(result).__name__
        if isinstance(result, (tuple, list)):
            got += f" of length {len(result)}"
        raise UserProblemError(
            f"{spec}: must return (model, loss_fn, (inputs, targets)) or with a held-out "
            f"(inputs, targets) as a fourth item, got {got}"
        )
    model, loss_fn, data = result[:3]
    if not isinstance(model, torch.nn.Module):
        raise UserProblemError(
            f"{spec}: the model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if not callable(loss_fn):
        raise UserProblemError(f"{spec}: loss_fn must be callable, got {type(loss_fn).__name__}")
    data = _as_pair(data, "data", spec)
    held = _as_pair(result[3], "the held-out data", spec) if len(result) == 4 else None
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise UserProblemError(f"{spec}: the model has no parameter that requires a gradient")
    if any(not p.is_floating_point() for p in trainable):
        raise UserProblemError(f"{spec}: the model's trainable parameters must be floating point")
    dtype = trainable[0].dtype
    for what, pair in (("data", data), ("the held-out data", held)):
        if pair is not None and pair[0].is_floating_point() and pair[0].dtype != dtype:
            raise UserProblemError(
                f"{spec}: {what}'s inputs are {str(pair[0].dtype)[6:]} but the model's "
                f"parameters are {str(dtype)[6:]}: convert one (inputs.to({dtype}), as numpy's "
                "float64 arrays need)"
            )
    return ModelSpec(model, loss_fn, data, held, label or spec, files)


def user_spec(spec: str, seed: int) -> ModelSpec:
    """Call the user's function with torch seeded by ``seed`` (its initial weights follow the
    seed; the global generator is left as it was) and check what it returned."""
    func, files = load_function(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed64(seed))
        try:
            result = func()
        except Exception as error:
            raise UserProblemError(user_error(error, spec, files)) from None
    return check_spec(result, spec, files)
