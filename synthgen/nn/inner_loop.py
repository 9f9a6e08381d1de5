"""The differentiable inner loop: a learner trained on synthetic batches, written with torch.func.

A learner is a pure function of its state ``(params, buffers)`` through ``functional_call``. Each inner step
takes ``torch.func.grad`` of the training loss and applies the recipe's optimiser (``torch.optim.SGD`` with
heavy-ball momentum) written out as tensor algebra, so the outer ``backward()`` flows through every step into
the synthetic images, their soft labels and the learned lr. The same functions run vmapped over a stack of
initialisations.

BatchNorm works as in ``torch.nn``: batch statistics while training, with the running buffers
updated after every step (``momentum``, unbiased variance, ``num_batches_tracked``), and the
running statistics at evaluation. Here both are computed differentiably, so the meta-gradient
also sees how the synthetic images set the running statistics a consumer evaluates with.

The consumer's side of the contract is the ordinary loop with ``torch.optim`` (synthgen.nn.consumer);
a test asserts that both give the same weights and buffers for every zoo family.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from synthgen.format.recipe import Optimiser
from synthgen.nn.augment import NO_FLIP_FAMILIES, DsaDraw, draw_offsets, dsa_apply, dsa_draw, shift_by

Params = dict[str, torch.Tensor]


State = tuple[Params, Params]  # (parameters, buffers); buffers: BatchNorm running statistics


MASKED = -1e9  # logit given to classes outside the task (task-incremental scenario)


@dataclass
class SynthBatch:
    """One task's training data as the inner loop sees it."""

    images: torch.Tensor  # [n, C, H, W], normalised
    targets: torch.Tensor  # [n, classes] probabilities (soft or one-hot)
    lr: torch.Tensor  # scalar inner learning rate
    class_mask: torch.Tensor | None = None  # [classes] or [n, classes] bool: logits kept (task-incremental), None: all
    shift: int = 0  # the recipe moves each image by up to this many pixels at every step (synthgen.nn.augment)
    offsets: torch.Tensor | None = None  # [steps, 2, n, 1]: each step's offsets (drawn by :func:`with_draws`)
    dsa: tuple[DsaDraw, ...] | None = None  # each step's DSA transformation, after the shift (:func:`with_draws`)

    def detached(self) -> SynthBatch:
        """The same batch cut from the graph (images, targets and lr detached)."""
        return replace(self, images=self.images.detach(), targets=self.targets.detach(), lr=self.lr.detach())

    def at_step(self, k: int) -> SynthBatch:
        """The batch that step ``k`` trains on: its images moved by that step's offsets (when the recipe shifts),
        then transformed by that step's DSA draw (when the recipe augments)."""
        images = self.images
        if self.offsets is not None:
            images = shift_by(images, self.shift, self.offsets[k])
        if self.dsa is not None:
            images = dsa_apply(images, self.dsa[k])
        return self if images is self.images else replace(self, images=images)


def with_draws(
    batches: Sequence[SynthBatch], steps: int, shift: int, dsa: bool, g: torch.Generator
) -> list[SynthBatch]:
    """``batches`` with each step's augmentation drawn from ``g`` in the order a consumer draws it (task by task,
    step by step, the shift's offsets before the DSA draw: synthgen.nn.consumer.train_on_tasks); unchanged when the
    recipe neither shifts nor augments."""
    if not shift and not dsa:
        return list(batches)
    out = []
    for b in batches:
        offsets, draws = [], []
        for _ in range(steps):
            if shift:
                offsets.append(draw_offsets(len(b.images), shift, g))
            if dsa:
                draws.append(dsa_draw(len(b.images), g, NO_FLIP_FAMILIES))
        out.append(
            replace(b, shift=shift, offsets=torch.stack(offsets) if shift else None, dsa=tuple(draws) if dsa else None)
        )
    return out


def rehearsed_tasks(tasks: Sequence[tuple]) -> list[tuple]:
    """Synthetic rehearsal on (images, targets, mask) tasks: task t's joined by those of tasks 0..t-1, each image
    keeping its own task's logit mask ([n, classes]; None when no task masks, class-incremental)."""
    out = []
    for t in range(len(tasks)):
        part = tasks[: t + 1]
        masks = None if all(m is None for _, _, m in part) else torch.cat([m.expand(len(x), -1) for x, _, m in part])
        out.append((torch.cat([x for x, _, _ in part]), torch.cat([y for _, y, _ in part]), masks))
    return out


def rehearsed(batches: Sequence[SynthBatch]) -> list[SynthBatch]:
    """:func:`rehearsed_tasks` on the inner loop's batches (each at its own task's lr)."""
    joined = rehearsed_tasks([(b.images, b.targets, b.class_mask) for b in batches])
    return [replace(b, images=x, targets=y, class_mask=m) for b, (x, y, m) in zip(batches, joined)]


def apply_mask(logits: torch.Tensor, class_mask: torch.Tensor | None) -> torch.Tensor:
    """Mask logits outside ``class_mask`` ([classes] or [n, classes]); identity when None."""
    return logits if class_mask is None else logits.masked_fill(~class_mask, MASKED)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy against probability targets."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


