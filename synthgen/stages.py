"""The engine's schedule: one stage per task, its length in outer steps (or seconds), and its progress.

Pure functions of the configuration and the stage's progress, so a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import GenerateConfig


@dataclass(frozen=True)
class Stage:
    """Stage ``task`` learns that task's data; the tasks before it are frozen."""

    task: int
    steps: int  # outer steps (the stopping rule without a time budget)
    seconds: float | None  # the stage's share of the time budget, when there is one

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
    """One stage per task; task t gets weight t + 1 of the steps (or of the time budget): its data must teach
    the new classes and protect every earlier one."""
    total_w = num_tasks * (num_tasks + 1) / 2
    return [
        Stage(
            task=t,
            steps=round(cfg.steps * (t + 1) / total_w),
            seconds=None if cfg.time_budget is None else cfg.time_budget * (t + 1) / total_w,
        )
        for t in range(num_tasks)
    ]
