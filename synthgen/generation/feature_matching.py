"""Distribution matching: each class's synthetic images should embed, on average, where its real images do.

The embedding is the body (every layer but the linear head) of a zoo network freshly initialised at every outer
step and never trained, as in Dataset Condensation with Distribution Matching (Zhao & Bilen, arXiv 2110.04181).
Random networks of one family, drawn anew each step, measure many different features of the images, so the
distance pulls the synthetic set towards the real distribution in ways no single trained learner of the pool
asks for. The engine adds ``feature_weight`` x :func:`feature_loss` to the meta-gradient's objective; the
meta-gradient still decides what the images teach, this term keeps them from fitting only the pool (the held-out
BatchNorm CNN: 0.897 -> 0.915, mean of 3 generation seeds, past Replay-100 + 0.02 on two of them;
docs/research.md).

:func:`matched_start` is distribution matching on its own, as the DM paper runs it, before a task's stage
(``init "dm"``): random ConvNet-3 bodies, both sides under one DSA augmentation per class and step (DSA's
Siamese, single-family mode), plain SGD on the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from synthgen.core.seeding import derive_seed, generator
from synthgen.nn.augment import NO_FLIP_FAMILIES, dsa_apply, dsa_draw
from synthgen.nn.learners import START_ARCH, build_learner

REAL_PER_CLASS = 128  # real images per class drawn each step for the real side of the mean embedding


def random_embedder(
    arch: str, shape: tuple[int, ...], num_classes: int, seed: int, device: torch.device | str = "cpu"
) -> nn.Module:
    """The body of a freshly initialised ``arch`` learner (its last module, the linear head, dropped), frozen.

    It stays in train mode: a BatchNorm in it normalises each batch with that batch's own statistics."""
    net = build_learner(arch, shape, num_classes, seed, device)
    if not isinstance(net, nn.Sequential) or len(net) < 2:
        raise ValueError(f"feature network {arch!r} is not a zoo Sequential(body, head)")
    body = net[:-1]
    body.requires_grad_(False)
    return body.train()


def feature_loss(
    embed: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    g: torch.Generator,
    per_class: int = REAL_PER_CLASS,
) -> torch.Tensor:
    """Mean over the classes in ``labels`` of ||mean embed(synthetic) - mean embed(real)||^2, the real side
    ``per_class`` images of that class drawn with ``g`` (differentiable in ``images``)."""
    losses = []
    for c in labels.unique().tolist():
        pool = torch.nonzero(real_y == c).flatten()
        if len(pool) == 0:
            raise ValueError(f"no real training images of class {c} to match")
        pick = pool[torch.randint(len(pool), (per_class,), generator=g, device=pool.device)]
        with torch.no_grad():
            target = embed(real_x[pick]).flatten(1).mean(0)
        losses.append((embed(images[labels == c]).flatten(1).mean(0) - target).pow(2).sum())
    return torch.stack(losses).mean()


def step_feature_loss(
    arch: str,
    seed: int,
    step: int,
    synthetic: list[tuple[torch.Tensor, torch.Tensor]],
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    num_classes: int,
) -> torch.Tensor:
    """:func:`feature_loss` of outer step ``step``, averaged over the (images, labels) sets in ``synthetic``: one
    random network and one draw of real images per step, both derived from (``seed``, ``step``) so a resumed
    run repeats them."""
    embed = random_embedder(
        arch, tuple(real_x.shape[1:]), num_classes, derive_seed(seed, "features", step), real_x.device
    )
    g = generator(seed, "features", step, device=real_x.device)
    return torch.stack([feature_loss(embed, x, y, real_x, real_y, g) for x, y in synthetic]).mean()


@dataclass(frozen=True)
class StartBudget:
    """The distribution matching an ``init "dm"`` start gets (``init_steps``, ``init_real``)."""

    steps: int
    real_per_class: int


def matched_start(
    start: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    classes: tuple[int, ...],
    num_classes: int,
    g: torch.Generator,
    budget: StartBudget,
) -> torch.Tensor:
    """``start`` ([len(classes) * ipc, ...], class by class) after ``budget.steps`` steps of distribution matching
    against the real (``x``, ``y``). Each step: a fresh random ``START_ARCH`` body; per class, the squared distance
    between the mean embeddings of its synthetic images and of ``budget.real_per_class`` of its real images, both
    under one DSA draw (Siamese, no mirror images), summed over the classes; SGD (lr 1, momentum 0.5) on the
    pixels. Every draw comes from ``g`` (CPU)."""
    ipc = len(start) // len(classes)
    syn = start.clone().requires_grad_(True)
    opt = torch.optim.SGD([syn], lr=1.0, momentum=0.5)
    pools = [torch.nonzero(y == c).flatten() for c in classes]
    seed = int(torch.randint(2**30, (1,), generator=g))
    for it in range(budget.steps):
        body = random_embedder(START_ARCH, tuple(x.shape[1:]), num_classes, seed + it)
        loss = torch.zeros(())
        for k, pool in enumerate(pools):
            pick = pool[torch.randint(len(pool), (budget.real_per_class,), generator=g)]
            aug = dsa_draw(1, g, NO_FLIP_FAMILIES)  # one transformation for both sides (Siamese)
            with torch.no_grad():
                target = body(dsa_apply(x[pick], aug)).flatten(1).mean(0)
            mine = syn[k * ipc : (k + 1) * ipc]
            loss = loss + (body(dsa_apply(mine, aug)).flatten(1).mean(0) - target).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return syn.detach()
