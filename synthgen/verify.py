"""The verifier: retrain fresh learners in sequence on an artifact, next to what a user would do instead.

For every (architecture, method, seed) in the grid a fresh learner is trained in sequence and
scored on the REAL test split of every task after every task (synthgen.evaluation). Methods:

- the synthetic data following its recipe, and optionally its stress scenarios;
- its same-memory real peers (synthgen.peers): Replay-N and Replay-5N, GDumb-N, with N the
  artifact's image count, their Adam lr picked per architecture from a small grid on the
  validation split (the choice is recorded);
- joint training on the real data of the tasks seen so far (the upper bound at every step);
- informative real-data baselines without memory (sequential, a random coreset).

The verdict is relative: on every architecture the data must beat Replay-N and GDumb-N by a
margin, keep its max forgetting within a bound and reach a fraction of joint training.
Architectures come in groups: those the data was made with ("generation"), zoo families not
used in generation ("heldout") and the user's own ``module:callable`` ("user"). The grid is a
flat list of jobs so that it can be spread over processes (each takes the next unclaimed job).
"""
from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Callable

from . import distributed as dist
from .artifact import Artifact
from .config import SourceConfig, VerifyConfig
from .evaluation import fresh
from .learners import ZOO, build_learner, check_archs, family_of, has_batchnorm, is_import_spec, num_parameters
from .metrics import (average_accuracy, average_incremental_accuracy, backward_transfer, max_forgetting, mean_std,
                      min_seen_accuracy, paired_difference, seen_accuracy, step_ratios)
from .sources import SourceData, SourceError, load_source
from .verify_cache import CellCache
from .verify_jobs import (BASELINES, JOINT, STRESS, SYNTHETIC, Job, job_params, judged_peers, method_order,
                          peer_methods, run_job, seeds_for, uses_images)

# default held-out zoo names, in order of preference; families used in generation are skipped
HELDOUT_PREFERENCE = ("cnn_bn", "cnn", "convnet3_s", "lenet", "resnet8", "mlp256", "convnet")
MIN_HELDOUT = 3


def source_for(art: Artifact, data_dir: str | None = None) -> SourceData:
    """Load the artifact's declared source with its split; refuse a split that differs."""
    cfg = dict(art.metadata["source"].get("config") or {"name": art.metadata["source"]["name"]})
    cfg["data_dir"] = data_dir
    source = load_source(SourceConfig.from_dict(cfg))
    want = art.metadata["source"].get("split", {}).get("test_index_sha256")
    got = source.split_record()["test_index_sha256"]
    if want and want != got:
        raise SourceError(f"source '{source.name}' gives a different test split ({got}) than the artifact "
                          f"was made with ({want}); cannot verify on the right data")
    return source


def default_heldout(generation: list[str]) -> list[str]:
    """At least MIN_HELDOUT zoo learners of distinct families not used in generation, one with
    BatchNorm and one with max pooling among them (HELDOUT_PREFERENCE order)."""
    used = {family_of(a) for a in generation}
    picked: list[str] = []
    for name in HELDOUT_PREFERENCE:
        fam = ZOO[name].family
        if fam not in used and fam not in {ZOO[p].family for p in picked}:
            picked.append(name)
    return picked[:MIN_HELDOUT]


def feature_archs(art: Artifact) -> list[str]:
    """The zoo network whose random bodies shaped the images (``feature_weight`` > 0), if any: its family
    saw the data being made, so it is not held out."""
    gen = art.metadata.get("generation")
    cfg = gen.get("config") if isinstance(gen, dict) else None
    if not isinstance(cfg, dict):
        return []
    weight, arch = cfg.get("feature_weight", 0), cfg.get("feature_arch")
    return [arch] if isinstance(weight, (int, float)) and weight > 0 and isinstance(arch, str) and arch in ZOO else []


def arch_groups(art: Artifact, cfg: VerifyConfig) -> dict[str, str]:
    """arch -> 'generation' | 'heldout' | 'user'."""
    gen = list(cfg.archs or art.metadata.get("generation", {}).get("archs") or ["mlp"])
    held = list(cfg.heldout) if cfg.heldout is not None else \
        default_heldout([a for a in gen if a in ZOO] + feature_archs(art))
    check_archs(gen + held + list(cfg.models))
    groups = {a: "generation" for a in gen}
    groups.update({a: "heldout" for a in held if a not in groups})
    groups.update({m: "user" for m in cfg.models if m not in groups})
    return groups


def describe(arch: str, group: str, art: Artifact) -> dict:
    """What the certificate records of a learner: group, family, parameter count, BatchNorm."""
    model = build_learner(arch, tuple(art.images.shape[1:]), art.num_classes, 0)
    return {"group": group, "family": family_of(arch), "params": num_parameters(model),
            "batchnorm": has_batchnorm(model), "about": "user model" if is_import_spec(arch) else ZOO[arch].about}


