"""The differentiable inner loop: SGD on synthetic batches, written with torch.func.

A learner is a pure function of its parameters (``functional_call``); each inner step is
``b <- momentum * b + grad(loss)(p); p <- p - lr * b`` with ``torch.func.grad`` (``b`` starts as
the first gradient, as in ``torch.optim.SGD``), so the outer ``backward()`` flows
through every step into the synthetic images, their soft labels and the learned lr. The same
functions run vmapped over a stack of learner initialisations.

The consumer's side of the contract (see ``synthgen.verify``) is the ordinary loop with
``torch.optim.SGD``; a test asserts both give the same weights.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

Params = dict[str, torch.Tensor]
MASKED = -1e9  # logit given to classes outside the task (task-incremental scenario)


@dataclass
class SynthBatch:
    """One task's training data as the inner loop sees it."""

    images: torch.Tensor        # [n, C, H, W], normalised
    targets: torch.Tensor       # [n, classes] probabilities (soft or one-hot)
    lr: torch.Tensor            # scalar inner learning rate
    class_mask: torch.Tensor | None = None  # [classes] bool: logits kept (task-incremental), None: all
    views: torch.Tensor | None = None       # [steps, n, C, H, W]: step i trains on views[i] instead of images
                                            # (augmented copies during meta-training, synthgen.augment)

    def at_step(self, i: int) -> SynthBatch:
        """The batch inner step ``i`` trains on (itself unless it carries augmented views)."""
        if self.views is None:
            return self
        return replace(self, images=self.views[i % len(self.views)], views=None)

    def detached(self) -> SynthBatch:
        """The same batch cut from the graph (images, targets, lr and views detached)."""
        return replace(self, images=self.images.detach(), targets=self.targets.detach(), lr=self.lr.detach(),
                       views=None if self.views is None else self.views.detach())


def apply_mask(logits: torch.Tensor, class_mask: torch.Tensor | None) -> torch.Tensor:
    """Mask logits outside ``class_mask`` ([classes] or [n, classes]); identity when None."""
    return logits if class_mask is None else logits.masked_fill(~class_mask, MASKED)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy against probability targets."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def _train_loss(params: Params, model: nn.Module, batch: SynthBatch) -> torch.Tensor:
    logits = apply_mask(functional_call(model, params, (batch.images,)), batch.class_mask)
    return soft_cross_entropy(logits, batch.targets)


def sgd_steps(model: nn.Module, params: Params, batch: SynthBatch, steps: int, momentum: float = 0.0,
              graph_from: int = 0) -> Params:
    """``steps`` full-batch SGD steps on ``batch``, differentiable w.r.t. params and batch.

    ``momentum`` is torch.optim.SGD's heavy ball (buffer = momentum * buffer + grad, starting
    empty: one fresh optimiser per task). Steps before ``graph_from`` see the incoming params and
    the batch detached (truncated back-propagation: only the later steps carry a graph).
    """
    step_grad = grad(_train_loss)
    cut = batch.detached() if graph_from > 0 else batch
    if graph_from > 0:
        params = {k: v.detach() for k, v in params.items()}
    buf: Params | None = None
    for i in range(steps):
        b = (cut if i < graph_from else batch).at_step(i)
        g = step_grad(params, model, b)
        buf = g if buf is None or momentum == 0 else {k: momentum * buf[k] + g[k] for k in g}
        params = {k: p - b.lr * buf[k] for k, p in params.items()}
    return params


def train_sequence(model: nn.Module, params: Params, batches: Sequence[SynthBatch], steps: int,
                   momentum: float = 0.0, backprop_steps: int = 0) -> Params:
    """Train through tasks in order, ``steps`` SGD steps on each (see :func:`sgd_steps`).

    ``backprop_steps`` in 1..steps-1: only the last ``backprop_steps`` steps of each task carry a
    graph to the batch (truncated back-propagation, memory independent of ``steps``); 0 or >=
    ``steps`` is the full unroll.
    """
    cut = steps - backprop_steps if 0 < backprop_steps < steps else 0
    for batch in batches:
        params = sgd_steps(model, params, batch, steps, momentum, cut)
    return params


def real_loss(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor,
              class_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the trained learner on real data (``class_mask`` per sample or None)."""
    return F.cross_entropy(apply_mask(functional_call(model, params, (x,)), class_mask), y)


def stack_params(models: Sequence[nn.Module]) -> Params:
    """Stack the parameters of same-architecture models along a new leading dim (for vmap)."""
    return {k: torch.stack([dict(m.named_parameters())[k].detach() for m in models])
            for k, _ in models[0].named_parameters()}
