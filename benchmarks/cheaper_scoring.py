"""Cheaper scoring for walker:adam (issue 32): prototypes measured against the rule as it is and
Adam at its best swept rate, in one run, epoch by epoch interleaved.

    python benchmarks/cheaper_scoring.py [--problems digits,my_model,cnn] [--seeds 17,18,19]
                                         [--variants rule,half,quarter,...] [--adam 0.03]

Each variant is the engine's walker along adam (walker_tui.core.trainers.walker, its rule in
walker_tui.core.schedule) with one thing changed here, by a subclass or a patch of one instance,
so the package is untouched:

* ``rule``: as it is (the baseline).
* ``half``, ``quarter``, ``s16``, ``s32``: a scoring step scores the candidates on the first
  half, the first quarter, or the first 16 or 32 samples of the step's mini-batch; the winner's
  loss and gradient (the next direction) still on the whole batch.
* ``affine``: the candidates' first layer computed once (``x W1^T`` and ``x U1^T``; candidate
  j's first-layer output ``a - lr_j b``), where the model's first module is a ``Linear`` or a
  ``Conv2d`` fed the input itself (found by hooks on one forward), the rest of the model vmapped
  as before; otherwise the rule.
* ``warm4``: the interval may double once 4 winners are in (the rule waits for 8).
* ``warmq``: the scorings before WINDOW winners are in on the first quarter of the batch.
* ``sub2``: once WINDOW winners are in, a scoring step tries every other rate of the grid (7 of
  13, both ends), on the whole batch.
* ``risehalf``: a loss rise scores at once and halves the interval (the rule: back to 1).
* ``halve``: when the winners' mean moves more than 2x the interval halves (the rule: back to 1);
  a loss rise still sends it to 1.
* ``gmean``, ``median``, ``curve``, ``ceil50``, ``ceil70``, ``ceil50r``, ``ceil70r``: the
  reused rate and the loss check changed (benchmarks/rule_variants.py says how).
* ``on``: the rule where the walker does not take it (``--direction momentum``).
* combinations joined by ``+`` (``quarter+halve``, ``on+gmean``).

Every trainer of a seed lives at once and they take their epochs in turn (the first variant's
epoch, the second's, ..., Adam's, then the next epoch), so load that comes and goes on the
machine falls on all of them alike; time is the CPU time of the one thread torch runs on
(``torch.set_num_threads(1)``, ``time.thread_time``), as in benchmarks/directions.py. Figures
per variant, mean [min, max] over the seeds, each seed's over Adam's on the same seed: time to
the target, the passes over the data to it (Adam's beside), the training loss after 30 epochs,
the share of steps that scored the grid, and the CPU time of the first 10 and of all 30 epochs
over Adam's (the price of an epoch, apart from when the target is crossed). ``--adam``: Adam's rate
(0.03: the best of benchmarks/adam_price.py's sweep on all three problems).
``--direction momentum``: the walker along heavy ball's velocity against the momentum racer at
``--adam``'s rate (momentum's best of adam_price.py's sweep: digits 0.56, my_model.py 0.32,
the CNN 0.1).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import directions as bench  # noqa: E402
from adam_price import counted, interleaved  # noqa: E402  (and the cnn and chars settings)
from rule_variants import RULES, hook_walk  # noqa: E402

from walker_tui.core.schedule import HOLDS, LONGEST, RISE, WINDOW, Schedule  # noqa: E402
from walker_tui.core.trainers.racers import make_racer  # noqa: E402
from walker_tui.core.trainers.walker import make_walker  # noqa: E402

# --- the variants ---


class Warm4(Schedule):
    """The interval may double once 4 winners are in."""

    least = 4

    def scored(self, rate: float, moved: bool) -> None:
        old = self.rate
        self.winners = [*self.winners, rate if moved else 0.0][-WINDOW:]
        self.rate = sum(self.winners) / len(self.winners)
        holds = (
            moved
            and old is not None
            and len(self.winners) >= self.least
            and old / HOLDS <= self.rate <= old * HOLDS
        )
        self.interval = min(self.interval * 2, LONGEST) if holds else self._fallback(moved, old)
        self.wait = self.interval - 1

    def _fallback(self, moved: bool, old: float | None) -> int:
        return 1


class Halve(Warm4):
    """A mean that moves halves the interval (a loss rise, or a step not taken: back to 1)."""

    least = WINDOW

    def _fallback(self, moved: bool, old: float | None) -> int:
        if not moved or old is None or len(self.winners) < self.least:
            return 1
        return max(1, self.interval // 2)


class Warm4Halve(Halve):
    least = 4


class RiseHalf(Warm4):
    """A loss rise scores at once and halves the interval (the rule: back to 1), so a scoring
    that finds the mean holding doubles it back."""

    least = WINDOW

    def reused(self, loss: float, before: float) -> None:
        self.wait -= 1
        if math.isfinite(before):
            self.held = [*self.held, before][-WINDOW:]
        if not math.isfinite(loss):
            self.wait, self.interval = 0, 1
        elif self.held and loss > RISE * max(self.held):
            self.wait, self.interval = 0, max(1, self.interval // 2)


class Warm4RiseHalf(RiseHalf):
    least = 4


def part_batch(inner, count, warm_only: bool = False) -> None:
    """Score the candidates on the first ``count(batch size)`` samples of the batch (``warm_only``:
    only while fewer than WINDOW winners are in)."""
    problem, rank = inner.problem, inner._rank

    def _rank(weights, u):
        whole = problem._batch
        if whole is None or (warm_only and len(inner.schedule.winners) >= WINDOW):
            return rank(weights, u)
        m = max(1, min(len(whole[0]), count(len(whole[0]))))
        problem._batch = (whole[0][:m], whole[1][:m])
        try:
            return rank(weights, u)
        finally:
            problem._batch = whole

    inner._rank = _rank


def sub_grid(inner, every: int = 2) -> None:
    """Score every ``every``-th rate of the grid (both ends kept where the count allows), the
    others not tried (never win), once WINDOW winners are in; the warm-up scores them all."""
    problem, rank = inner.problem, inner._rank
    k = inner.k
    sub = torch.arange(0, k, every)
    whole_losses = problem.rank_losses

    def part_losses(W):
        out = torch.full((k,), math.inf, dtype=torch.float32, device=W.device)
        out[sub] = whole_losses(W[:, sub]).float()
        return out

    def _rank(weights, u):
        if len(inner.schedule.winners) < WINDOW:
            return rank(weights, u)
        problem.rank_losses = part_losses
        try:
            return rank(weights, u)
        finally:
            del problem.rank_losses

    inner._rank = _rank


def first_layer(problem):
    """The model's first module, if it is a Linear or a Conv2d (zeros padding) whose input is
    the model's input itself and whose parameters are all trainable; else None."""
    model = problem.model
    leaves = [m for m in model.modules() if not list(m.children())]
    seen = []
    x = problem.x[:2]
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append((m, a))) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    if not seen:
        return None
    module, args = seen[0]
    if not args or args[0] is not x:
        return None
    if isinstance(module, torch.nn.Linear):
        pass
    elif isinstance(module, torch.nn.Conv2d) and module.padding_mode == "zeros":
        pass
    else:
        return None
    names = {id(p): n for n, p in model.named_parameters()}
    own = [names[id(p)] for p in module.parameters()]
    if not all(n in problem.names for n in own):
        return None
    return module, own


