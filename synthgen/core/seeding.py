"""Seeding and determinism knobs, in one place.

The engine never relies on the global RNG between steps: every outer step derives its own
``torch.Generator`` from ``(seed, stage, step)`` with :func:`derive_seed`. That makes resume
exact without saving RNG state, and makes a step's randomness independent of the process
that runs it (what torch.distributed will need).
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from synthgen.core.errors import SynthgenError


class SeedError(SynthgenError, ValueError):
    """A seed that is not a non-negative int below 2**63."""


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; optionally turn on every determinism knob torch has."""
    if not isinstance(seed, int) or not (0 <= seed < 2**63):
        raise SeedError(f"seed must be a non-negative int below 2**63, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from any tuple of ints/strings (same on every machine and run)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(*parts: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded by :func:`derive_seed` of ``parts``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(*parts))
    return g
