"""Task sequences: which classes each task of the sequence holds, and the logit masks they imply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from synthgen.core.errors import SynthgenError

SPLIT_MNIST = "0,1/2,3/4,5/6,7/8,9"


class TaskSplitError(SynthgenError, ValueError):
    """A task split names an unknown class, repeats one, or has an empty task."""


@dataclass(frozen=True)
class Task:
    index: int
    classes: tuple[int, ...]


def split_classes(spec: str, class_names: list[str]) -> list[Task]:
    """Parse ``"0,1/2,3/..."`` (class ids or class names) into validated tasks."""
    if not isinstance(spec, str) or not spec.strip():
        raise TaskSplitError("task split is empty; expected e.g. '0,1/2,3'")
    by_name = {n: i for i, n in enumerate(class_names)}
    tasks: list[Task] = []
    seen: set[int] = set()
    for t, chunk in enumerate(spec.split("/")):
        tokens = [tok.strip() for tok in chunk.split(",") if tok.strip()]
        if not tokens:
            raise TaskSplitError(f"task {t} in {spec!r} is empty")
        classes = []
        for tok in tokens:
            if tok in by_name:
                c = by_name[tok]
            elif tok.lstrip("-").isdigit():
                c = int(tok)
            else:
                raise TaskSplitError(f"unknown class {tok!r} in task {t}; classes are 0..{len(class_names) - 1}")
            if not 0 <= c < len(class_names):
                raise TaskSplitError(f"unknown class {tok!r} in task {t}; classes are 0..{len(class_names) - 1}")
            if c in seen:
                raise TaskSplitError(f"class {tok!r} appears twice in {spec!r}")
            seen.add(c)
            classes.append(c)
        tasks.append(Task(t, tuple(classes)))
    return tasks


def split_mnist(class_names: list[str] | None = None) -> list[Task]:
    """The standard Split-MNIST sequence: 5 tasks of 2 digits."""
    return split_classes(SPLIT_MNIST, class_names or [str(i) for i in range(10)])


def task_label(classes: Sequence[int]) -> str:
    """One task's class ids as a short label for tables and pictures, e.g. '0/1'."""
    return "/".join(map(str, classes))


def format_split(tasks: list[Task]) -> str:
    """Inverse of :func:`split_classes` (class ids)."""
    return "/".join(",".join(map(str, t.classes)) for t in tasks)


TASK_INCREMENTAL = "task-incremental"


def class_mask(classes: Sequence[int], num_classes: int) -> torch.Tensor:
    """[num_classes] bool: True on ``classes``, the logits a task-incremental learner is scored on."""
    mask = torch.zeros(num_classes, dtype=torch.bool)
    mask[list(classes)] = True
    return mask


def scenario_masks(tasks: Sequence[Sequence[int]], num_classes: int, scenario: str) -> list[torch.Tensor | None]:
    """Each task's logit mask in ``scenario``: None (class-incremental: one head over every class) or its classes."""
    return [class_mask(t, num_classes) if scenario == TASK_INCREMENTAL else None for t in tasks]


def mask_of_class(tasks: Sequence[Sequence[int]], num_classes: int, scenario: str) -> torch.Tensor:
    """[num_classes, num_classes] bool: row c is the mask an image of class c is scored with (all True, class-IL)."""
    table = torch.ones(num_classes, num_classes, dtype=torch.bool)
    if scenario == TASK_INCREMENTAL:
        for t in tasks:
            table[list(t)] = class_mask(t, num_classes)
    return table
