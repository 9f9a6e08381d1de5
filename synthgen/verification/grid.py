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
from collections.abc import Callable
from dataclasses import asdict, replace

from synthgen.core import distributed as dist
from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.cache import CellCache
from synthgen.verification.cells import joined, run_job
from synthgen.verification.config import VerifyConfig
from synthgen.verification.lineup import arch_groups
from synthgen.verification.methods import (
    JOINT,
    Job,
    Kind,
    Method,
    Setting,
    job_params,
    method_order,
    seeds_for,
    setting_fields,
    settings,
    twin_on_test,
)
from synthgen.verification.metrics import average_accuracy
from synthgen.verification.runs import fresh
from synthgen.verification.schedule import Board, Choice, Slot, spread


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


Tried = dict[tuple[str, str], dict[Choice, float]]  # (arch, method) -> validation accuracy of each (lr, setting)


def tuned_methods(art: Artifact, cfg: VerifyConfig) -> list[Method]:
    """The methods whose lr and second setting the verifier chooses on the validation split (a method that
    ``follows`` another takes that one's lr and chooses its own setting)."""
    return [m for m in method_order(len(art.labels)) if m.tuned and wanted(m, cfg, art)]


def lr_trials(m: Method, cfg: VerifyConfig) -> list[Choice]:
    """Tuning, phase 1: every lr of the grid at the method's first setting (none for a grid of one lr, or for a
    method that takes another's lr)."""
    first = _first_setting(m, cfg)
    return [(lr, first) for lr in cfg.peer_lrs] if len(cfg.peer_lrs) > 1 and not m.follows else []


def setting_trials(m: Method, cfg: VerifyConfig, lr: float) -> list[Choice]:
    """Tuning, phase 2: at the lr chosen in phase 1, each value of the second setting that phase 1 did not try."""
    values = settings(m, cfg) if m.setting else ()
    if len(values) < 2:
        return []
    return [(lr, v) for v in (values[1:] if lr_trials(m, cfg) else values)]


def plan_lr_grid(art: Artifact, cfg: VerifyConfig) -> list[Job]:
    """Tuning, phase 1: each tuned method (GDumb, Replay, EWC, SI, LwF, the joint bound) of each learner with
    every lr of the grid at its first setting, first seed, scored on the validation split (the joint bound on all
    tasks at once). A grid of one lr has nothing to choose: no jobs."""
    return [
        Job(a, m, cfg.seeds[0], lr, setting, "val")
        for a in arch_groups(art, cfg)
        for m in tuned_methods(art, cfg)
        for lr, setting in lr_trials(m, cfg)
    ]


def plan(art: Artifact, cfg: VerifyConfig, chosen: dict[tuple[str, str], Choice] | None = None) -> list[Job]:
    """The grid scored on the test split, each tuned method at its chosen (lr, setting) (a method that ``follows``
    another at that one's); Replay and the memory-free strategies on the first ``cfg.reference_seeds`` seeds only,
    the joint bound on the first ``cfg.joint_seeds``."""
    jobs = []
    for a in arch_groups(art, cfg):
        for m in (m for m in method_order(len(art.labels)) if wanted(m, cfg, art)):
            lr, setting = None, None
            if m.tuned:
                leader = (chosen or {}).get((a, m.follows))  # nothing to choose: the lr of the method it follows
                untried = (leader[0] if leader else cfg.peer_lrs[0], _first_setting(m, cfg))
                lr, setting = (chosen or {}).get((a, m.name)) or untried
            jobs += [Job(a, m, s, lr, setting) for s in seeds_for(m, cfg)]
    return jobs


def _first_setting(m: Method, cfg: VerifyConfig) -> Setting | None:
    """The first value of ``m``'s second setting (None for a method without one)."""
    return settings(m, cfg)[0] if m.setting else None


def yielded(job: Job, cfg: VerifyConfig) -> bool:
    """Is this test-split ``job`` the twin of a tuning run (the first seed of a method tuned by its own runs)? The
    joint bound's is not: its tuning run yields only the last of its prefixes."""
    m = job.method
    tuning = lr_trials(m, cfg) or setting_trials(m, cfg, cfg.peer_lrs[0])
    twin = twin_on_test(replace(job, split="val"))
    return m.tuned and m is not JOINT and bool(tuning) and job.seed == cfg.seeds[0] and twin is not None


