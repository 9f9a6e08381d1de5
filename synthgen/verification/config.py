"""How `synthgen verify` retrains and judges: seeds, learners, peers and the verdict's thresholds."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from pydantic import Field

from synthgen.core.config import ConfigBase, ConfigError, Positive, PositiveFloat, Seed, config

MAX_VERIFY_SEEDS = 100  # each seed retrains every learner and peer: `--seeds 1000000` is a typo, not a protocol


Margin = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)]
Bound = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
Budgets = Annotated[tuple[Positive, ...], Field(min_length=1)]
Seeds = Annotated[tuple[Seed, ...], Field(min_length=1, max_length=MAX_VERIFY_SEEDS)]


@config
class VerifyConfig(ConfigBase):
    seeds: Seeds = (0, 1, 2)  # one fresh learner per (learner, seed), the same weights for every method
    archs: tuple[str, ...] | None = None  # generation learners to test; None: those the artifact names
    heldout: tuple[str, ...] | None = None  # held-out zoo learners; None: 3 families not used in generation
    models: tuple[str, ...] = ()  # the user's own networks, 'pkg.module:callable' (imported)
    stress: bool = False  # also run the stress scenarios (lr x0.5/x2, steps x2, minibatches)
    peers: bool = True  # Random-N, Herding-N, GDumb-N, Replay-N, Replay-5N with the same learners
    replay: bool = True  # Replay-N and Replay-5N among the peers (references; on full-size data the costliest cells)
    peer_lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (1e-3, 3e-3)  # Adam lr grid, chosen
    # per learner on the validation split, of the peers and the joint bound
    replay_epochs: Budgets = (2, 5)  # Replay: epochs over each task's real data (+ as many buffer batches),
    # chosen per learner on the validation split at the chosen lr
    replay_5n_epochs: Budgets = (5, 10)  # Replay-5N: its epochs per task, chosen the same way at Replay-N's lr
    gdumb_epochs: Budgets = (30, 100)  # GDumb: epochs over the buffer after each task, chosen the same way
    gdumb_shifted_epochs: tuple[Positive, ...] = (100, 200)  # GDumb: more of its epochs to choose from, with each
    # minibatch image shifted by up to gdumb_shift pixels (light augmentation; () for none)
    gdumb_shift: Positive = 2
    memory_free: bool | None = None  # Naive, EWC, SI, LwF on the real tasks (they keep no data); None: for data
    # made without rehearsal
    joint: bool = True  # the joint upper bound (the verdict needs it; it does not depend on the data)
    joint_epochs: Positive = 5  # epochs of the joint upper bound (on the tasks seen so far)
    reference_seeds: Positive = 1  # Replay and the memory-free strategies run on the first this many seeds
    joint_seeds: Positive = 3  # the joint bound runs on the first this many seeds: the verdict reads the mean of
    # its final ACC and of each task's forgetting (one prefix learner's drop on a task varies by 0.03-0.05 per seed)
    reference_images: Positive | None = 20_000  # the references' epochs (Replay-N's, Replay-5N's, the joint
    # bound's) are cut to this // the largest task's training images, at least 1: a full-size task (10,800 images)
    # trains them one epoch, mnist-5k's (700) as given; None: no cut
    peer_margin: Margin = 0.02  # verdict: final ACC >= each judged peer's + this
    max_forgetting: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.15  # verdict: bound on each task's
    # forgetting beyond the joint bound's forgetting of that task
    min_joint_fraction: Bound = 0.85  # verdict: final ACC >= this x the joint bound

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {list(self.seeds)}")

    def sized_to(self, task_images: int) -> VerifyConfig:
        """This config with the references' epochs cut to ``reference_images // task_images`` (at least 1; the
        largest task's training images): the budgets a verify of that data trains."""
        if self.reference_images is None:
            return self
        most = max(1, self.reference_images // task_images)

        def cut(budgets: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(dict.fromkeys(min(e, most) for e in budgets))  # in order, each once

        return dataclasses.replace(
            self,
            replay_epochs=cut(self.replay_epochs),
            replay_5n_epochs=cut(self.replay_5n_epochs),
            joint_epochs=min(self.joint_epochs, most),
        )