def plan_lr_grid(art: Artifact, cfg: VerifyConfig) -> list[Job]:
    """Phase 1: each peer and the joint bound of each arch with every lr of the grid, first seed, scored on the
    validation split (the joint bound on all tasks at once). A grid of one lr has nothing to choose: no jobs."""
    if len(cfg.peer_lrs) == 1:
        return []
    methods = [*(peer_methods(len(art.labels)) if cfg.peers else []), *([JOINT] if cfg.joint else [])]
    return [Job(a, m, cfg.seeds[0], lr, "val") for a in arch_groups(art, cfg) for m in methods for lr in cfg.peer_lrs]


def plan(art: Artifact, cfg: VerifyConfig, peer_lrs: dict[tuple[str, str], float] | None = None) -> list[Job]:
    """Phase 2, the judged grid (peers at their chosen lr); the references (joint bound, baselines) on the first
    ``cfg.reference_seeds`` seeds only."""
    n = len(art.labels)
    jobs = []
    for a in arch_groups(art, cfg):
        for m in method_order(n):
            if m in STRESS and not cfg.stress or m in BASELINES and not cfg.baselines:
                continue
            if m in peer_methods(n) and not cfg.peers or m == JOINT and not cfg.joint:
                continue
            lr = (peer_lrs or {}).get((a, m), cfg.peer_lrs[0]) if m in peer_methods(n) or m == JOINT else None
            jobs += [Job(a, m, s, lr) for s in seeds_for(m, cfg)]
    return jobs


def summarise(cells: list[dict]) -> dict:
    """Mean/std over seeds of a method's metrics, plus the raw matrices."""
    if "acc" in cells[0]:
        m, s = mean_std([c["acc"] for c in cells])
        out = {"acc_mean": m, "acc_std": s, "acc": [c["acc"] for c in cells],
               "per_task_final": [statistics.mean(v) for v in zip(*(c["per_task"] for c in cells))]}
        if cells[0]["seen_curve"]:
            out["seen_curve"] = [statistics.mean(v) for v in zip(*(c["seen_curve"] for c in cells))]
        return out
    Rs, Rts = [c["R"] for c in cells], [c["R_task"] for c in cells]
    out = {}
    for key, fn, matrices in (("acc", average_accuracy, Rs), ("bwt", backward_transfer, Rs),
                              ("max_forgetting", max_forgetting, Rs), ("avg_incremental_acc", average_incremental_accuracy, Rs),
                              ("min_seen_acc", min_seen_accuracy, Rs), ("task_incremental_acc", average_accuracy, Rts)):
        out[f"{key}_mean"], out[f"{key}_std"] = mean_std([fn(R) for R in matrices])
    T = len(Rs[0])
    out["per_task_final"] = [statistics.mean(R[T - 1][j] for R in Rs) for j in range(T)]
    out["seen_curve"] = [statistics.mean(v) for v in zip(*(seen_accuracy(R) for R in Rs))]
    out["mean_matrix"] = [[statistics.mean(R[i][j] for R in Rs) for j in range(T)] for i in range(T)]
    out["matrices"], out["task_matrices"] = Rs, Rts
    return out


def lead(data: dict, peer: dict) -> dict:
    """The data's final-ACC lead over a peer, paired by seed (the same initial weights): mean, standard error, seeds."""
    peer_final = dict(zip(peer["seeds"], map(average_accuracy, peer["matrices"])))
    pairs = [(seed, average_accuracy(R)) for seed, R in zip(data["seeds"], data["matrices"]) if seed in peer_final]
    mean, se = paired_difference([acc for _, acc in pairs], [peer_final[seed] for seed, _ in pairs])
    return {"mean": mean, "se": se, "seeds": [seed for seed, _ in pairs]}


def gather(jobs: list[Job], cells: list[dict], info: dict[str, dict], peers: tuple[str, ...]) -> dict:
    """Group cells by arch and method, summarise each, add each curve's ratio to the joint bound and the synthetic
    data's paired lead over each of ``peers``."""
    results: dict[str, dict] = {a: {**d, "methods": {}} for a, d in info.items()}
    by_key: dict[tuple[str, str], list[tuple[Job, dict]]] = {}
    for job, cell in zip(jobs, cells):
        by_key.setdefault((job.arch, job.method), []).append((job, cell))
    for (arch, method), pairs in by_key.items():
        s = summarise([c for _, c in pairs])
        s["seeds"] = [job.seed for job, _ in pairs]
        if pairs[0][0].lr is not None:
            s["lr"] = pairs[0][0].lr
        results[arch]["methods"][method] = s
    for r in results.values():
        bound = r["methods"].get(JOINT, {}).get("seen_curve")
        for s in r["methods"].values():
            if bound and "mean_matrix" in s:
                s["joint_step_ratio"] = step_ratios(s["seen_curve"], bound)
        data = r["methods"].get(SYNTHETIC)
        if data is not None:
            data["lead"] = {p: lead(data, r["methods"][p]) for p in peers if p in r["methods"]}
    return results


