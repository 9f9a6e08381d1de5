"""Train fresh learners in sequence and measure them on REAL test data after every task.

One protocol for everything that is compared: the synthetic artifact (following its recipe),
and the baselines on real data (sequential, random coreset, joint). All return accuracy
matrices R[i][j] (see synthgen.metrics).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .artifact import Artifact, recipe_momentum
from .inner_loop import apply_mask
from .learners import build_learner
from .recipe import TaskData, train_on_tasks
from .seeding import derive_seed, generator
from .sources import SourceData, normalise


def task_masks(tasks: Sequence[Sequence[int]], num_classes: int, scenario: str) -> list[torch.Tensor | None]:
    """Per-task logit masks: None (class-incremental) or the task's classes (task-incremental)."""
    if scenario != "task-incremental":
        return [None] * len(tasks)
    masks = []
    for classes in tasks:
        m = torch.zeros(num_classes, dtype=torch.bool)
        m[list(classes)] = True
        masks.append(m)
    return masks


def real_test_sets(source: SourceData, tasks: Sequence[Sequence[int]], norm: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised real test data of each task."""
    x, y = source.split("test")
    x = normalise(x, norm)
    return [(x[torch.isin(y, torch.tensor(c))], y[torch.isin(y, torch.tensor(c))]) for c in tasks]


EVAL_CHUNK = 250  # test images per forward pass: bounds activation memory (convpool on 1000 images at once is large)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` in eval mode (no autograd), computed in chunks of EVAL_CHUNK images."""
    model.eval()
    out = torch.cat([model(part) for part in x.split(EVAL_CHUNK)])
    model.train()
    return out


def _acc(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> float:
    return float((apply_mask(logits, mask).argmax(1) == y).float().mean())


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Top-1 accuracy (logits masked to ``mask`` in the task-incremental scenario)."""
    return _acc(predict(model, x), y, mask)


@dataclass
class SequenceRun:
    """Accuracy matrices of one learner trained through a task sequence."""

    R: list[list[float]]        # in the sequence's own scenario
    R_task: list[list[float]]   # evaluated task-incrementally (logits masked to each task's classes)


def sequence_matrix(model: nn.Module, train: Sequence[TaskData], lrs: Sequence[float], steps: int,
                    tests: Sequence[tuple[torch.Tensor, torch.Tensor]], masks: Sequence[torch.Tensor | None],
                    eval_masks: Sequence[torch.Tensor], batch_size: int | None = None, seed: int = 0,
                    momentum: float = 0.0) -> SequenceRun:
    """Train ``model`` through ``train`` in order (SGD with ``momentum``); after each task evaluate every task's test set.

    ``masks`` are the scenario's logit masks (None: class-incremental); ``eval_masks`` each task's
    classes, for the task-incremental matrix reported alongside.
    """
    run = SequenceRun([], [])

    def after(i: int, m: nn.Module) -> None:
        logits = [predict(m, x) for x, _ in tests]  # one forward per test set serves both matrices
        run.R.append([_acc(lg, y, mk) for lg, (_, y), mk in zip(logits, tests, masks)])
        run.R_task.append([_acc(lg, y, mk) for lg, (_, y), mk in zip(logits, tests, eval_masks)])

    train_on_tasks(model, train, lrs, steps, batch_size, after, generator(seed, "batches"), momentum)
    return run


def artifact_tasks(art: Artifact) -> list[TaskData]:
    """The artifact's tasks as (images, targets, mask) following its recipe."""
    masks = task_masks(art.tasks, art.num_classes, art.metadata["scenario"])
    return [(art.task(i)[0], art.task(i)[2], masks[i]) for i in range(len(art.tasks))]


def evaluate_artifact(art: Artifact, source: SourceData, arch: str, seed: int,
                      lr_scale: float = 1.0, step_scale: float = 1.0, batch_size: int | None = None) -> SequenceRun:
    """Accuracy matrices of a fresh ``arch`` learner trained on the artifact per its recipe
    (optionally with the lr / steps scaled or shuffled minibatches: the stress scenarios)."""
    r = art.recipe
    model = build_learner(arch, tuple(art.images.shape[1:]), art.num_classes, derive_seed(seed, "learner", arch))
    tests = real_test_sets(source, art.tasks, art.metadata["source"]["normalisation"])
    masks = task_masks(art.tasks, art.num_classes, art.metadata["scenario"])
    return sequence_matrix(model, artifact_tasks(art), [lr * lr_scale for lr in r["lr_per_task"]],
                           max(1, round(r["steps_per_task"] * step_scale)), tests, masks,
                           task_masks(art.tasks, art.num_classes, "task-incremental"), batch_size, seed,
                           float(recipe_momentum(r)))


def real_sequence_matrix(source: SourceData, tasks: Sequence[Sequence[int]], norm: dict, arch: str, seed: int,
                         lr: float, steps: int | None, batch_size: int = 32, scenario: str = "class-incremental",
                         per_class: int | None = None) -> SequenceRun:
    """Baseline: train in sequence on REAL task data (all of it, or ``per_class`` random images).

    ``steps=None`` means one epoch per task at ``batch_size``.
    """
    x, y = source.split("train")
    x = normalise(x, norm)
    nc = source.num_classes
    g = generator(seed, "coreset")
    train = []
    masks = task_masks(tasks, nc, scenario)
    for classes, mask in zip(tasks, masks):
        keep = torch.nonzero(torch.isin(y, torch.tensor(classes))).flatten()
        if per_class is not None:
            keep = torch.cat([idx[torch.randperm(len(idx), generator=g)[:per_class]]
                              for idx in (keep[y[keep] == c] for c in classes)])
        train.append((x[keep], F.one_hot(y[keep], nc).float(), mask))
    model = build_learner(arch, source.image_shape, nc, derive_seed(seed, "learner", arch))
    tests = real_test_sets(source, tasks, norm)
    n_steps = steps if steps is not None else max(1, len(train[0][0]) // batch_size)
    return sequence_matrix(model, train, [lr] * len(tasks), n_steps, tests, masks,
                           task_masks(tasks, nc, "task-incremental"), batch_size, seed)


@dataclass
class JointRun:
    """Test accuracy of the joint upper bound: overall, and on each task's classes."""

    acc: float             # all tasks' test images
    per_task: list[float]  # each task's test images
    # both in the sequence's scenario: logits masked to the image's task's classes if task-incremental


def joint_accuracy(source: SourceData, tasks: Sequence[Sequence[int]], norm: dict, arch: str, seed: int,
                   lr: float = 0.05, epochs: int = 5, batch_size: int = 64,
                   scenario: str = "class-incremental") -> JointRun:
    """Upper bound: one learner trained on all tasks' real training data at once; its test accuracy."""
    x, y = source.split("train")
    classes = torch.tensor([c for t in tasks for c in t])
    keep = torch.isin(y, classes)
    x, y = normalise(x[keep], norm), y[keep]
    model = build_learner(arch, source.image_shape, source.num_classes, derive_seed(seed, "learner", arch))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = generator(seed, "joint")
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    tests = real_test_sets(source, tasks, norm)
    masks = task_masks(tasks, source.num_classes, scenario)
    hits = [int((apply_mask(predict(model, tx), m).argmax(1) == ty).sum()) for (tx, ty), m in zip(tests, masks)]
    sizes = [len(ty) for _, ty in tests]
    return JointRun(acc=sum(hits) / sum(sizes), per_task=[h / n for h, n in zip(hits, sizes)])
