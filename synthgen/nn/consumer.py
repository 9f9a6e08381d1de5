"""The consumer's side of the recipe: the plain ``nn.Module`` + ``torch.optim`` loop that trains on the data.

The recipe itself (optimizer, lr per task, steps, targets) is part of the format
(synthgen.format.artifact). :func:`train_on_tasks` is what a consumer writes; the verifier and the
benchmarks use it, and a test asserts that it matches the engine's differentiable inner loop
for every zoo family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from synthgen.core.seeding import derive_seed
from synthgen.format.recipe import Optimiser
from synthgen.nn.augment import NO_FLIP_FAMILIES, dsa_augment, random_shift
from synthgen.nn.inner_loop import apply_mask, rehearsed_tasks, soft_cross_entropy
from synthgen.nn.learners import build_learner

__all__ = ["TaskData", "rehearsed_tasks", "torch_optimizer", "train_on_tasks"]

Split = list[tuple[torch.Tensor, torch.Tensor]]


def torch_optimizer(params, lr: float, opt: Optimiser) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser a consumer builds for one task."""
    if opt.kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=opt.betas, eps=opt.eps)
    return torch.optim.SGD(params, lr=lr, momentum=opt.momentum)


TaskData = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # images, targets [n, classes], class mask


def train_on_tasks(
    model: nn.Module,
    tasks: Sequence[TaskData],
    lrs: Sequence[float],
    steps: int,
    batch_size: int | None = None,
    after_task: Callable[[int, nn.Module], None] | None = None,
    generator: torch.Generator | None = None,
    optimiser: Optimiser = Optimiser(),
    shift: int = 0,
    dsa: bool = False,
) -> nn.Module:
    """Train ``model`` in sequence: for each task, ``steps`` steps at that task's lr with a fresh
    ``torch.optim`` optimiser (gradients clipped to ``optimiser.clip`` when set; with ``optimiser.cosine`` the lr
    annealed towards 0 over the task's steps by a fresh CosineAnnealingLR), the model in train mode.

    ``batch_size=None`` is the recipe's full batch; an int draws shuffled minibatches (with
    ``generator``). ``shift``: each step's images moved by up to that many pixels (synthgen.nn.augment, offsets
    drawn from ``generator``); ``dsa``: then each step's images augmented by DSA's transformations without mirror
    images (synthgen.nn.augment.dsa_augment, drawn from ``generator``). ``after_task(i, model)`` runs after each
    task (for evaluation).
    """
    for i, ((x, targets, mask), lr) in enumerate(zip(tasks, lrs)):
        opt = torch_optimizer(model.parameters(), float(lr), optimiser)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if optimiser.cosine else None
        model.train()
        for _ in range(steps):
            if batch_size is None or batch_size >= len(x):
                bx, bt = x, targets
            else:
                pick = torch.randperm(len(x), generator=generator)[:batch_size]
                bx, bt = x[pick], targets[pick]
            if shift:
                bx = random_shift(bx, shift, generator)
            if dsa:
                bx = dsa_augment(bx, generator, NO_FLIP_FAMILIES)
            opt.zero_grad()
            soft_cross_entropy(apply_mask(model(bx), mask), bt).backward()
            if optimiser.clip:
                nn.utils.clip_grad_norm_(model.parameters(), optimiser.clip)
            opt.step()
            if schedule is not None:
                schedule.step()
        if after_task is not None:
            after_task(i, model)
    return model


EVAL_CHUNK = 64  # images per forward pass: bounds activation memory; on one CPU thread the zoo's CNNs score 1,000


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` in eval mode (no autograd), computed in chunks of EVAL_CHUNK images."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(part) for part in x.split(EVAL_CHUNK)])
    model.train(was_training)
    return out


def hits(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> int:
    """Correct top-1 predictions (logits masked to ``mask`` in the task-incremental scenario)."""
    return int((apply_mask(logits, mask).argmax(1) == y).sum())


def validation_accuracy(
    tasks_data: Sequence[TaskData],
    lrs: Sequence[float],
    steps: int,
    optimiser: Optimiser,
    archs: Sequence[str],
    shape: Sequence[int],
    num_classes: int,
    val: Split,
    val_masks: Sequence[torch.Tensor | None],
    seed: int,
    learners: int = 2,
    shift: int = 0,
) -> float:
    """Mean accuracy on the real validation data of the given tasks of ``learners`` fresh learners (cycling
    through ``archs``) trained on ``tasks_data`` per the recipe: the verifier's protocol, for the engine."""
    total, n = 0, sum(len(y) for _, y in val)
    accs = []
    for i in range(learners):
        model = build_learner(archs[i % len(archs)], shape, num_classes, derive_seed(seed, "val", i))
        g = torch.Generator().manual_seed(derive_seed(seed, "val-shifts", i))
        train_on_tasks(model, tasks_data, lrs, steps, generator=g, optimiser=optimiser, shift=shift)
        total = sum(hits(predict(model, x), y, m) for (x, y), m in zip(val, val_masks))
        accs.append(total / n)
    return sum(accs) / len(accs)
