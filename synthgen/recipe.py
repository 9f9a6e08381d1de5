"""The consumer's side of the recipe: the plain ``nn.Module`` + ``torch.optim`` loop that trains on the data.

The recipe itself (optimizer, lr per task, steps, targets) is part of the format
(synthgen.artifact). :func:`train_on_tasks` is what a consumer writes; the verifier and the
benchmarks use it, and a test asserts that it matches the engine's differentiable inner loop
for every zoo family.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .inner_loop import Optimiser, apply_mask, rehearsed_tasks, soft_cross_entropy

__all__ = ["TaskData", "rehearsed_tasks", "torch_optimizer", "train_on_tasks"]


def torch_optimizer(params, lr: float, opt: Optimiser) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser a consumer builds for one task."""
    if opt.kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=opt.betas, eps=opt.eps)
    return torch.optim.SGD(params, lr=lr, momentum=opt.momentum)


TaskData = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # images, targets [n, classes], class mask


def train_on_tasks(model: nn.Module, tasks: Sequence[TaskData], lrs: Sequence[float], steps: int,
                   batch_size: int | None = None, after_task: Callable[[int, nn.Module], None] | None = None,
                   generator: torch.Generator | None = None, optimiser: Optimiser = Optimiser()) -> nn.Module:
    """Train ``model`` in sequence: for each task, ``steps`` steps at that task's lr with a fresh
    ``torch.optim`` optimiser, the model in train mode.

    ``batch_size=None`` is the recipe's full batch; an int draws shuffled minibatches (with
    ``generator``). ``after_task(i, model)`` runs after each task (for evaluation).
    """
    for i, ((x, targets, mask), lr) in enumerate(zip(tasks, lrs)):
        opt = torch_optimizer(model.parameters(), float(lr), optimiser)
        model.train()
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
