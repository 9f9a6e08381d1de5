"""What a user would pick instead of synthetic data, at the same memory: real images in a buffer.

Avalanche's definitions (``avalanche.training``: ``ReplayPlugin`` with a ``ClassBalancedBuffer``,
and ``GDumbPlugin``), written for the verifier's own learners and seeds:

- **Replay-M**: a class-balanced buffer of ``M`` real training images. Each task trains on its real
  data, every minibatch joined by an equal minibatch drawn from the buffer; after the task the
  buffer is rebalanced over every class seen so far. One optimiser runs through the whole
  sequence: Avalanche's strategies keep the optimiser's state across experiences by default
  (``make_optimizer(reset_optimizer_state=False)``). A fresh Adam at every task boundary takes a
  full-lr step on every weight at once, which kills a max-pool CNN's ReLUs (Replay-100 fell to
  0.22 on ``cnn``).
- **GDumb-M**: the same buffer, updated after each task; then a *fresh* network (the same
  initialisation every time) is trained on the buffer alone, and that network is what is scored.
  Its optimiser is fresh too (Avalanche gives new parameters an empty state). Each task's network owes
  nothing to the ones before it, and the verdict reads the final accuracy, so only the network after the
  last task is trained and scored, at a fifth of the cost on five tasks (the same definition; its
  minibatches come from a shorter random stream, so the figure is not bit-identical to scoring every task).

Both use a standard recipe (Adam, minibatches, epochs); the verifier picks the lr, then the epochs, from
small grids on the validation split (synthgen.verification.grid). GDumb's grid also holds budgets with light
augmentation (each minibatch image shifted by up to 2 pixels), what a practitioner adds when 100 images are
all there is; validation chooses it where it helps (the convolutional learners).

The buffer keeps, for each seen class, the images with the highest seeded random priority: reservoir
sampling per class, so shrinking a class's share keeps a subset of what it held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from synthgen.core.seeding import generator
from synthgen.nn.augment import random_shift

BATCH = 32  # minibatch of real images (and as many from the buffer), Avalanche's common setting


@dataclass(frozen=True)
class PeerRecipe:
    """How a peer trains: Adam at ``lr``, ``epochs`` over each task (Replay) or over the buffer after each task
    (GDumb)."""

    lr: float = 1e-3
    epochs: int = 5
    batch: int = BATCH
    shift: int = 0  # each minibatch image moved by up to this many pixels (GDumb's light augmentation)


class GDumbBudget(NamedTuple):
    """How GDumb trains on its buffer, chosen on the validation split: ``epochs`` over it, each minibatch image
    moved by up to ``shift`` pixels (0: Avalanche's GDumb; a few pixels: what a practitioner adds to 100 images)."""

    epochs: int
    shift: int = 0


class ClassBalancedBuffer:
    """At most ``capacity`` training indices, split evenly over the classes seen so far."""

    def __init__(self, capacity: int, labels: torch.Tensor, seed: int):
        self.capacity = capacity
        self.labels = labels
        self.priority = torch.rand(len(labels), generator=generator(seed, "buffer-priority"))
        self.seen: list[int] = []

    def update(self, classes: Sequence[int]) -> None:
        """Add a task's classes; every seen class gets ``capacity // seen`` slots (the first ones one more)."""
        self.seen += [c for c in classes if c not in self.seen]

    def indices(self) -> torch.Tensor:
        """The buffer's training indices now (empty before the first task)."""
        if not self.seen:
            return torch.empty(0, dtype=torch.int64)
        share, extra = divmod(self.capacity, len(self.seen))
        parts = []
        for k, c in enumerate(self.seen):
            idx = torch.nonzero(self.labels == c).flatten()
            top = torch.argsort(self.priority[idx], descending=True)[: share + (k < extra)]
            parts.append(idx[top])
        return torch.cat(parts)


def _adam_epochs(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch: int,
    g: torch.Generator,
    memory: tuple[torch.Tensor, torch.Tensor] | None = None,
    mask_of_class: torch.Tensor | None = None,
    shift: int = 0,
) -> None:
    """``epochs`` passes of ``opt`` over (x, y) in shuffled minibatches, each joined by a random minibatch of
    ``memory`` (``mask_of_class[c]``: the logits an image of class c is scored on, task-incremental; None: all)
    and, with ``shift``, each image moved by up to that many pixels (:func:`random_shift`)."""
    from synthgen.nn.inner_loop import apply_mask
    from synthgen.nn.learners import has_batchnorm

    model.train()
    single_ok = not has_batchnorm(model)  # BatchNorm cannot train on a single image
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch):
            bx, by = x[idx], y[idx]
            if memory is not None and len(memory[0]):
                pick = torch.randperm(len(memory[0]), generator=g)[:batch]
                bx, by = torch.cat([bx, memory[0][pick]]), torch.cat([by, memory[1][pick]])
            if len(bx) < 2 and not single_ok:
                continue
            if shift:
                bx = random_shift(bx, shift, g)
            opt.zero_grad()
            logits = model(bx) if mask_of_class is None else apply_mask(model(bx), mask_of_class[by])
            F.cross_entropy(logits, by).backward()
            opt.step()


def run_peer(
    kind: str,
    make_model: Callable[[], nn.Module],
    train: Sequence[tuple[torch.Tensor, torch.Tensor]],
    train_labels: torch.Tensor,
    train_images: torch.Tensor,
    tasks: Sequence[Sequence[int]],
    memory: int,
    recipe: PeerRecipe,
    seed: int,
    after_task: Callable[[int, nn.Module], None],
    mask_of_class: torch.Tensor | None = None,
) -> None:
    """Run ``"replay"`` or ``"gdumb"`` through the tasks; ``after_task(i, model)`` scores the model of step i (GDumb:
    of the last step alone).

    ``train[i]`` is task i's real (images, labels); ``train_images`` / ``train_labels`` the whole
    training pool the buffer indexes into.
    """
    if kind not in ("replay", "gdumb"):
        raise ValueError(f"unknown peer {kind!r}")
    buffer = ClassBalancedBuffer(memory, train_labels, seed)
    g = generator(seed, "peer", kind)
    if kind == "gdumb":  # the buffer after the last task; a fresh network and optimiser trained on it alone
        for classes in tasks:
            buffer.update(classes)
        idx = buffer.indices()
        model = make_model()
        opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        _adam_epochs(model, opt, train_images[idx], train_labels[idx], recipe.epochs, recipe.batch, g,
                     mask_of_class=mask_of_class, shift=recipe.shift)  # fmt: skip
        after_task(len(tasks) - 1, model)
        return
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)  # Replay: one optimiser state for the whole sequence
    for i, ((x, y), classes) in enumerate(zip(train, tasks)):
        idx = buffer.indices()
        _adam_epochs(
            model, opt, x, y, recipe.epochs, recipe.batch, g, (train_images[idx], train_labels[idx]), mask_of_class
        )
        buffer.update(classes)
        after_task(i, model)