def score(c: dict) -> float:
    """What tuning compares: a tuning run's final validation accuracy (or the average accuracy of its matrix)."""
    return c["acc"] if "acc" in c else average_accuracy(c["R"])


def _chosen_lr(scores: dict[Choice, float], cfg: VerifyConfig) -> float:
    """The best-scoring lr of phase 1 (on a tie the smaller); the grid's first without a choice to make."""
    return min(scores, key=lambda k: (-scores[k], k[0]))[0] if scores else cfg.peer_lrs[0]


def _best(scores: dict[Choice, float], cfg: VerifyConfig) -> Choice:
    """The best lr, then the best setting at that lr (on a tie the smaller: fewer epochs, a weaker regulariser)."""
    lr = _chosen_lr(scores, cfg)
    at_lr = {e: acc for (r, e), acc in scores.items() if r == lr}
    return lr, min(at_lr, key=lambda e: (-at_lr[e], e or 0))


def choose(tried: Tried, cfg: VerifyConfig) -> dict[tuple[str, str], Choice]:
    """Each tuned method's (lr, setting) from its tuning runs' validation scores."""
    return {key: _best(scores, cfg) for key, scores in tried.items()}


def decide(board: Board, arch: str, m: Method, cfg: VerifyConfig) -> Choice:
    """``m``'s (lr, setting) on ``arch`` as :func:`choose` makes it, from the scores on the board (waiting for
    those of its tuning runs still going on other processes); without tuning runs, its lr (or the lr of the method
    it follows) and its first setting."""
    lr = _lr_of(board, arch, m, cfg)
    scores = board.read(arch, m.name, lr_trials(m, cfg)) | board.read(arch, m.name, setting_trials(m, cfg, lr))
    return _best(scores, cfg) if scores else (lr, _first_setting(m, cfg))


def _lr_of(board: Board, arch: str, m: Method, cfg: VerifyConfig) -> float:
    """The lr ``m`` trains at on ``arch``: the best of its own lr runs, or of those of the method it follows."""
    own = replace(m, follows="")  # a method follows one of its own kind: the same lr runs
    return _chosen_lr(board.read(arch, m.follows or m.name, lr_trials(own, cfg)), cfg)


def cell(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig, cache: CellCache | None = None) -> dict:
    """:func:`run_job`, through ``cache`` for the cells that do not depend on the artifact's images."""
    if cache is None or job.method.uses_images:
        return run_job(job, art, source, cfg)
    model = fresh(job.arch, source.image_shape, source.num_classes, job.seed)
    inputs = cache.inputs(model, job.key(), asdict(job_params(job, art, cfg)))
    found = cache.get(inputs)
    if found is not None:
        return found
    out = run_job(job, art, source, cfg)
    cache.put(inputs, out)
    return out


def bind(cache: CellCache, art: Artifact, source: SourceData) -> None:
    """Key ``cache`` to what every cell of ``art``'s verification shares (synthgen.verification.cache)."""
    cache.bind(source, art.tasks, art.metadata["scenario"], art.metadata["source"]["normalisation"])


_ROUNDS = itertools.count()  # every rank runs the grid in the same order: the same board names everywhere


def slots(art: Artifact, cfg: VerifyConfig) -> list[Slot]:
    """Every job to run, in the order processes take them: the tuning runs of phase 1, those of phase 2 (each at
    the lr phase 1 chose), the tuned methods' test cells that tuning did not yield (at the chosen lr and setting),
    then the jobs that need no choice (short: they fill the end)."""
    tuned = tuned_methods(art, cfg)
    out: list[Slot] = [_given(j) for j in plan_lr_grid(art, cfg)]
    for a in arch_groups(art, cfg):
        for m in tuned:
            for k in range(len(setting_trials(m, cfg, cfg.peer_lrs[0]))):
                out.append(lambda b, a=a, m=m, k=k: _setting_job(b, a, m, k, cfg))
    test = [j for j in plan(art, cfg) if not yielded(j, cfg)]
    out += [lambda b, j=j: _decided(b, j, cfg) for j in test if j.method.tuned]
    return out + [_given(j) for j in test if not j.method.tuned]


