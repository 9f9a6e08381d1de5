"""The training recipe: how a consumer must train on the synthetic data, and the code that does it.

The recipe travels in the artifact metadata. :func:`train_on_tasks` is the consumer's loop
(plain ``nn.Module`` + ``torch.optim.SGD``); the verifier and the benchmarks use it, and a test
asserts it matches the engine's differentiable inner loop.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .inner_loop import apply_mask, soft_cross_entropy


def make_recipe(lrs: Sequence[float], steps: int, task_sizes: Sequence[int], scenario: str, soft: bool = True,
                momentum: float = 0.0) -> dict:
    """The recipe dict stored in the artifact."""
    return {
        "optimizer": "sgd",
        "momentum": float(momentum),    # torch.optim.SGD's heavy ball; a fresh optimiser (empty buffer) per task
        "weight_decay": 0.0,
        "lr_per_task": [float(v) for v in lrs],
        "steps_per_task": int(steps),
        "batch_size": "full",           # every step uses all images of the current task
        "task_sizes": [int(n) for n in task_sizes],
        "order": "tasks in index order; each task fully before the next; no replay of earlier tasks",
        "targets": "soft_labels" if soft else "labels",
        "loss": "cross-entropy against soft_labels (probability targets)" if soft else "cross-entropy against labels",
        "scenario": scenario,
        "init": "any fresh initialisation of the architecture (PyTorch defaults)",
    }


TaskData = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # images, targets [n, classes], class mask


def train_on_tasks(model: nn.Module, tasks: Sequence[TaskData], lrs: Sequence[float], steps: int,
                   batch_size: int | None = None, after_task: Callable[[int, nn.Module], None] | None = None,
                   generator: torch.Generator | None = None, momentum: float = 0.0) -> nn.Module:
    """Train ``model`` in sequence: for each task, ``steps`` SGD steps at that task's lr (a fresh
    ``torch.optim.SGD`` per task, with ``momentum``).

    ``batch_size=None`` is the recipe's full batch; an int draws shuffled minibatches (with
    ``generator``). ``after_task(i, model)`` runs after each task (for evaluation).
    """
    for i, ((x, targets, mask), lr) in enumerate(zip(tasks, lrs)):
        opt = torch.optim.SGD(model.parameters(), lr=float(lr), momentum=momentum)
        for _ in range(steps):
            if batch_size is None or batch_size >= len(x):
                bx, bt = x, targets
            else:
                pick = torch.randperm(len(x), generator=generator)[:batch_size]
                bx, bt = x[pick], targets[pick]
            opt.zero_grad()
            soft_cross_entropy(apply_mask(model(bx), mask), bt).backward()
            opt.step()
        if after_task is not None:
            after_task(i, model)
    return model