def judge(results: dict, cfg: VerifyConfig, n: int) -> tuple[bool, list[str]]:
    """The relative verdict, and one reason line per check (figure, peer or bound, margin)."""
    ok, reasons = True, []
    peers = judged_peers(n)
    for arch, r in results.items():
        s, where = r["methods"][SYNTHETIC], f"{arch} ({r['group']})"

        def check(good: bool, text: str) -> None:
            nonlocal ok
            ok &= good
            reasons.append(f"{where}: {text.replace('{verdict}', 'meets' if good else 'FAILS')}")

        acc = s["acc_mean"]
        for peer in peers:
            p = r["methods"].get(peer)
            if p is None:
                check(False, f"final ACC {acc:.3f} {{verdict}}: peer {peer} was not run")
                continue
            gap, paired = acc - p["acc_mean"], s["lead"][peer]
            check(gap >= cfg.peer_margin, f"final ACC {acc:.3f} vs {peer} {p['acc_mean']:.3f}: {gap:+.3f} (s.e. "
                                          f"{paired['se']:.3f}, {len(paired['seeds'])} paired seeds) "
                                          f"{{verdict}} margin >= {cfg.peer_margin:+.3f}")
        forg = s["max_forgetting_mean"]
        check(forg <= cfg.max_forgetting, f"max forgetting {forg:.3f} {{verdict}} <= {cfg.max_forgetting:.2f}")
        joint = r["methods"].get(JOINT)
        if joint is None:
            check(False, f"final ACC {acc:.3f} {{verdict}}: joint bound was not run")
        else:
            frac = acc / joint["acc_mean"]
            check(frac >= cfg.min_joint_fraction, f"final ACC {acc:.3f} = {frac:.2f} x joint {joint['acc_mean']:.3f} "
                                                  f"{{verdict}} >= {cfg.min_joint_fraction:.2f} x joint")
    return ok, reasons


def cell(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig, cache: CellCache | None = None) -> dict:
    """:func:`run_job`, through ``cache`` for the cells that do not depend on the artifact's images."""
    if cache is None or uses_images(job.method):
        return run_job(job, art, source, cfg)
    model = fresh(job.arch, source.image_shape, source.num_classes, job.seed)
    inputs = cache.inputs(model, dataclasses.asdict(job), job_params(job, art, cfg))
    found = cache.get(inputs)
    if found is not None:
        return found
    out = run_job(job, art, source, cfg)
    cache.put(inputs, out)
    return out


_ROUNDS = itertools.count()  # every rank calls _spread in the same order: the same queue names everywhere


def _spread(jobs: list[Job], art: Artifact, source: SourceData, cfg: VerifyConfig, cache: CellCache | None,
            on_job: Callable[[int, int, Job], None] | None, offset: int, total: int) -> tuple[list[dict], list[int]]:
    """Run ``jobs`` and return their cells in plan order, and how many each process ran. Under torchrun each
    rank takes the next unclaimed job until none is left (a shared counter), so the ranks finish together
    however unequal the jobs' costs; every cell is its own seeded computation, whoever runs it."""
    queue = f"synthgen-verify-{next(_ROUNDS)}"
    done: dict[int, dict] = {}
    i = dist.claim(queue) if dist.is_active() else 0
    while i < len(jobs):
        done[i] = cell(jobs[i], art, source, cfg, cache)
        if on_job:
            on_job(offset + i + 1, total, jobs[i])  # i: how far the whole group has claimed
        i = dist.claim(queue) if dist.is_active() else i + 1
    counts = []
    for part in dist.gather(done):
        done.update(part)
        counts.append(len(part))
    return [done[i] for i in range(len(jobs))], counts


def run_grid(art: Artifact, cfg: VerifyConfig, source: SourceData, on_job: Callable[[int, int, Job], None] | None = None,
             cache: CellCache | None = None) -> tuple[list[Job], list[dict], dict, dict]:
    """Phase 1 (the lr grid), then the judged grid; returns (jobs, cells, lr grid record, how the jobs were
    spread: processes, jobs per process and, with a ``cache``, the cells it reused and computed)."""
    if cache is not None:
        cache.bind(source, art.tasks, art.metadata["scenario"], art.metadata["source"]["normalisation"])
    grid = plan_lr_grid(art, cfg)
    total = len(grid) + len(plan(art, cfg))
    scores, ran = _spread(grid, art, source, cfg, cache, on_job, 0, total)
    record: dict[str, dict[str, dict[str, float]]] = {}
    for job, c in zip(grid, scores):
        score = c["acc"] if "acc" in c else average_accuracy(c["R"])
        record.setdefault(job.arch, {}).setdefault(job.method, {})[f"{job.lr:g}"] = score
    chosen = {(a, m): float(max(lrs, key=lambda k: (lrs[k], -float(k)))) for a, ms in record.items()
              for m, lrs in ms.items()}
    jobs = plan(art, cfg, chosen)
    cells, ran2 = _spread(jobs, art, source, cfg, cache, on_job, len(grid), total)
    spread = {"processes": dist.world(), "jobs_per_process": [a + b for a, b in zip(ran, ran2)],
              "schedule": "each process takes the next unclaimed job"}
    if cache is not None:
        counts = dist.gather((cache.reused, cache.computed))
        spread["cache"] = {"reused_cells": sum(c[0] for c in counts), "computed_cells": sum(c[1] for c in counts)}
    return jobs, cells, record, spread
