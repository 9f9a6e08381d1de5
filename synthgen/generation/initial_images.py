"""Where each task's synthetic images start: random real images of each class, their k-means centroids, or the
centroids after distribution matching.

Centroids summarise a class better than single samples, and a task's stage is short (the first
gets a few hundred outer steps), so the start matters: docs/research.md records it.
"""

from __future__ import annotations

import torch

from synthgen.core.errors import SynthgenError
from synthgen.generation.feature_matching import StartBudget, matched_start

KMEANS_MAX_ITERS = 50  # Lloyd iterations; they stop earlier once no assignment changes
KMEANS_MAX_POINTS = 1000  # per class: a larger class is clustered on a seeded sample of this many images
# (Fashion-MNIST's 5,400 training images per class took 114 s of set-up; 1,000 take about 20 s)


class InitError(SynthgenError, ValueError):
    """The training data cannot seed the synthetic images (too few images of a class)."""


def sample_per_class(y: torch.Tensor, classes: tuple[int, ...], ipc: int, g: torch.Generator) -> list[torch.Tensor]:
    """For each class, ``ipc`` indices of its training images drawn without replacement."""
    picks = []
    for c in classes:
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < ipc:
            raise InitError(f"class {c} has {len(idx)} training images, fewer than ipc={ipc}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:ipc]])
    return picks


def kmeans_centroids(points: torch.Tensor, start: torch.Tensor, max_iters: int = KMEANS_MAX_ITERS) -> torch.Tensor:
    """Lloyd's k-means from the centroids ``start`` [k, ...] over ``points`` [n, ...]; returns [k, ...].

    Distances are computed elementwise in float64 (no matrix-multiply shortcut), so every process
    and thread count gets the same bits: each torchrun rank builds its own start. (scikit-learn's
    KMeans differs in the last bit between thread counts.) A centroid left without points keeps
    its place.
    """
    x = points.flatten(1).double()
    cent = start.flatten(1).double().clone()
    assign = None
    for _ in range(max_iters):
        new = torch.stack([((x - c) ** 2).sum(1) for c in cent], 1).argmin(1)  # one centroid at a time: O(n) memory
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        counts = torch.bincount(assign, minlength=len(cent))
        sums = torch.zeros_like(cent).index_add_(0, assign, x)
        filled = counts > 0
        cent[filled] = sums[filled] / counts[filled, None]
    return cent.to(start.dtype).view_as(start)


def _sample(points: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """At most KMEANS_MAX_POINTS of ``points``, a seeded sample (all of them, and no draw, when there are fewer)."""
    if len(points) <= KMEANS_MAX_POINTS:
        return points
    return points[torch.randperm(len(points), generator=g)[:KMEANS_MAX_POINTS]]


def initial_images(
    x: torch.Tensor, y: torch.Tensor, classes: tuple[int, ...], ipc: int, how: str, g: torch.Generator,
    num_classes: int = 10, budget: StartBudget | None = None,
) -> torch.Tensor:  # fmt: skip
    """[len(classes) * ipc, ...] starting images, class by class: ``how`` = "real" (random training
    images), "kmeans" (k-means centroids of each class's training images, started from those) or "dm" (the
    centroids moved by ``budget`` of distribution matching under random ConvNet-3s,
    synthgen.generation.feature_matching)."""
    picks = sample_per_class(y, classes, ipc, g)
    if how == "real":
        return x[torch.cat(picks)]
    if how in ("kmeans", "dm"):
        start = torch.cat([kmeans_centroids(_sample(x[y == c], g), x[p]) for c, p in zip(classes, picks)])
        if how == "kmeans":
            return start
        if budget is None:
            raise InitError("init 'dm' needs a StartBudget")
        return matched_start(start, x, y, classes, num_classes, g, budget)
    raise InitError(f"unknown init {how!r}; expected 'real', 'kmeans' or 'dm'")
