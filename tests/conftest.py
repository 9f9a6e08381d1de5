"""Shared fixtures: one thread (a loaded 2-core box is 50x slower with 2), tiny seeded configs."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

from synthgen.config import GenerateConfig, LearnerConfig, TaskConfig  # noqa: E402
from synthgen.sources import load_source  # noqa: E402


@pytest.fixture(scope="session")
def mnist5k():
    return load_source("mnist-5k")


def tiny_config(**overrides) -> GenerateConfig:
    """2 tasks of Split-MNIST, 5 images/class, 5 inner steps: seconds, yet a real effect."""
    base = dict(tasks=TaskConfig(split="0,1/2,3"), learners=LearnerConfig(archs=("mlp",)), ipc=5,
                inner_steps=5, inits_per_step=2, real_batch=128, steps=120, eval_every=0,
                checkpoint_every=0, device="cpu", outer_lr=0.03, refine_steps=0)
    base.update(overrides)
    return GenerateConfig(**base)


@pytest.fixture(scope="session")
def tiny_artifact(mnist5k):
    """An artifact made by the engine once per session (about 5 s)."""
    from synthgen.api import artifact_from_result
    from synthgen.engine import Engine

    cfg = tiny_config()
    return artifact_from_result(Engine(cfg, source=mnist5k).run(), cfg)
