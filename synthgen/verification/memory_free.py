"""What a user would do instead of data learned with no memory: continual learning that keeps no data.

Avalanche's strategies (``avalanche.training``: ``Naive``, ``EWC``, ``SynapticIntelligence``, ``LwF``),
written for the verifier's learners: the real tasks in sequence, Adam at ``lr`` (one optimiser through
the sequence, as Avalanche keeps its state), minibatches of 32, ``EPOCHS`` epochs per task, and a
regulariser of the given ``strength``:

- **Naive**: no regulariser (fine-tuning; the lower bound).
- **EWC** (Kirkpatrick 2017; Avalanche ``mode="separate"``): after each task the diagonal Fisher
  (mean squared minibatch gradient of the loss over the task's data) and the weights are kept;
  the loss adds ``strength * sum_t sum_p F_t * (p - p_t)^2``.
- **SI** (Zenke 2017; Avalanche's ``SynapticIntelligencePlugin``): along the path of each task,
  ``w += -g * dp`` per step; at its end ``omega += w / (delta^2 + 1e-7)``, used clipped at ``SI_CLIP``
  from above; the loss adds ``strength / 2 * sum_p min(omega, SI_CLIP) * (p - p_end)^2`` over the
  parameters outside normalisation layers (``torch.nn.modules.batchnorm._NormBase``).
- **LwF** (Li & Hoiem 2016; Avalanche's): the previous task's model is frozen; the loss adds
  ``strength * KL(softmax(old / T) || softmax(new / T))`` over the classes seen before (T = 2).

The verifier chooses ``lr`` and then ``strength`` on the validation split (synthgen.verification.grid).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from synthgen.core.seeding import generator
from synthgen.nn.inner_loop import apply_mask
from synthgen.nn.learners import has_batchnorm

STRATEGIES = ("naive", "ewc", "si", "lwf")
STRENGTHS = {"ewc": (1e2, 1e4, 1e6), "si": (1e3, 3e3, 1e4, 3e4, 1e5), "lwf": (0.5, 1.0, 2.0)}  # the grids chosen from
EPOCHS = 2  # per task: they forget the earlier tasks whatever the epochs; a longer run only costs time
BATCH = 32
LR = 1e-3  # Naive's Adam lr (Avalanche's usual); the regularised strategies' lr is chosen
TEMPERATURE = 2.0  # LwF
SI_EPS = 1e-7
SI_CLIP = 1e-3  # Avalanche's clip_to


def _params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _si_params(model: nn.Module) -> list[nn.Parameter]:
    """The parameters SI protects: all but those of normalisation layers (as Avalanche's plugin)."""
    norm = {id(p) for m in model.modules() if isinstance(m, _NormBase) for p in m.parameters()}
    return [p for p in _params(model) if id(p) not in norm]


def _fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> list[torch.Tensor]:
    """EWC's importance: the mean over minibatches of the squared gradient of the loss (train mode, as Avalanche)."""
    params, batches = _params(model), x.split(BATCH)
    total = [torch.zeros_like(p) for p in params]
    model.train()
    for bx, by in zip(batches, y.split(BATCH)):
        if len(bx) < 2:
            continue  # BatchNorm cannot take one image
        model.zero_grad()
        logits = model(bx) if mask is None else apply_mask(model(bx), mask[by])
        F.cross_entropy(logits, by).backward()
        for t, p in zip(total, params):
            t += p.grad.detach() ** 2
    model.zero_grad()
    return [t / len(batches) for t in total]


def _quadratic(params: list[nn.Parameter], anchors: list[tuple[list[torch.Tensor], list[torch.Tensor]]]):
    return sum(((w * (p - a) ** 2).sum() for weights, at in anchors for p, a, w in zip(params, at, weights)), 0.0)


def run_memory_free(
    strategy: str,
    model: nn.Module,
    train: Sequence[tuple[torch.Tensor, torch.Tensor]],
    lr: float,
    strength: float,
    seed: int,
    after_task: Callable[[int, nn.Module], None],
    mask_of_class: torch.Tensor | None = None,
    epochs: int = EPOCHS,
) -> None:
    """Train ``model`` through the real tasks ``train`` [(images, labels)] by ``strategy``; ``after_task(i, model)``
    scores it after task i (``mask_of_class[c]``: the logits an image of class c is scored on, task-incremental)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown memory-free strategy {strategy!r}")
    params, g = _params(model), generator(seed, "memory-free", strategy)
    penalised = _si_params(model) if strategy == "si" else params  # what the anchors hold, in order
    weight = strength / 2 if strategy == "si" else strength
    opt = torch.optim.Adam(params, lr=lr)
    anchors: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []  # (importance, weights) to stay near
    omega = [torch.zeros_like(p) for p in penalised]
    old: nn.Module | None = None
    seen: list[int] = []
    single_ok = not has_batchnorm(model)  # BatchNorm cannot train on a single image
    for i, (x, y) in enumerate(train):
        start = [p.detach().clone() for p in penalised]
        path = [torch.zeros_like(p) for p in penalised]
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=g).split(BATCH):
                if len(idx) < 2 and not single_ok:
                    continue
                bx, by = x[idx], y[idx]
                out = model(bx)
                loss = F.cross_entropy(out if mask_of_class is None else apply_mask(out, mask_of_class[by]), by)
                if anchors:
                    loss = loss + weight * _quadratic(penalised, anchors)
                if old is not None:
                    with torch.no_grad():
                        target = F.softmax(old(bx)[:, seen] / TEMPERATURE, 1)
                    log_p = F.log_softmax(out[:, seen] / TEMPERATURE, 1)
                    loss = loss + strength * F.kl_div(log_p, target, reduction="batchmean")
                opt.zero_grad()
                loss.backward()
                before = [p.detach().clone() for p in penalised] if strategy == "si" else []
                grads = [p.grad.detach().clone() for p in penalised] if strategy == "si" else []
                opt.step()
                for w, gr, b, p in zip(path, grads, before, penalised):
                    w -= gr * (p.detach() - b)
        seen += sorted(set(y.tolist()) - set(seen))
        if strategy == "ewc":
            anchors.append((_fisher(model, x, y, mask_of_class), [p.detach().clone() for p in params]))
        elif strategy == "si":
            for o, w, p, s in zip(omega, path, penalised, start):
                o += w / ((p.detach() - s) ** 2 + SI_EPS)
            anchors = [([o.clamp(max=SI_CLIP) for o in omega], [p.detach().clone() for p in penalised])]
        elif strategy == "lwf":
            old = copy.deepcopy(model).eval()
            for p in old.parameters():
                p.requires_grad_(False)
        after_task(i, model)
