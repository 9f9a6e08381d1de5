"""The replay pool: learners already trained through the frozen tasks, reused across outer steps.

In stage t every learner must first be trained through tasks 0..t-1, whose data no longer
changes. Instead of repeating that work each step, the engine draws learners from a pool of
``size`` entries. Entry j has a fixed architecture and initialisation (seeded by j alone), and
the pool is *advanced* one task at a time: when stage t starts, every entry trains on task t-1
only, continuing from where stage t-1 left it. Entries are trained in fixed blocks of one
architecture, vmapped, so a pool rebuilt from scratch after a resume (advancing through tasks
0..t-1 the same way) is bit-for-bit the pool of the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import vmap

from synthgen.core.seeding import generator
from synthgen.format.recipe import Optimiser
from synthgen.nn.inner_loop import State, SynthBatch, stack_states, train_sequence, with_draws
from synthgen.nn.learners import build_learner

# entries trained together (one vmap call). Part of the pool's definition, not a speed knob only (the float
# rounding of a vmapped step depends on how many learners it batches); it also sets generation's memory peak, the
# activations of BLOCK learners on the largest rehearsed task: a default `synthgen generate` peaked at 2.23 GB
# in 241 s with 32, at 1.28 GB in 192 s with 8 (docs/research.md).
BLOCK = 8


class ReplayPool:
    """``size`` learners of the given architectures, trained through the first ``tasks_done`` tasks."""

    def __init__(
        self,
        archs: Sequence[str],
        shape: tuple[int, int, int],
        num_classes: int,
        seed: int,
        size: int,
        inner_steps: int,
        device: torch.device,
        template: Callable[[int], nn.Module],
        optimiser: Optimiser = Optimiser(),
        shift: int = 0,
        dsa: bool = False,
    ):
        """``template(a)``: a module of architecture ``archs[a]``, used only as the function for functional_call;
        ``inner_steps``, ``optimiser``, ``shift`` and ``dsa``: the recipe each entry follows on every task."""
        self.archs, self.inner_steps, self.tasks_done, self.template = tuple(archs), inner_steps, 0, template
        self.optimiser, self.shift, self.dsa, self.seed = optimiser, shift, dsa, seed
        self.arch_of: list[int] = []
        seeds = []
        for j in range(size):
            g = generator(seed, "pool", j)
            self.arch_of.append(int(torch.randint(len(self.archs), (), generator=g)))
            seeds.append(int(torch.randint(2**62, (), generator=g)))
        # blocks of up to BLOCK entries of one architecture, in entry order
        self.blocks: list[tuple[int, list[int], State]] = []
        for a in sorted(set(self.arch_of)):
            members = [j for j in range(size) if self.arch_of[j] == a]
            for i in range(0, len(members), BLOCK):
                part = members[i : i + BLOCK]
                self.blocks.append(
                    (
                        a,
                        part,
                        stack_states(
                            [build_learner(self.archs[a], shape, num_classes, seeds[j], device) for j in part]
                        ),
                    )
                )
        self._where = {j: (b, i) for b, (_, part, _) in enumerate(self.blocks) for i, j in enumerate(part)}

    def advance(self, frozen: Sequence[SynthBatch]) -> None:
        """Train every entry on the frozen tasks it has not seen yet, one task at a time."""
        while self.tasks_done < len(frozen):
            g = generator(self.seed, "pool-shifts", self.tasks_done)  # per task: the same pool whenever it is built
            batch = with_draws([frozen[self.tasks_done]], self.inner_steps, self.shift, self.dsa, g)[0]
            for n, (a, part, stacked) in enumerate(self.blocks):
                base = self.template(a)
                with torch.no_grad():
                    new = vmap(lambda s: train_sequence(base, s, [batch], self.inner_steps, self.optimiser))(stacked)
                self.blocks[n] = (a, part, tuple({k: v.detach() for k, v in d.items()} for d in new))
            self.tasks_done += 1

    def entry(self, j: int) -> tuple[int, State]:
        """(architecture index, state) of entry ``j``."""
        b, i = self._where[j]
        a, _, stacked = self.blocks[b]
        return a, tuple({k: v[i] for k, v in d.items()} for d in stacked)
