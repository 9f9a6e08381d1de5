"""The engine's schedule: one stage per task, its length in outer steps (or seconds), and its progress.

Pure functions of the configuration and the stage's progress, so a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from synthgen.generation.config import GenerateConfig


@dataclass(frozen=True)
class Stage:
    """A stage learns the data of ``tasks`` (one task, or every task in the refine stage); earlier tasks are
    frozen."""

    tasks: tuple[int, ...]
    steps: int  # outer steps (the stopping rule without a time budget)
    seconds: float | None  # the stage's share of the time budget, when there is one

    @property
    def task(self) -> int:
        """The last task it trains: the learners are scored after it (and, in the refine stage, after each)."""
        return self.tasks[-1]

    @property
    def refine(self) -> bool:
        """Does it learn several tasks' data together (keeping their lrs)?"""
        return len(self.tasks) > 1

    def progress(self, step: int, elapsed: float) -> float:
        """Fraction of the stage done: by time under a time budget, else by steps."""
        if self.seconds is not None:
            return elapsed / self.seconds
        return step / max(self.steps, 1)

    def done(self, step: int, elapsed: float) -> bool:
        """Whether the stage has used its steps (or its seconds, under a time budget)."""
        if self.seconds is not None:
            return elapsed >= self.seconds
        return step >= self.steps


def plan_stages(cfg: GenerateConfig, num_tasks: int) -> list[Stage]:
    """One stage per task; task t gets weight t + 1 of the steps: its data must teach the new classes and protect
    every earlier one. With ``refine_steps`` a last stage learns every task's data together, each step training
    a learner through the whole sequence. Under a time budget each stage gets its share of the step plan's work
    (a refine step unrolls every task: it counts as ``num_tasks`` steps)."""
    total_w = num_tasks * (num_tasks + 1) / 2
    plan = [((t,), cfg.steps * (t + 1) / total_w) for t in range(num_tasks)]
    if cfg.refine_steps and num_tasks > 1:
        plan.append((tuple(range(num_tasks)), float(cfg.refine_steps)))
    work = [steps * len(tasks) for tasks, steps in plan]
    if not any(work):  # no steps: a time budget is split by the task weights
        work = [float(tasks[-1] + 1) for tasks, _ in plan]
    budget = [None if cfg.time_budget is None else cfg.time_budget * w / sum(work) for w in work]
    return [Stage(tasks, round(steps), seconds) for (tasks, steps), seconds in zip(plan, budget)]


@dataclass
class TailAverage:
    """A stage ends at the mean of its data over the last ``fraction`` of its steps (``refine_fraction`` in the
    refine stage; Polyak / SWA-style), not at the last noisy Adam iterate. Only the stage's trained tensors are
    summed: fixed ones keep their exact bits."""

    fraction: float
    refine_fraction: float
    total: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0

    def add(self, stage: Stage, step: int, elapsed: float, tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Sum ``tensors`` if this point of ``stage`` falls in its tail."""
        fraction = self.refine_fraction if stage.refine else self.fraction
        if fraction <= 0 or stage.progress(step, elapsed) <= 1 - fraction:
            return
        for k, v in tensors:
            self.total[k] = self.total[k] + v.detach() if k in self.total else v.detach().clone()
        self.count += 1

    def take_mean(self) -> dict[str, torch.Tensor]:
        """The mean of what was summed (empty if nothing was), and a fresh start for the next stage."""
        mean = {k: v / self.count for k, v in self.total.items()} if self.count else {}
        self.total, self.count = {}, 0
        return mean
