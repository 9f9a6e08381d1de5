"""One outer step: draw learners -> unrolled training on the synthetic tasks -> real loss -> meta-gradient.

Every draw of a step comes from ``generator(seed, "step", stage, step)``: which architecture and
initialisation each learner gets (or which replay-pool entry), the real batch and the lr jitter, so a resumed
run repeats the uninterrupted one exactly and every torchrun rank draws the same. Learner ``i`` belongs to
gradient chunk ``i % C``; rank r computes the chunks ``c % world == r``; chunk gradients are exchanged exactly
and summed in chunk order, so the result does not depend on the number of processes
(synthgen.core.distributed).

The loss scores the learner, trained through tasks 0..t, on real data of every task seen so far. In the refine
stage (several trainable tasks) the learner is trained through the whole sequence from its initialisation and
scored after every task on the real data seen by then: every point of the sequence counts alike, or
(``refine_score`` "seen") each as many times as tasks have been seen by then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.func import vmap

from synthgen.core import distributed as dist
from synthgen.core.seeding import generator
from synthgen.generation.config import GenerateConfig
from synthgen.generation.realdata import RealView
from synthgen.generation.replay_pool import ReplayPool
from synthgen.generation.stages import Stage
from synthgen.nn.inner_loop import (
    SynthBatch,
    real_loss,
    rehearsed,
    stack_states,
    train_sequence,
    train_task,
    with_draws,
)
from synthgen.nn.learners import build_learner


@dataclass
class Draw:
    """Everything random about one outer step."""

    picks: list[int]  # architecture index of each learner
    seeds: list[int]  # initialisation seed of each learner (fresh learners)
    pool_draws: list[int] | None  # replay-pool entry of each learner (when the stage replays frozen tasks)
    points: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # per trainable task t: the real (x, y, logit
    # mask) of tasks 0..t that score the learner after t (one batch from tasks 0..last, split by what was seen)
    lr_factor: float  # lr jitter shared by all tasks and learners
    augment_seed: int | None = None  # seeds every inner step's augmentation when the recipe shifts or augments


def draw(cfg: GenerateConfig, index: int, step: int, stage: Stage, real: RealView) -> Draw:
    """The step's randomness, in a fixed order (``index``: the stage's place in the plan)."""
    g = generator(cfg.seed, "step", index, step)
    n = cfg.inits_per_step
    picks = torch.randint(len(cfg.learners.archs), (n,), generator=g).tolist()
    seeds = torch.randint(2**62, (n,), generator=g).tolist()
    x, y, mask = real.batch(stage.task, cfg.real_batch, g)
    points = [(x[k], y[k], mask[k]) for k in (real.seen_mask(y, t) for t in stage.tasks[:-1])] + [(x, y, mask)]
    pool_draws = None
    if cfg.replay_pool > 0 and stage.tasks[0] > 0:
        pool_draws = torch.randint(cfg.replay_pool, (n,), generator=g).tolist()
    factor = 1.0
    if cfg.lr_jitter > 1.0:
        factor = cfg.lr_jitter ** (float(torch.rand((), generator=g)) * 2 - 1)
    augment_seed = int(torch.randint(2**62, (), generator=g)) if cfg.shift or cfg.recipe_dsa else None
    return Draw(picks, seeds, pool_draws, points, factor, augment_seed)


class MetaGradient:
    """Computes one step's meta-loss and writes its gradient into the trainable tensors' ``.grad``."""

    def __init__(self, cfg: GenerateConfig, shape: tuple[int, int, int], num_classes: int, device: torch.device):
        self.cfg, self.shape, self.num_classes, self.device = cfg, shape, num_classes, device
        self.optimiser = cfg.optimiser()
        self._templates: dict[int, nn.Module] = {}
        self.pool: ReplayPool | None = None  # built at the first stage that replays, advanced per stage

    def template(self, a: int) -> nn.Module:
        """A module of architecture ``a`` used only as the function for functional_call (cached)."""
        if a not in self._templates:
            self._templates[a] = build_learner(self.cfg.learners.archs[a], self.shape, self.num_classes, 0, self.device)
        return self._templates[a]

    def replay_pool(self, frozen: list[SynthBatch]) -> ReplayPool:
        """The replay pool, trained through exactly the frozen tasks of this stage."""
        if self.pool is None:
            self.pool = ReplayPool(
                self.cfg.learners.archs,
                self.shape,
                self.num_classes,
                self.cfg.seed,
                self.cfg.replay_pool,
                self.cfg.inner_steps,
                self.device,
                self.template,
                self.optimiser,
                self.cfg.shift,
                self.cfg.recipe_dsa,
            )
        self.pool.advance(frozen)
        return self.pool

    def __call__(self, synth: nn.ModuleList, tasks: tuple[int, ...], d: Draw, params: list[torch.Tensor]) -> float:
        """Meta-loss of the step (summed over ranks); gradients land in ``p.grad`` for every p in ``params``."""
        cfg, first = self.cfg, tasks[0]
        frozen = [synth[t].materialize(detach=True) for t in range(first)]
        current = [synth[t].materialize() for t in tasks]
        if cfg.rehearsal:  # task t trains on the synthetic sets of tasks 0..t
            both = rehearsed([*frozen, *current])
            frozen, current = both[:first], both[first:]
        picks = d.picks
        if d.pool_draws is not None:
            pool = self.replay_pool(frozen)  # it draws its own augmentation per task: the same after a resume
            picks = [pool.arch_of[j] for j in d.pool_draws]
        if d.augment_seed is not None:  # each inner step augments the images as the recipe will, alike for all
            g = torch.Generator().manual_seed(d.augment_seed)
            both = with_draws([*frozen, *current], cfg.inner_steps, cfg.shift, cfg.recipe_dsa, g)
            frozen, current = both[:first], both[first:]
        if d.lr_factor != 1.0:
            frozen = [replace(b, lr=b.lr * d.lr_factor) for b in frozen]
            current = [replace(b, lr=b.lr * d.lr_factor) for b in current]
        opt, n = self.optimiser, cfg.inits_per_step
        chunks = max(cfg.grad_chunks, dist.world())
        work = [(c, a) for c in dist.my_share(chunks) for a in sorted({picks[i] for i in range(c, n, chunks)})]
        rows = torch.zeros(chunks, sum(p.numel() for p in params), device=self.device)
        seen = torch.arange(1.0, len(current) + 1, device=self.device)  # tasks seen at each point of the stage
        total = 0.0
        for k, (c, a) in enumerate(work):
            members = [i for i in range(c, n, chunks) if picks[i] == a]
            base = self.template(a)
            if d.pool_draws is not None:
                entries = [self.pool.entry(d.pool_draws[i])[1] for i in members]
                stacked = tuple(
                    {key: torch.stack([e[j][key] for e in entries]) for key in entries[0][j]} for j in range(2)
                )
            else:
                stacked = stack_states(
                    [
                        build_learner(cfg.learners.archs[a], self.shape, self.num_classes, d.seeds[i], self.device)
                        for i in members
                    ]
                )

            def per_learner(state):
                if d.pool_draws is None:
                    state = train_sequence(base, state, frozen, cfg.inner_steps, opt)
                losses = []
                for batch, (x, y, mask) in zip(current, d.points):
                    state = train_task(base, state, batch, cfg.inner_steps, opt)
                    losses.append(real_loss(base, state, x, y, mask))
                if len(losses) == 1:
                    return losses[0]
                if cfg.refine_score == "seen":
                    return (torch.stack(losses) * seen).sum() / seen.sum()
                return torch.stack(losses).mean()

            loss = vmap(per_learner)(stacked).sum() / n
            grads = torch.autograd.grad(loss, params, retain_graph=k < len(work) - 1, allow_unused=True)
            rows[c] += torch.cat(
                [(torch.zeros_like(p) if gr is None else gr).flatten() for p, gr in zip(params, grads)]
            )
            total += float(loss.detach())
            del loss, grads  # retain_graph kept this learner's whole unroll alive: free it before the next one
        flat = dist.sum_chunks(rows)
        for p, gr in zip(params, flat.split([p.numel() for p in params])):
            p.grad = gr.view_as(p).clone()
        return dist.reduce_scalar(total, device=self.device)
