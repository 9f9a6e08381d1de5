"""The recipe: how a consumer must train on the data (optimiser, lr per task, steps, targets, order).

It travels in the artifact's metadata; :func:`make_recipe` writes it, :func:`optimiser_of` reads
its optimiser back. A format-1 recipe without ``momentum`` means plain SGD; one without ``clip_grad_norm``
does not clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Optimiser:
    """The recipe's optimiser: ``sgd`` (heavy-ball ``momentum``) or ``adam`` (``betas``, ``eps``); fresh per task.
    ``clip`` > 0: every step first scales the gradient down to at most that L2 norm over all parameters
    (``torch.nn.utils.clip_grad_norm_``); 0: no clipping. ``cosine``: within each task the lr falls from the task's
    lr towards 0 along a half cosine over its steps (``torch.optim.lr_scheduler.CosineAnnealingLR``, stepped after
    every step); otherwise it stays constant."""

    kind: str = "sgd"
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip: float = 0.0
    cosine: bool = False


LR_SCHEDULES = ("constant", "cosine")  # the recipe's lr within a task (Optimiser.cosine)


# ---- the recipe: how a consumer must train on the data ------------------------------------------
def make_recipe(
    lrs: Sequence[float],
    steps: int,
    task_sizes: Sequence[int],
    scenario: str,
    soft: bool = True,
    optimiser: Optimiser = Optimiser(),
    rehearsal: bool = False,
    shift: int = 0,
    dsa: bool = False,
) -> dict:
    """The recipe dict stored in the artifact (``rehearsal``: task t trains on the images of tasks 0..t; ``shift``:
    every step moves each image by up to that many pixels; ``dsa``: every step then augments the images by DSA's
    transformations)."""
    opt = (
        {"momentum": float(optimiser.momentum)}
        if optimiser.kind == "sgd"
        else {"betas": [float(b) for b in optimiser.betas], "eps": float(optimiser.eps)}
    ) | ({"clip_grad_norm": float(optimiser.clip)} if optimiser.clip else {})  # a fresh optimiser per task
    opt |= {"lr_schedule": "cosine"} if optimiser.cosine else {}
    return {
        "optimizer": optimiser.kind,
        **opt,
        "weight_decay": 0.0,
        "lr_per_task": [float(v) for v in lrs],
        "steps_per_task": int(steps),
        "batch_size": "full",  # every step uses all images of the current task (and, rehearsing, the earlier ones)
        "task_sizes": [int(n) for n in task_sizes],
        "rehearsal": bool(rehearsal),
        "order": "tasks in index order; each task fully before the next; "
        + ("task t trains on the images of tasks 0..t together" if rehearsal else "no replay of earlier tasks"),
        "targets": "soft_labels" if soft else "labels",
        "loss": "cross-entropy against soft_labels (probability targets)" if soft else "cross-entropy against labels",
        "scenario": scenario,
        "init": "any fresh initialisation of the architecture (PyTorch defaults)",
        "mode": "model.train() while training (BatchNorm: batch statistics), model.eval() to predict",
    } | augmentation(shift, dsa)


SHIFT = (
    "every step moves each image by its own random offset of up to {shift} pixels along each axis, the uncovered "
    "border repeating the edge (torchvision RandomCrop(size, padding={shift}, padding_mode='edge'))"
)
DSA = (
    "every step draws one of DSA's transformations for the whole batch and its parameters for each image: brightness "
    "and contrast, a translation of up to 1/8 of the side, a blanked square of half the side, a scale in [1/1.2, 1.2] "
    "per axis, or a rotation of up to 15 degrees (no mirror images; synthgen.nn.augment.dsa_augment with "
    "NO_FLIP_FAMILIES; Differentiable Siamese Augmentation, arXiv 2102.08259)"
)


def augmentation(shift: int, dsa: bool) -> dict:
    """The recipe's augmentation fields: ``shift`` and ``dsa`` when set, and in words (shift first, then DSA)."""
    words = ([SHIFT.format(shift=shift)] if shift else []) + ([DSA] if dsa else [])
    fields = ({"shift": int(shift)} if shift else {}) | ({"dsa": True} if dsa else {})
    return fields | ({"augmentation": "; then ".join(words)} if words else {})


def shift_of(recipe: dict) -> int:
    """The pixels by which the recipe moves each image at every step (0: it does not)."""
    return int(recipe.get("shift", 0))


def dsa_of(recipe: dict) -> bool:
    """Does the recipe augment every step by DSA's transformations (after any shift)?"""
    return bool(recipe.get("dsa", False))


def optimiser_of(recipe: dict) -> Optimiser:
    """The recipe's optimiser; a recipe without ``momentum`` (format 1) means plain SGD, one without
    ``clip_grad_norm`` no clipping, one without ``lr_schedule`` a constant lr."""
    clip, cosine = float(recipe.get("clip_grad_norm", 0.0)), recipe.get("lr_schedule", "constant") == "cosine"
    if recipe.get("optimizer", "sgd") == "adam":
        betas, eps = tuple(recipe.get("betas", (0.9, 0.999))), float(recipe.get("eps", 1e-8))
        return Optimiser("adam", betas=betas, eps=eps, clip=clip, cosine=cosine)
    return Optimiser("sgd", momentum=float(recipe.get("momentum", 0.0)), clip=clip, cosine=cosine)