# ---- BatchNorm, functionally ------------------------------------------------------------------------
def _norm_layers(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def _functional_batchnorm(model: nn.Module, train: bool, stats: list) -> Iterator[None]:
    """Within the block, each BatchNorm layer of ``model`` normalises with batch statistics (``train``,
    appending ``(name, mean, unbiased var)`` to ``stats``) or with its running buffers, as plain tensor
    algebra on whatever tensors functional_call put in place (differentiable, vmap-friendly, no in-place)."""
    layers = _norm_layers(model)

    def make(name: str, bn: nn.modules.batchnorm._BatchNorm):
        def forward(x: torch.Tensor) -> torch.Tensor:
            dims = [0, *range(2, x.dim())]
            shape = [1, -1] + [1] * (x.dim() - 2)
            if train:
                mean, var = x.mean(dims), x.var(dims, unbiased=False)
                n = x.numel() // x.shape[1]
                stats.append((name, mean, var * (n / max(n - 1, 1))))
            else:
                mean, var = bn.running_mean, bn.running_var
            out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
            return out * bn.weight.view(shape) + bn.bias.view(shape) if bn.affine else out

        return forward

    for name, bn in layers:
        bn.forward = make(name, bn)  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        for _, bn in layers:
            del bn.forward


def _updated_buffers(model: nn.Module, buffers: Params, stats: list) -> Params:
    """The running statistics after one training step with batch ``stats`` (torch.nn.BatchNorm's rule)."""
    new = dict(buffers)
    layers = dict(_norm_layers(model))
    for name, mean, var in stats:
        bn, p = layers[name], f"{name}." if name else ""
        count = buffers[p + "num_batches_tracked"] + 1
        m = bn.momentum if bn.momentum is not None else 1.0 / count.to(mean.dtype)
        new[p + "running_mean"] = (1 - m) * buffers[p + "running_mean"] + m * mean
        new[p + "running_var"] = (1 - m) * buffers[p + "running_var"] + m * var
        new[p + "num_batches_tracked"] = count
    return new


def forward(model: nn.Module, state: State, x: torch.Tensor, train: bool) -> tuple[torch.Tensor, Params]:
    """Logits of the learner in ``state`` on ``x``, and its buffers afterwards (updated when ``train``)."""
    params, buffers = state
    if not buffers:
        return functional_call(model, params, (x,)), buffers
    stats: list = []
    with _functional_batchnorm(model, train, stats):
        logits = functional_call(model, {**params, **buffers}, (x,))
    return logits, _updated_buffers(model, buffers, stats) if train else buffers


# ---- the optimiser steps -------------------------------------------------------------------------------
def _train_loss(params: Params, buffers: Params, model: nn.Module, batch: SynthBatch) -> tuple[torch.Tensor, Params]:
    logits, new_buffers = forward(model, (params, buffers), batch.images, train=True)
    return soft_cross_entropy(apply_mask(logits, batch.class_mask), batch.targets), new_buffers


def _sgd_step(
    params: Params, g: Params, buf: Params | None, momentum: float, lr: torch.Tensor
) -> tuple[Params, Params]:
    """One ``torch.optim.SGD`` step (heavy-ball ``momentum``; the first step of a task has no buffer yet)."""
    buf = g if buf is None or momentum == 0 else {k: momentum * buf[k] + g[k] for k in g}
    return {k: p - lr * buf[k] for k, p in params.items()}, buf


def clipped(g: Params, clip: float) -> Params:
    """``g`` scaled down to at most L2 norm ``clip`` over all its tensors: ``torch.nn.utils.clip_grad_norm_``'s
    rule (``clip / (norm + 1e-6)``, capped at 1), differentiable; ``g`` itself when ``clip`` is 0."""
    if not clip:
        return g
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in g.values()]))
    scale = torch.clamp(clip / (norm + 1e-6), max=1.0)
    return {k: v * scale for k, v in g.items()}


def train_task(model: nn.Module, state: State, batch: SynthBatch, steps: int, opt: Optimiser = Optimiser()) -> State:
    """``steps`` full-batch SGD steps on ``batch`` with a fresh optimiser (gradients clipped to ``opt.clip`` when
    set), differentiable w.r.t. the incoming state and the batch."""
    if opt.kind != "sgd":
        raise ValueError(f"the differentiable inner loop runs SGD, not {opt.kind!r}")
    step_grad = grad(_train_loss, has_aux=True)
    params, buffers = state
    buf = None
    for k in range(steps):
        g, buffers = step_grad(params, buffers, model, batch.at_step(k))
        params, buf = _sgd_step(params, clipped(g, opt.clip), buf, opt.momentum, batch.lr)
    return params, buffers


def train_sequence(
    model: nn.Module, state: State, batches: Sequence[SynthBatch], steps: int, opt: Optimiser = Optimiser()
) -> State:
    """Train through tasks in order, ``steps`` steps on each (see :func:`train_task`)."""
    for batch in batches:
        state = train_task(model, state, batch, steps, opt)
    return state


def real_loss(
    model: nn.Module, state: State, x: torch.Tensor, y: torch.Tensor, class_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of the trained learner on real data, evaluated as a consumer would (BatchNorm: running stats)."""
    logits, _ = forward(model, state, x, train=False)
    return F.cross_entropy(apply_mask(logits, class_mask), y)


def initial_state(model: nn.Module) -> State:
    """A module's own parameters and buffers, detached, as an inner-loop state."""
    return ({k: v.detach() for k, v in model.named_parameters()}, {k: v.detach() for k, v in model.named_buffers()})


def stack_states(models: Sequence[nn.Module]) -> State:
    """Stack the states of same-architecture models along a new leading dim (for vmap)."""
    states = [initial_state(m) for m in models]
    return tuple({k: torch.stack([s[i][k] for s in states]) for k in states[0][i]} for i in range(2))  # type: ignore[return-value]
