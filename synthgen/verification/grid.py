"""The verifier: retrain fresh learners in sequence on an artifact, next to what a user would do instead.

For every (architecture, method, seed) in the grid a fresh learner is trained in sequence and
scored on the REAL test split of every task after every task (synthgen.verification.runs). Methods:

- the synthetic data following its recipe, and optionally its stress scenarios;
- what a user holding N real images would do instead (N the artifact's image count): N real images chosen
  at random or by herding and trained by the artifact's own recipe (synthgen.verification.real_sets), and
  GDumb-N; these are judged. Replay-N and Replay-5N (synthgen.verification.peers) learn from the whole
  real stream: references. The Adam lr of GDumb and Replay is picked per learner from a small grid on the
  validation split (recorded);
- joint training on the real data of the tasks seen so far (the upper bound at every step);
- informative real tasks in sequence without memory.

The verdict is relative: on every learner the data must beat each judged peer by a margin, keep its
max forgetting within a bound and reach a fraction of joint training.
Architectures come in groups: those the data was made with ("generation"), zoo families not
used in generation ("heldout") and the user's own ``module:callable`` ("user"). The grid is a
flat list of jobs so that it can be spread over processes (each takes the next unclaimed job).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from synthgen.core import distributed as dist
from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.cache import CellCache
from synthgen.verification.config import VerifyConfig
from synthgen.verification.lineup import arch_groups
from synthgen.verification.methods import (
    Job,
    Kind,
    Method,
    job_params,
    method_order,
    run_job,
    seeds_for,
)
from synthgen.verification.metrics import average_accuracy
from synthgen.verification.runs import fresh


def wanted(method: Method, cfg: VerifyConfig) -> bool:
    """Does ``cfg`` ask for ``method`` (stress scenarios, peers, the joint bound and the baselines can be off)?"""
    return {
        Kind.SYNTHETIC: True,
        Kind.STRESS: cfg.stress,
        Kind.REPLAY: cfg.peers,
        Kind.GDUMB: cfg.peers,
        Kind.REAL_IN_PLACE: cfg.peers,
        Kind.JOINT: cfg.joint,
        Kind.REAL_SEQUENCE: cfg.baselines,
    }[method.kind]


def plan_lr_grid(art: Artifact, cfg: VerifyConfig) -> list[Job]:
    """Phase 1: each tuned method (GDumb, Replay, the joint bound) of each learner with every lr of the grid,
    first seed, scored on the validation split (the joint bound on all tasks at once). A grid of one lr has
    nothing to choose: no jobs."""
    if len(cfg.peer_lrs) == 1:
        return []
    methods = [m for m in method_order(len(art.labels)) if m.tuned and wanted(m, cfg)]
    return [Job(a, m, cfg.seeds[0], lr, "val") for a in arch_groups(art, cfg) for m in methods for lr in cfg.peer_lrs]


def plan(art: Artifact, cfg: VerifyConfig, peer_lrs: dict[tuple[str, str], float] | None = None) -> list[Job]:
    """Phase 2, the judged grid (peers at their chosen lr); the references (joint bound, baselines) on the first
    ``cfg.reference_seeds`` seeds only."""
    jobs = []
    for a in arch_groups(art, cfg):
        for m in (m for m in method_order(len(art.labels)) if wanted(m, cfg)):
            lr = (peer_lrs or {}).get((a, m.name), cfg.peer_lrs[0]) if m.tuned else None
            jobs += [Job(a, m, s, lr) for s in seeds_for(m, cfg)]
    return jobs


def cell(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig, cache: CellCache | None = None) -> dict:
    """:func:`run_job`, through ``cache`` for the cells that do not depend on the artifact's images."""
    if cache is None or job.method.uses_images:
        return run_job(job, art, source, cfg)
    model = fresh(job.arch, source.image_shape, source.num_classes, job.seed)
    inputs = cache.inputs(model, job.key(), job_params(job, art, cfg))
    found = cache.get(inputs)
    if found is not None:
        return found
    out = run_job(job, art, source, cfg)
    cache.put(inputs, out)
    return out


_ROUNDS = itertools.count()  # every rank calls _spread in the same order: the same queue names everywhere


def _spread(
    jobs: list[Job],
    art: Artifact,
    source: SourceData,
    cfg: VerifyConfig,
    cache: CellCache | None,
    on_job: Callable[[int, int, Job], None] | None,
    offset: int,
    total: int,
) -> tuple[list[dict], list[int], list[float]]:
    """Run ``jobs`` and return their cells in plan order, how many each process ran, and each cell's seconds
    (reading a cached cell is near 0). Under torchrun each
    rank takes the next unclaimed job until none is left (a shared counter), so the ranks finish together
    however unequal the jobs' costs; every cell is its own seeded computation, whoever runs it."""
    queue = f"synthgen-verify-{next(_ROUNDS)}"
    done: dict[int, tuple[dict, float]] = {}
    i = dist.claim(queue) if dist.is_active() else 0
    while i < len(jobs):
        t0 = time.perf_counter()
        out = cell(jobs[i], art, source, cfg, cache)
        done[i] = (out, time.perf_counter() - t0)
        if on_job:
            on_job(offset + i + 1, total, jobs[i])  # i: how far the whole group has claimed
        i = dist.claim(queue) if dist.is_active() else i + 1
    counts = []
    for part in dist.gather(done):
        done.update(part)
        counts.append(len(part))
    return [done[i][0] for i in range(len(jobs))], counts, [done[i][1] for i in range(len(jobs))]


def run_grid(
    art: Artifact,
    cfg: VerifyConfig,
    source: SourceData,
    on_job: Callable[[int, int, Job], None] | None = None,
    cache: CellCache | None = None,
) -> tuple[list[Job], list[dict], dict, dict]:
    """Phase 1 (the lr grid), then the judged grid; returns (jobs, cells, lr grid record, how the jobs were
    spread: processes, jobs per process and, with a ``cache``, the cells it reused and computed)."""
    if cache is not None:
        cache.bind(source, art.tasks, art.metadata["scenario"], art.metadata["source"]["normalisation"])
    grid = plan_lr_grid(art, cfg)
    total = len(grid) + len(plan(art, cfg))
    scores, ran, grid_s = _spread(grid, art, source, cfg, cache, on_job, 0, total)
    record: dict[str, dict[str, dict[str, float]]] = {}
    for job, c in zip(grid, scores):
        score = c["acc"] if "acc" in c else average_accuracy(c["R"])
        record.setdefault(job.arch, {}).setdefault(job.method.name, {})[f"{job.lr:g}"] = score
    chosen = {
        (a, m): float(max(lrs, key=lambda k: (lrs[k], -float(k)))) for a, ms in record.items() for m, lrs in ms.items()
    }
    jobs = plan(art, cfg, chosen)
    cells, ran2, cell_s = _spread(jobs, art, source, cfg, cache, on_job, len(grid), total)
    seconds = {"lr grid (validation)": sum(grid_s)}  # where the time went, summed over the processes
    for job, s in zip(jobs, cell_s):
        seconds[job.method.name] = seconds.get(job.method.name, 0.0) + s
    spread = {
        "processes": dist.world(),
        "jobs_per_process": [a + b for a, b in zip(ran, ran2)],
        "schedule": "each process takes the next unclaimed job",
        "seconds_by_method": {k: round(v, 1) for k, v in seconds.items()},
    }
    if cache is not None:
        counts = dist.gather((cache.reused, cache.computed))
        spread["cache"] = {"reused_cells": sum(c[0] for c in counts), "computed_cells": sum(c[1] for c in counts)}
    return jobs, cells, record, spread
