"""The engine's schedule: which tasks each stage trains, for how long, and the outer-lr factor within it.

Pure functions of the configuration and the stage's progress, so a resumed run repeats the
uninterrupted one exactly.
"""
from __future__ import annotations

import math

from .config import GenerateConfig


def plan_stages(cfg: GenerateConfig, num_tasks: int) -> list[dict]:
    """One stage per task (weights 1..T for steps), then an optional refine stage.

    Each stage is ``{"trainable": [task ids], "steps": int, "seconds": float | None}`` (plus
    ``"keep_lr": True`` for the refine stage). Under a time budget each stage gets the share of it
    that its work has in the step plan: steps x tasks differentiated per step (a refine step
    back-propagates through every task, so it costs about T task-stage steps; `python
    benchmarks/probes.py --only step` measures it). The time split then matches the split of the step plan it replaces.
    """
    total_w = num_tasks * (num_tasks + 1) / 2
    plan = [([t], cfg.steps * (t + 1) / total_w, {}) for t in range(num_tasks)]
    if cfg.refine_steps:
        # the refine stage keeps each task's lr: raising it there made the data fragile under lr x2
        plan.append((list(range(num_tasks)), float(cfg.refine_steps), {"keep_lr": True}))
    work = sum(steps * len(trainable) for trainable, steps, _ in plan)
    if work == 0 and cfg.time_budget is not None:  # a time budget over an empty step plan: split it by weights
        plan = [(trainable, float(len(trainable) if len(trainable) > 1 else trainable[0] + 1), extra)
                for trainable, _, extra in plan]
        work = sum(steps * len(trainable) for trainable, steps, _ in plan)
    return [{"trainable": trainable, "steps": round(steps),
             "seconds": None if cfg.time_budget is None else cfg.time_budget * steps * len(trainable) / work, **extra}
            for trainable, steps, extra in plan]


def stage_progress(stage: dict, stage_step: int, stage_elapsed: float) -> float:
    """Fraction of ``stage`` done: by time under a time budget, else by steps."""
    if stage["seconds"] is not None:
        return stage_elapsed / stage["seconds"]
    return stage_step / max(stage["steps"], 1)


def stage_done(stage: dict, stage_step: int, stage_elapsed: float) -> bool:
    """Whether ``stage`` has used its steps (or its seconds, under a time budget)."""
    if stage["seconds"] is not None:
        return stage_elapsed >= stage["seconds"]
    return stage_step >= stage["steps"]


def outer_lr_factor(schedule: str, progress: float) -> float:
    """Multiplier of the outer (Adam) lrs at ``progress`` in [0, 1] of a stage: 1 for "constant",
    cosine decay to 0 for "cosine" (a task's data is frozen when its stage ends, so it should end
    settled rather than at a noisy Adam iterate)."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
