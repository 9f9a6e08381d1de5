"""How `synthgen verify` retrains and judges: seeds, learners, peers and the verdict's thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from synthgen.core.config import ConfigBase, ConfigError, Positive, PositiveFloat, Seed, config

MAX_VERIFY_SEEDS = 100  # each seed retrains every learner and peer: `--seeds 1000000` is a typo, not a protocol


@config
class VerifyConfig(ConfigBase):
    seeds: Annotated[tuple[Seed, ...], Field(min_length=1, max_length=MAX_VERIFY_SEEDS)] = (0, 1, 2, 3, 4)  # one fresh
    # learner per (arch, seed)
    archs: tuple[str, ...] | None = None  # generation archs to test; None: those in the artifact
    heldout: tuple[str, ...] | None = None  # held-out zoo archs; None: 3 families not used in generation
    models: tuple[str, ...] = ()  # the user's own networks, 'pkg.module:callable' (imported)
    stress: bool = False  # also run the stress scenarios (lr x0.5/x2, steps x2, minibatches)
    peers: bool = True  # Replay-N, Replay-5N, GDumb-N with the same learners and seeds
    peer_lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (3e-4, 1e-3, 3e-3)  # Adam lr grid of the
    # peers and the joint bound, chosen per arch on the validation split
    peer_epochs: Positive = 2  # Replay: epochs over each task's real data (+ as many buffer batches)
    gdumb_epochs: Positive = 30  # GDumb: epochs over the buffer after each task
    baselines: bool = True  # informative real-data baselines without memory (sequence, coreset)
    baseline_lr: PositiveFloat = 0.05  # SGD lr of those baselines
    joint: bool = True  # the joint upper bound (the verdict needs it; it does not depend on the data)
    joint_epochs: Positive = 5  # epochs of the joint upper bound (on the tasks seen so far)
    reference_seeds: Positive = 2  # the joint bound and the no-memory baselines run on the first this many
    # seeds: references, not judged against (seed std 0.002-0.015 on the
    # default data); run on every seed, the joint bound was about a
    # third of the grid's cost
    peer_margin: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] = (
        0.02  # verdict: final ACC >= each peer's + this
    )
    max_forgetting: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = (
        0.15  # verdict: max forgetting <= this
    )
    min_joint_fraction: Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] = (
        0.85  # verdict: final ACC >= this x joint
    )

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {list(self.seeds)}")
