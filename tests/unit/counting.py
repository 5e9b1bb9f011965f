"""Test helpers for trainers: count the losses a problem evaluates, and step a trainer."""

from __future__ import annotations


def counted(problem):
    """The problem, with every loss it evaluates counted in ``problem.calls`` (one a column)."""
    own = problem.losses
    problem.calls = 0

    def losses(W):
        problem.calls += W.shape[1]
        return own(W)

    problem.losses = losses  # loss_grad evaluates through self.losses
    return problem


def losses_of(trainer, epochs):
    return [trainer.step().loss.item() for _ in range(epochs)]