def _label(m: Method, choice: Choice) -> str:
    """A tuning run as the certificate names it: "lr=0.001 epochs=200 shift=2"."""
    fields = setting_fields(m, choice[1])
    return " ".join([f"lr={choice[0]:g}"] + [f"{k}={v:g}" for k, v in fields.items()])


def _given(job: Job) -> Slot:
    return lambda board: job


def _decided(board: Board, job: Job, cfg: VerifyConfig) -> Job:
    lr, setting = decide(board, job.arch, job.method, cfg)
    return replace(job, lr=lr, setting=setting)


def _setting_job(board: Board, arch: str, m: Method, k: int, cfg: VerifyConfig) -> Job:
    lr, setting = setting_trials(m, cfg, _lr_of(board, arch, m, cfg))[k]
    return Job(arch, m, cfg.seeds[0], lr, setting, "val")


def run_grid(
    art: Artifact,
    cfg: VerifyConfig,
    source: SourceData,
    on_job: Callable[[int, int, Job], None] | None = None,
    cache: CellCache | None = None,
) -> tuple[list[Job], list[dict], dict, dict]:
    """Tuning (lr, then epochs or strength, on the validation split) and the grid on the test split; returns
    (jobs, cells, the tuning record, how the jobs were spread: processes, jobs per process, seconds per method and
    per learner and, with a ``cache``, the cells it reused and computed)."""
    if cache is not None:
        bind(cache, art, source)
    ran, counts = spread(
        f"synthgen-verify-{next(_ROUNDS)}", slots(art, cfg), lambda j: cell(j, art, source, cfg, cache), score, on_job
    )
    tried: Tried = {}
    found: dict[Job, tuple[dict, float]] = {}  # test job -> its cell and seconds (0 for a tuning run's twin)
    twins: dict[Job, dict] = {}  # test job -> the test cell its tuning run yielded
    for job, out, secs in ran.values():
        if job.split == "val":
            tried.setdefault((job.arch, job.method.name), {})[job.lr, job.setting] = score(out)
            if "test" in out:
                twins[replace(job, split="test")] = out["test"]
        else:
            found[job] = (out, secs)
    for job, twin in twins.items():  # the joint bound's test cell ran its earlier prefixes: join them
        found[job] = (joined(found[job][0], twin), found[job][1]) if job in found else (twin, 0.0)
    chosen = choose(tried, cfg)
    jobs = plan(art, cfg, chosen)
    record: dict[str, dict[str, dict]] = {a: {} for a, _ in tried}
    for (a, name), scores in tried.items():
        lr, setting = chosen[a, name]
        m = next(m for m in tuned_methods(art, cfg) if m.name == name)
        val = {_label(m, k): acc for k, acc in scores.items()}
        record[a][name] = {"val_acc": val, "lr": lr} | setting_fields(m, setting)
    tuning_s = sum(secs for job, _, secs in ran.values() if job.split == "val")
    seconds = {"tuning (validation)": tuning_s}  # where the time went, summed over the processes
    for job in jobs:
        seconds[job.method.name] = seconds.get(job.method.name, 0.0) + found[job][1]
    by_learner: dict[str, float] = {}
    for job, _, secs in ran.values():
        by_learner[job.arch] = by_learner.get(job.arch, 0.0) + secs
    spread_info = {
        "processes": dist.world(),
        "jobs_per_process": counts,
        "schedule": "each process takes the next job; a job chosen by tuning waits only for its own tuning runs",
        "seconds_by_method": {k: round(v, 1) for k, v in seconds.items()},
        "seconds_by_learner": {k: round(v, 1) for k, v in by_learner.items()},
    }
    if cache is not None:
        reuse = dist.gather((cache.reused, cache.computed))
        spread_info["cache"] = {"reused_cells": sum(c[0] for c in reuse), "computed_cells": sum(c[1] for c in reuse)}
    return jobs, [found[j][0] for j in jobs], record, spread_info
