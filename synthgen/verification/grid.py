"""The verifier: retrain fresh learners in sequence on an artifact, next to what a user would do instead.

For every (architecture, method, seed) in the grid a fresh learner is trained in sequence and
scored on the REAL test split of every task after every task (synthgen.verification.runs). Methods:

- the synthetic data following its recipe, and optionally its stress scenarios;
- what a user holding N real images would do instead (N the artifact's image count): N real images chosen
  at random or by herding and trained by the artifact's own recipe (synthgen.verification.real_sets), and
  GDumb-N; these are judged. Replay-N and Replay-5N (synthgen.verification.peers) learn from the whole
  real stream: references. The Adam lr of GDumb and Replay is picked per learner from a small grid on the
  validation split (recorded); each tuning run is scored on the test split too, so the run at the chosen
  setting is also the first seed's test cell;
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
    settings,
    twin_on_test,
)
from synthgen.verification.metrics import average_accuracy
from synthgen.verification.runs import fresh


def wanted(method: Method, cfg: VerifyConfig, art: Artifact) -> bool:
    """Does ``cfg`` ask for ``method`` (stress scenarios, peers, the joint bound and the memory-free strategies can
    be off; the memory-free strategies by default run only for data made without rehearsal)?"""
    memory_free = cfg.memory_free if cfg.memory_free is not None else not art.recipe.get("rehearsal", False)
    return {
        Kind.SYNTHETIC: True,
        Kind.STRESS: cfg.stress,
        Kind.REPLAY: cfg.peers and cfg.replay,
        Kind.GDUMB: cfg.peers,
        Kind.REAL_IN_PLACE: cfg.peers,
        Kind.JOINT: cfg.joint,
        Kind.MEMORY_FREE: memory_free,
    }[method.kind]


Choice = tuple[float, float | None]  # a tuned method's (lr, second setting)
Tried = dict[tuple[str, str], dict[Choice, float]]  # (arch, method) -> validation accuracy of each (lr, setting)


def tuned_methods(art: Artifact, cfg: VerifyConfig) -> list[Method]:
    """The methods whose lr (and second setting) the verifier chooses by their own runs on the validation split."""
    return [m for m in method_order(len(art.labels)) if m.tuned and not m.follows and wanted(m, cfg, art)]


def plan_lr_grid(art: Artifact, cfg: VerifyConfig) -> list[Job]:
    """Tuning, phase 1: each tuned method (GDumb, Replay, EWC, SI, LwF, the joint bound) of each learner with
    every lr of the grid at its first setting, first seed, scored on the validation split (the joint bound on all
    tasks at once). A grid of one lr has nothing to choose: no jobs."""
    if len(cfg.peer_lrs) == 1:
        return []
    return [
        Job(a, m, cfg.seeds[0], lr, settings(m, cfg)[0] if m.setting else None, "val")
        for a in arch_groups(art, cfg)
        for m in tuned_methods(art, cfg)
        for lr in cfg.peer_lrs
    ]


def plan_settings(art: Artifact, cfg: VerifyConfig, tried: Tried) -> list[Job]:
    """Tuning, phase 2: each method with a second setting (Replay's and GDumb's epochs, the strength of EWC, SI
    and LwF) at its chosen lr with each value not yet tried."""
    jobs = []
    for a in arch_groups(art, cfg):
        for m in (m for m in tuned_methods(art, cfg) if len(settings(m, cfg)) > 1):
            done = tried.get((a, m.name), {})
            lr = _chosen_lr(done, cfg)
            jobs += [Job(a, m, cfg.seeds[0], lr, v, "val") for v in settings(m, cfg) if (lr, v) not in done]
    return jobs


def plan(art: Artifact, cfg: VerifyConfig, chosen: dict[tuple[str, str], Choice] | None = None) -> list[Job]:
    """The grid scored on the test split, each tuned method at its chosen (lr, setting) (a method that ``follows``
    another at that one's); the references and the memory-free strategies on the first ``cfg.reference_seeds``
    seeds only."""
    jobs = []
    for a in arch_groups(art, cfg):
        for m in (m for m in method_order(len(art.labels)) if wanted(m, cfg, art)):
            lr, setting = None, None
            if m.tuned:
                first = (cfg.peer_lrs[0], settings(m, cfg)[0] if m.setting else None)
                lr, setting = (chosen or {}).get((a, m.follows or m.name), first)
            jobs += [Job(a, m, s, lr, setting) for s in seeds_for(m, cfg)]
    return jobs


def _score(c: dict) -> float:
    return c["acc"] if "acc" in c else average_accuracy(c["R"])


def _chosen_lr(scores: dict[Choice, float], cfg: VerifyConfig) -> float:
    """The best-scoring lr of phase 1 (on a tie the smaller); the grid's first without a choice to make."""
    return min(scores, key=lambda k: (-scores[k], k[0]))[0] if scores else cfg.peer_lrs[0]


def choose(tried: Tried, cfg: VerifyConfig) -> dict[tuple[str, str], Choice]:
    """Each tuned method's (lr, setting): the best lr of phase 1, then the best setting at that lr (on a tie the
    smaller: fewer epochs, a weaker regulariser)."""
    chosen = {}
    for (a, name), scores in tried.items():
        lr = _chosen_lr(scores, cfg)
        at_lr = {e: acc for (r, e), acc in scores.items() if r == lr}
        chosen[a, name] = (lr, min(at_lr, key=lambda e: (-at_lr[e], e or 0)))
    return chosen


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
    ready: dict[Job, dict] | None = None,
) -> tuple[list[dict], list[int], list[float]]:
    """Run ``jobs`` (those in ``ready`` are already done) and return their cells in plan order, how many each
    process ran, and each cell's seconds (reading a cached or ready cell is near 0). Under torchrun each
    rank takes the next unclaimed job until none is left (a shared counter), so the ranks finish together
    however unequal the jobs' costs; every cell is its own seeded computation, whoever runs it."""
    queue = f"synthgen-verify-{next(_ROUNDS)}"
    done: dict[int, tuple[dict, float]] = {}
    i = dist.claim(queue) if dist.is_active() else 0
    while i < len(jobs):
        t0 = time.perf_counter()
        out = (ready or {}).get(jobs[i]) or cell(jobs[i], art, source, cfg, cache)
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
    """Tuning (lr, then epochs or strength, on the validation split), then the grid on the test split; returns
    (jobs, cells, the tuning record, how the jobs were spread: processes, jobs per process and, with a ``cache``,
    the cells it reused and computed)."""
    if cache is not None:
        cache.bind(source, art.tasks, art.metadata["scenario"], art.metadata["source"]["normalisation"])
    tried: Tried = {}
    ready: dict[Job, dict] = {}  # test cells that tuning runs yielded (the first seed at each setting tried)

    def tune(jobs: list[Job], offset: int) -> tuple[list[int], list[float]]:
        cells, ran, secs = _spread(jobs, art, source, cfg, cache, on_job, offset, total)
        for job, c in zip(jobs, cells):
            tried.setdefault((job.arch, job.method.name), {})[job.lr, job.setting] = _score(c)
            twin = twin_on_test(job)
            if twin is not None and "test" in c:
                ready[twin] = c["test"]
        return ran, secs

    lr_jobs = plan_lr_grid(art, cfg)
    grids = [len(settings(m, cfg)) for m in tuned_methods(art, cfg)]
    n_settings = sum(n - bool(lr_jobs) for n in grids if n > 1)
    total = len(lr_jobs) + n_settings * len(arch_groups(art, cfg)) + len(plan(art, cfg))
    ran, lr_s = tune(lr_jobs, 0)
    setting_jobs = plan_settings(art, cfg, tried)
    ran2, setting_s = tune(setting_jobs, len(lr_jobs))
    chosen = choose(tried, cfg)
    record: dict[str, dict[str, dict]] = {a: {} for a, _ in tried}
    for (a, name), scores in tried.items():
        lr, setting = chosen[a, name]
        knob = next(m.setting for m in tuned_methods(art, cfg) if m.name == name)
        val = {f"lr={k[0]:g}" + (f" {knob}={k[1]:g}" if knob else ""): acc for k, acc in scores.items()}
        record[a][name] = {"val_acc": val, "lr": lr} | ({knob: setting} if knob else {})
    jobs = plan(art, cfg, chosen)
    done = len(lr_jobs) + len(setting_jobs)
    cells, ran3, cell_s = _spread(jobs, art, source, cfg, cache, on_job, done, total, ready)
    seconds = {"tuning (validation)": sum(lr_s) + sum(setting_s)}  # where the time went, summed over the processes
    for job, s in zip(jobs, cell_s):
        seconds[job.method.name] = seconds.get(job.method.name, 0.0) + s
    by_learner: dict[str, float] = {}
    for job, s in zip([*lr_jobs, *setting_jobs, *jobs], [*lr_s, *setting_s, *cell_s]):
        by_learner[job.arch] = by_learner.get(job.arch, 0.0) + s
    spread = {
        "processes": dist.world(),
        "jobs_per_process": [a + b + c for a, b, c in zip(ran, ran2, ran3)],
        "schedule": "each process takes the next unclaimed job",
        "seconds_by_method": {k: round(v, 1) for k, v in seconds.items()},
        "seconds_by_learner": {k: round(v, 1) for k, v in by_learner.items()},
    }
    if cache is not None:
        counts = dist.gather((cache.reused, cache.computed))
        spread["cache"] = {"reused_cells": sum(c[0] for c in counts), "computed_cells": sum(c[1] for c in counts)}
    return jobs, cells, record, spread