def affine(inner) -> None:
    """Candidates' first layer as a - lr_j b (a = first(x; W1), b = first(x; U1))."""
    problem = inner.problem
    found = first_layer(problem)
    if found is None:
        return
    module, own = found
    walk = inner._walk

    def slices(vec):
        out, i = {}, 0
        for name, size, shape in zip(problem.names, problem.numels, problem.shapes, strict=True):
            if name in own:
                out[name.rsplit(".", 1)[1]] = vec[i : i + size].view(shape)
            i += size
        return out

    def apply(params, x):
        if isinstance(module, torch.nn.Linear):
            return torch.nn.functional.linear(x, params["weight"], params.get("bias"))
        return module._conv_forward(x, params["weight"], params.get("bias"))

    state = {}

    def losses(W):
        u, lrs = state["u"], state["lrs"]
        x, y = problem._data()
        with torch.no_grad():
            a = apply(slices(inner.w), x)
            b = apply(slices(u), x)
            h = a[None] - lrs.view(-1, *([1] * a.dim())) * b[None]

            def one(row, hj):
                module.forward = lambda *_: hj
                try:
                    out = torch.func.functional_call(problem.model, problem._params(row), (x,))
                finally:
                    del module.forward
                return problem.loss_fn(out, y)

            return torch.func.vmap(one, in_dims=(0, 0), randomness="same")(W.T.contiguous(), h)

    rank = inner._rank

    def _rank(weights, u):
        state["u"], state["lrs"] = u, inner.lrs
        problem.rank_losses = losses
        try:
            return rank(weights, u)
        finally:
            del problem.rank_losses

    inner._rank = _rank
    del walk


