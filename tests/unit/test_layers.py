"""Each layer imports only the layers below it (imports inside functions count): core knows
nothing of recording, viewmodel, parallel, ui or cli; recording nothing of viewmodel, ui or cli;
viewmodel nothing of the UI; only cli sits on top. The package is parsed (AST), as test_no_cycles
does."""

from __future__ import annotations

from test_no_cycles import imports_of, modules

TOP = ("walker_tui.catalog", "walker_tui.config", "walker_tui.numbers")
CORE = ("walker_tui.core",)
RECORDING = ("walker_tui.recording",)
SHARDED = ("walker_tui.parallel.sharded",)
# what each room may import (a prefix matches the module and everything below it)
ALLOWED = {
    "walker_tui.core": TOP + CORE,
    "walker_tui.recording": TOP + CORE + RECORDING,
    "walker_tui.parallel.sharded": TOP + CORE + SHARDED,
    "walker_tui.viewmodel": TOP + CORE + RECORDING + SHARDED + ("walker_tui.viewmodel",),
    "walker_tui.parallel.leader": TOP + CORE + ("walker_tui.viewmodel", "walker_tui.parallel"),
    "walker_tui.optim": TOP + CORE + RECORDING + ("walker_tui.optim",),
    "walker_tui.ui": TOP
    + CORE
    + RECORDING
    + ("walker_tui.viewmodel", "walker_tui.parallel", "walker_tui.ui"),
}


def room(name: str) -> str | None:
    return next((r for r in sorted(ALLOWED, key=len, reverse=True) if within(name, (r,))), None)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def breaches() -> list[str]:
    known = modules()
    out = []
    for name, path in sorted(known.items()):
        where = room(name)
        if where is None:  # cli, the package's own __init__ and __main__: on top
            continue
        for target in sorted(imports_of(name, path, known)):
            if target != "walker_tui" and not within(target, ALLOWED[where]):
                out.append(f"{name} imports {target}")
    return out


def test_the_rooms_cover_the_package():
    rooms = {room(name) for name in modules()}
    assert set(ALLOWED) <= rooms  # every room has modules (a renamed package would hide)


def test_the_checker_sees_a_breach():
    assert within("walker_tui.core.trainers.loop", CORE)
    assert not within("walker_tui.viewmodel.view", ALLOWED["walker_tui.core"])
    assert room("walker_tui.parallel.leader") == "walker_tui.parallel.leader"


def test_each_layer_imports_only_those_below_it():
    assert breaches() == []
