"""The engine's schedule: which tasks each stage trains, for how long, and the outer-lr factor within it.

Pure functions of the configuration and the stage's progress, so a resumed run repeats the
uninterrupted one exactly.
"""
from __future__ import annotations

import math

from .config import GenerateConfig


def plan_stages(cfg: GenerateConfig, num_tasks: int) -> list[dict]:
    """One stage per task (weights 1..T for steps / time), then an optional refine stage.

    Each stage is ``{"trainable": [task ids], "steps": int, "seconds": float | None}`` (plus
    ``"keep_lr": True`` for the refine stage). Under a time budget the refine stage gets the
    fraction refine_steps / (steps + refine_steps) of it, and the task stages share the rest by weight.
    """
    total_w = num_tasks * (num_tasks + 1) / 2
    refine_frac = cfg.refine_steps / (cfg.steps + cfg.refine_steps) if cfg.refine_steps else 0.0

    def seconds(frac: float) -> float | None:
        return None if cfg.time_budget is None else cfg.time_budget * frac

    stages = []
    for t in range(num_tasks):
        share = (t + 1) / total_w
        stages.append({"trainable": [t], "steps": round(cfg.steps * share), "seconds": seconds((1 - refine_frac) * share)})
    if cfg.refine_steps:
        # the refine stage keeps each task's lr: raising it there made the data fragile (docs/targets.md)
        stages.append({"trainable": list(range(num_tasks)), "steps": cfg.refine_steps, "seconds": seconds(refine_frac),
                       "keep_lr": True})
    return stages


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
