"""The verifier: retrain fresh learners in sequence on an artifact and judge it.

For every (architecture, method, seed) in the grid, a fresh learner is trained in sequence and
evaluated on the REAL test split of every task after every task (synthgen.evaluation).
Methods: the synthetic data following its recipe; optionally the stress scenarios; and the
real-data baselines with the same learners and seeds (sequential with the recipe's steps and
with one epoch, a random real coreset of the synthetic set's size, joint training). The grid is
a flat list of jobs so that it can be spread over processes.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from . import distributed as dist
from .artifact import Artifact
from .config import HELDOUT_PREFERENCE, SourceConfig, VerifyConfig
from .evaluation import evaluate_artifact, joint_accuracy, real_sequence_matrix
from .learners import check_archs
from .metrics import average_accuracy, backward_transfer, max_forgetting, mean_std, seen_accuracy
from .sources import SourceData, SourceError, load_source

SYNTHETIC = "synthetic"
# stress scenario -> (lr scale, step scale, batch fraction of the task or None for the full batch)
STRESS = {
    "lr x0.5": (0.5, 1.0, None),
    "lr x2": (2.0, 1.0, None),
    "steps x2": (1.0, 2.0, None),
    "shuffled half batches": (1.0, 2.0, 0.5),
    "batch 1/4, steps x4": (1.0, 4.0, 0.25),
}
REAL_RECIPE_STEPS, REAL_EPOCH, CORESET, JOINT = "real sequence (recipe steps)", "real sequence (1 epoch)", "random real coreset", "joint (upper bound)"
BASELINES = (REAL_RECIPE_STEPS, REAL_EPOCH, CORESET, JOINT)
METHOD_ORDER = (SYNTHETIC, *STRESS, *BASELINES)  # the order of the grid, and of every table of its results


@dataclass(frozen=True)
class Job:
    arch: str
    method: str
    seed: int


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


def arch_groups(art: Artifact, cfg: VerifyConfig) -> dict[str, str]:
    """arch -> 'generation' | 'heldout'."""
    gen = list(cfg.archs or art.metadata.get("generation", {}).get("archs") or ["mlp"])
    held = list(cfg.heldout) if cfg.heldout is not None else [a for a in HELDOUT_PREFERENCE if a not in gen][:2]
    check_archs(gen + held)
    return {**{a: "generation" for a in gen}, **{a: "heldout" for a in held if a not in gen}}


def plan(art: Artifact, cfg: VerifyConfig) -> list[Job]:
    """The flat job grid."""
    methods = [SYNTHETIC] + (list(STRESS) if cfg.stress else []) + (list(BASELINES) if cfg.baselines else [])
    return [Job(a, m, s) for a in arch_groups(art, cfg) for m in methods for s in cfg.seeds]


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, or {'acc', 'per_task'} for joint training."""
    norm, tasks, steps = art.metadata["source"]["normalisation"], art.tasks, art.recipe["steps_per_task"]
    if job.method == SYNTHETIC:
        run = evaluate_artifact(art, source, job.arch, job.seed)
    elif job.method in STRESS:
        lr_scale, step_scale, frac = STRESS[job.method]
        batch = None if frac is None else max(1, int(min(art.recipe["task_sizes"]) * frac))
        run = evaluate_artifact(art, source, job.arch, job.seed, lr_scale, step_scale, batch)
    elif job.method == JOINT:
        joint = joint_accuracy(source, tasks, norm, job.arch, job.seed, cfg.baseline_lr, cfg.joint_epochs,
                               scenario=art.metadata["scenario"])
        return {"acc": joint.acc, "per_task": joint.per_task}
    else:
        scenario = art.metadata["scenario"]
        kw = dict(lr=cfg.baseline_lr, scenario=scenario)
        if job.method == REAL_RECIPE_STEPS:
            run = real_sequence_matrix(source, tasks, norm, job.arch, job.seed, steps=steps, **kw)
        elif job.method == REAL_EPOCH:
            run = real_sequence_matrix(source, tasks, norm, job.arch, job.seed, steps=None, **kw)
        else:  # coreset: the synthetic set's size, full batch, the recipe's steps
            per_class = max(1, min(art.recipe["task_sizes"]) // max(len(t) for t in tasks))
            run = real_sequence_matrix(source, tasks, norm, job.arch, job.seed, steps=steps,
                                       batch_size=max(art.recipe["task_sizes"]), per_class=per_class, **kw)
    return {"R": run.R, "R_task": run.R_task}


def summarise(cells: list[dict]) -> dict:
    """Mean/std over seeds of a method's metrics, plus the raw matrices."""
    if "acc" in cells[0]:
        accs = [c["acc"] for c in cells]
        m, s = mean_std(accs)
        return {"acc_mean": m, "acc_std": s, "acc": accs,
                "per_task_final": [statistics.mean(v) for v in zip(*(c["per_task"] for c in cells))]}
    Rs, Rts = [c["R"] for c in cells], [c["R_task"] for c in cells]
    out = {}
    for key, fn, matrices in (("acc", average_accuracy, Rs), ("bwt", backward_transfer, Rs),
                              ("max_forgetting", max_forgetting, Rs), ("task_incremental_acc", average_accuracy, Rts)):
        out[f"{key}_mean"], out[f"{key}_std"] = mean_std([fn(R) for R in matrices])
    T = len(Rs[0])
    out["per_task_final"] = [statistics.mean(R[T - 1][j] for R in Rs) for j in range(T)]
    out["seen_curve"] = [statistics.mean(v) for v in zip(*(seen_accuracy(R) for R in Rs))]
    out["mean_matrix"] = [[statistics.mean(R[i][j] for R in Rs) for j in range(T)] for i in range(T)]
    out["matrices"], out["task_matrices"] = Rs, Rts
    return out


def gather(jobs: list[Job], cells: list[dict], groups: dict[str, str]) -> dict:
    """Group cells by arch and method and summarise each."""
    results: dict[str, dict] = {a: {"group": g, "methods": {}} for a, g in groups.items()}
    by_key: dict[tuple[str, str], list[dict]] = {}
    for job, cell in zip(jobs, cells):
        by_key.setdefault((job.arch, job.method), []).append(cell)
    for (arch, method), group_cells in by_key.items():
        results[arch]["methods"][method] = summarise(group_cells)
    return results


def judge(results: dict, cfg: VerifyConfig) -> tuple[bool, list[str]]:
    """Verdict and one reason per threshold checked."""
    ok, reasons = True, []
    for arch, r in results.items():
        if r["group"] == "generation":
            lo, hi = cfg.min_acc, cfg.max_forgetting
        else:
            lo, hi = cfg.heldout_min_acc, cfg.heldout_max_forgetting
        s = r["methods"][SYNTHETIC]
        for name, value, bound, passes in (
                ("final ACC", s["acc_mean"], lo, lambda v, b: v >= b),
                ("max forgetting", s["max_forgetting_mean"], hi, lambda v, b: v <= b)):
            if bound is None:
                continue
            good = passes(value, bound)
            ok &= good
            op = ">=" if name == "final ACC" else "<="
            reasons.append(f"{arch} ({r['group']}): {name} {value:.3f} {'meets' if good else 'FAILS'} {op} {bound:.2f}")
    return ok, reasons


def run_grid(art: Artifact, cfg: VerifyConfig, source: SourceData,
             on_job: Callable[[int, int, Job], None] | None = None) -> tuple[list[Job], list[dict]]:
    """Run the jobs of :func:`plan`: all of them here, or under torchrun job i on rank i % world,
    gathered back into plan order (so the certificate is the one a single process writes)."""
    jobs = plan(art, cfg)
    mine = dist.my_share(len(jobs))
    done: dict[int, dict] = {}
    for n, i in enumerate(mine):
        done[i] = run_job(jobs[i], art, source, cfg)
        if on_job:
            on_job(n + 1, len(mine), jobs[i])
    for part in dist.gather(done):
        done.update(part)
    return jobs, [done[i] for i in range(len(jobs))]