PARTS = {
    "half": lambda b: b // 2,
    "quarter": lambda b: b // 4,
    "s16": lambda b: 16,
    "s32": lambda b: 32,
}
SCHEDULES = {
    **RULES,  # (benchmarks/rule_variants.py)
    "warm4": Warm4,
    "halve": Halve,
    "warm4halve": Warm4Halve,
    "risehalf": RiseHalf,
    "warm4risehalf": Warm4RiseHalf,
}


def make_variant(name: str, setting, counts: list[int], direction: str = "adam"):
    """A maker of the walker along ``direction`` with the variant ``name`` (parts joined by
    '+'; ``on``: the rule, also where the walker does not take it, along momentum)."""
    cfg = bench.config_for(setting, direction)

    def make(problem):
        trainer = make_walker(problem, cfg)
        inner = trainer.inner
        parts = set(name.split("+")) - {"rule"}
        if "on" in parts:
            parts.discard("on")
            inner.schedule = Schedule()
        for pair in ("halve", "risehalf"):
            if {"warm4", pair} <= parts:
                parts -= {"warm4", pair}
                parts.add(f"warm4{pair}")
        for part in parts:
            if part in SCHEDULES:
                inner.schedule = SCHEDULES[part]()
            elif part in PARTS:
                part_batch(inner, PARTS[part])
            elif part == "sub2":
                sub_grid(inner, 2)
            elif part == "warmq":
                part_batch(inner, PARTS["quarter"], warm_only=True)
            elif part == "affine":
                affine(inner)
            else:
                raise SystemExit(f"unknown variant part {part!r}")
        return trainer

    return counted(make, counts)


def show(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.fmean(xs):.2f}x [{min(xs):.2f}, {max(xs):.2f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="17,18,19")
    p.add_argument("--problems", default="digits,my_model,cnn")
    p.add_argument("--variants", default="rule,half,quarter,affine,warm4,halve,quarter+halve")
    p.add_argument("--adam", type=float, default=0.03, help="the racer's rate")
    p.add_argument(
        "--direction", default="adam", choices=("adam", "momentum"),
        help="the walker's direction, and the racer (momentum: heavy ball)",
    )  # fmt: skip
    p.add_argument("--epochs", type=int, default=0, help="a shorter limit (0: the problem's)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    torch.set_num_threads(1)
    hook_walk()
    t0 = time.perf_counter()
    racer = args.direction
    print(
        f"| problem | variant | time to target / {racer} {args.adam:g} | passes to target "
        f"({racer}'s) | loss @30 / {racer}'s | steps scored | CPU, 10 / 30 epochs, over "
        f"{racer}'s |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in args.problems.split(","):
        setting = bench.SETTINGS[key]
        if args.epochs:
            setting.epochs = args.epochs
        at = min(30, setting.epochs)
        counts = {v: [0, 0] for v in variants}
        results = {v: [] for v in variants}
        adam_epochs = []
        for seed in seeds:
            makers = {v: make_variant(v, setting, counts[v], racer) for v in variants}
            makers["adam"] = lambda pr: make_racer(racer, pr, args.adam)
            runs = interleaved(makers, setting, seed)
            a = runs["adam"]
            ia = a.reached()
            adam_epochs.append(ia)
            for v in variants:
                w = runs[v]
                iw = w.reached()
                time_ratio = None
                if iw is not None and ia is not None:
                    time_ratio = w.seconds[iw] / a.seconds[ia]
                price = [w.seconds[e - 1] / a.seconds[e - 1] for e in (min(10, at), at)]
                results[v].append((time_ratio, iw, w.at(at) / a.at(at), *price))
        for v in variants:
            times = [r[0] for r in results[v] if r[0] is not None]
            epochs = ",".join("-" if r[1] is None else str(r[1]) for r in results[v])
            aep = ",".join("-" if e is None else str(e) for e in adam_epochs)
            share = counts[v][0] / max(1, counts[v][1])
            reached = "" if len(times) == len(seeds) else f" ({len(times)}/{len(seeds)} seeds)"
            print(
                f"| {setting.label} | {v} | {show(times)}{reached} | {epochs} ({aep}) | "
                f"{show([r[2] for r in results[v]])} | {100 * share:.0f}% | "
                f"{statistics.fmean(r[3] for r in results[v]):.2f}x / "
                f"{statistics.fmean(r[4] for r in results[v]):.2f}x |",
                flush=True,
            )
    print(f"seeds {','.join(map(str, seeds))}; {racer} {args.adam:g}; "
          f"{time.perf_counter() - t0:.0f} s in all")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
