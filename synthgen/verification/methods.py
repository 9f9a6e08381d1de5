"""The cells of the verifier's grid: what each method is, what it depends on, and how one is run.

A :class:`Job` is one (architecture, method, seed[, lr, split]). :func:`job_params` names every
setting besides the learner and the data that the job's result depends on; :func:`run_job` runs
it with those settings. Only the synthetic method and its stress scenarios depend on the
artifact's images: every other cell (peers, joint bound, real baselines, the peers' lr grid) is
a function of the source, the tasks, the learner, the seed and :func:`job_params`, which is what
lets synthgen.verification.cache keep it across verifications.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.config import VerifyConfig
from synthgen.verification.peers import PeerRecipe
from synthgen.verification.runs import evaluate_artifact, joint_accuracy, peer_matrix, real_sequence_matrix

SYNTHETIC = "synthetic"


# stress scenario -> (lr scale, step scale, batch fraction of the task or None for the full batch)
STRESS = {
    "lr x0.5": (0.5, 1.0, None),
    "lr x2": (2.0, 1.0, None),
    "steps x2": (1.0, 2.0, None),
    "shuffled half batches": (1.0, 2.0, 0.5),
    "batch 1/4, steps x4": (1.0, 4.0, 0.25),
}


REAL_RECIPE_STEPS, REAL_EPOCH, CORESET = (
    "real sequence (recipe steps)",
    "real sequence (1 epoch)",
    "random real coreset",
)


BASELINES = (REAL_RECIPE_STEPS, REAL_EPOCH, CORESET)


JOINT = "joint (upper bound)"


def peer_methods(n: int) -> dict[str, tuple[str, int]]:
    """Method name -> (peer kind, memory) for an artifact of ``n`` images."""
    return {f"Replay-{n}": ("replay", n), f"Replay-{5 * n}": ("replay", 5 * n), f"GDumb-{n}": ("gdumb", n)}


def judged_peers(n: int) -> tuple[str, str]:
    """The same-memory peers the verdict compares with."""
    return f"Replay-{n}", f"GDumb-{n}"


def method_order(n: int) -> tuple[str, ...]:
    """The order of the grid, and of every table of its results."""
    return (SYNTHETIC, *STRESS, *peer_methods(n), JOINT, *BASELINES)


def seeds_for(method: str, cfg: VerifyConfig) -> tuple[int, ...]:
    """The seeds ``method`` runs on: the references (the joint bound, the no-memory baselines) the first
    ``cfg.reference_seeds``, every other method all of ``cfg.seeds``."""
    return cfg.seeds[: cfg.reference_seeds] if method == JOINT or method in BASELINES else cfg.seeds


def uses_images(method: str) -> bool:
    """Does the method train on the artifact's images (else it depends only on the source and the tasks)?"""
    return method == SYNTHETIC or method in STRESS


@dataclass(frozen=True)
class Job:
    arch: str
    method: str
    seed: int
    lr: float | None = None  # peers: the Adam lr (grid jobs try each)
    split: str = "test"  # "val" for the peers' lr grid


def peer_recipe(cfg: VerifyConfig, lr: float) -> PeerRecipe:
    return PeerRecipe(lr=lr, epochs=cfg.peer_epochs, gdumb_epochs=cfg.gdumb_epochs)


def job_params(job: Job, art: Artifact, cfg: VerifyConfig) -> dict:
    """Every setting of ``job`` besides the learner, the seed and the data: the method's recipe."""
    recipe, n = art.recipe, len(art.labels)
    if job.method == SYNTHETIC:
        return {"lr_scale": 1.0, "step_scale": 1.0, "batch": None}
    if job.method in STRESS:
        lr_scale, step_scale, frac = STRESS[job.method]
        batch = None if frac is None else max(1, int(min(recipe["task_sizes"]) * frac))
        return {"lr_scale": lr_scale, "step_scale": step_scale, "batch": batch}
    if job.method == JOINT:
        return {"lr": job.lr, "epochs": cfg.joint_epochs, "prefixes": job.split == "test"}
    if job.method in peer_methods(n):
        kind, memory = peer_methods(n)[job.method]  # Replay's epochs are over each task, GDumb's over the buffer
        r = peer_recipe(cfg, job.lr)
        return {
            "kind": kind,
            "memory": memory,
            "lr": r.lr,
            "epochs": r.epochs if kind == "replay" else r.gdumb_epochs,
            "batch": r.batch,
        }
    if job.method in (REAL_RECIPE_STEPS, REAL_EPOCH):
        return {
            "lr": cfg.baseline_lr,
            "steps": recipe["steps_per_task"] if job.method == REAL_RECIPE_STEPS else None,
            "batch_size": 32,
            "per_class": None,
        }
    if job.method == CORESET:  # the synthetic set's size, full batch, the recipe's steps
        per_class = max(1, min(recipe["task_sizes"]) // max(len(t) for t in art.tasks))
        return {
            "lr": cfg.baseline_lr,
            "steps": recipe["steps_per_task"],
            "batch_size": max(recipe["task_sizes"]),
            "per_class": per_class,
        }
    raise ValueError(f"unknown method {job.method!r}")


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, or the joint bound's figures."""
    norm, tasks, scenario = art.metadata["source"]["normalisation"], art.tasks, art.metadata["scenario"]
    p = job_params(job, art, cfg)
    if uses_images(job.method):
        run = evaluate_artifact(art, source, job.arch, job.seed, p["lr_scale"], p["step_scale"], p["batch"])
    elif job.method == JOINT:
        joint = joint_accuracy(
            source,
            tasks,
            norm,
            job.arch,
            job.seed,
            p["lr"],
            p["epochs"],
            scenario=scenario,
            prefixes=p["prefixes"],
            split=job.split,
        )
        return {"acc": joint.acc, "per_task": joint.per_task, "seen_curve": joint.seen_curve}
    elif "kind" in p:
        recipe = PeerRecipe(lr=p["lr"], epochs=p["epochs"], gdumb_epochs=p["epochs"], batch=p["batch"])
        run = peer_matrix(p["kind"], source, tasks, norm, job.arch, job.seed, p["memory"], recipe, scenario, job.split)
    else:
        run = real_sequence_matrix(
            source,
            tasks,
            norm,
            job.arch,
            job.seed,
            p["lr"],
            p["steps"],
            batch_size=p["batch_size"],
            per_class=p["per_class"],
            scenario=scenario,
        )
    return {"R": run.R, "R_task": run.R_task}
