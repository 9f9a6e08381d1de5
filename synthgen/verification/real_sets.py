"""Real images in place of the synthetic ones: what a user holding N real images would train instead.

:func:`in_place_of` returns the artifact with each of its images replaced by a real training image of
the same class (one-hot labels), so that the very same recipe (lrs, steps, rehearsal, optimiser) trains
on the same number of images per class and task. Two ways of choosing them, the dataset-distillation
literature's baselines:

- ``random``: a seeded random draw per class (a fresh draw per verification seed);
- ``herding``: per class, greedily the image that keeps the running mean of those chosen closest to the
  class's mean in pixel space (Welling 2009; iCaRL's exemplar selection), the same for every seed.
"""

from __future__ import annotations

import copy
import json
import weakref

import torch

from synthgen.core.seeding import generator
from synthgen.data.sources import SourceData, normalise
from synthgen.format.artifact import Artifact

SELECTIONS = ("random", "herding")


def herding(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of ``k`` rows of ``x`` [n, ...] chosen greedily so that their mean tracks the mean of all rows."""
    flat = x.flatten(1).double()
    target, total, chosen = flat.mean(0), torch.zeros_like(flat[0]), []
    free = torch.ones(len(flat), dtype=torch.bool)
    for i in range(1, min(k, len(flat)) + 1):
        gap = ((target - (total + flat) / i) ** 2).sum(1).masked_fill(~free, float("inf"))
        pick = int(gap.argmin())
        chosen.append(pick)
        free[pick] = False
        total += flat[pick]
    return torch.tensor(chosen, dtype=torch.int64)


_HERDED: dict[int, dict[tuple, torch.Tensor]] = {}  # id(source) -> its herded picks, dropped with the source


def _herded(source: SourceData, norm: dict, c: int, k: int) -> torch.Tensor:
    """Training indices of the ``k`` herded images of class ``c``: the same for every learner and seed, so chosen
    once per source, normalisation, class and count in a process."""
    if id(source) not in _HERDED:
        _HERDED[id(source)] = {}
        weakref.finalize(source, _HERDED.pop, id(source), None)
    memo = _HERDED[id(source)]
    key = (json.dumps(norm, sort_keys=True), c, k)
    if key not in memo:
        x, y = source.split("train")
        pool = torch.nonzero(y == c).flatten()
        memo[key] = pool[herding(normalise(x[pool], norm), k)]
    return memo[key]


def in_place_of(art: Artifact, source: SourceData, selection: str, seed: int) -> Artifact:
    """``art`` with every image replaced by a real training image of its class (``selection``: random or
    herding), labels one-hot, the metadata and recipe otherwise unchanged."""
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}")
    x, y = source.split("train")
    norm = art.metadata["source"]["normalisation"]
    images = torch.empty_like(art.images)
    g = generator(seed, "real-in-place", selection)
    for c in art.labels.unique().tolist():
        slots = torch.nonzero(art.labels == c).flatten()
        if selection == "random":
            pool = torch.nonzero(y == c).flatten()
            pick = pool[torch.randperm(len(pool), generator=g)[: len(slots)]]
        else:
            pick = _herded(source, norm, c, len(slots))
        images[slots] = normalise(x[pick], norm)
    meta = copy.deepcopy(art.metadata)
    meta["recipe"]["targets"] = "labels"
    return Artifact(images, art.labels.clone(), art.task_ids.clone(), meta, soft_labels=None)
