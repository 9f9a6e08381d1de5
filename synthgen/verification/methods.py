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
from enum import Enum

from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.config import VerifyConfig
from synthgen.verification.peers import PeerRecipe
from synthgen.verification.runs import evaluate_artifact, joint_accuracy, peer_matrix, real_sequence_matrix


class Kind(Enum):
    """What a method trains on."""

    SYNTHETIC = "synthetic"  # the artifact, per its recipe
    STRESS = "stress"  # the artifact under a perturbed recipe
    REPLAY = "replay"  # the real stream with a buffer of real images (Avalanche's Replay)
    GDUMB = "gdumb"  # a fresh network on a buffer of real images after each task (Avalanche's GDumb)
    JOINT = "joint"  # all real data of the tasks seen so far at once: the upper bound
    REAL_SEQUENCE = "real sequence"  # the real tasks in sequence, no memory
    CORESET = "coreset"  # random real images of the artifact's size, in sequence, no memory


@dataclass(frozen=True)
class Method:
    """One row of the verifier's tables: its ``name`` is how tables and certificates call it."""

    name: str
    kind: Kind
    memory: int = 0  # Replay / GDumb: real images kept
    lr_scale: float = 1.0  # stress: the recipe's lrs x this
    step_scale: float = 1.0  # stress: the recipe's steps x this
    batch_fraction: float | None = None  # stress: shuffled minibatches of this fraction of a task (None: full batch)
    one_epoch: bool = False  # real sequence: one epoch per task instead of the recipe's steps

    @property
    def uses_images(self) -> bool:
        """Does it train on the artifact's images (else it depends only on the source and the tasks)?"""
        return self.kind in (Kind.SYNTHETIC, Kind.STRESS)

    @property
    def tuned(self) -> bool:
        """Is its Adam lr chosen on the validation split?"""
        return self.kind in (Kind.REPLAY, Kind.GDUMB, Kind.JOINT)

    @property
    def reference(self) -> bool:
        """A reference (never judged against): it runs on the first ``reference_seeds`` seeds only."""
        return self.kind in (Kind.JOINT, Kind.REAL_SEQUENCE, Kind.CORESET)


SYNTHETIC = Method("synthetic", Kind.SYNTHETIC)
STRESS = (
    Method("lr x0.5", Kind.STRESS, lr_scale=0.5),
    Method("lr x2", Kind.STRESS, lr_scale=2.0),
    Method("steps x2", Kind.STRESS, step_scale=2.0),
    Method("shuffled half batches", Kind.STRESS, step_scale=2.0, batch_fraction=0.5),
    Method("batch 1/4, steps x4", Kind.STRESS, step_scale=4.0, batch_fraction=0.25),
)
JOINT = Method("joint (upper bound)", Kind.JOINT)
REAL_RECIPE_STEPS = Method("real sequence (recipe steps)", Kind.REAL_SEQUENCE)
BASELINES = (
    REAL_RECIPE_STEPS,
    Method("real sequence (1 epoch)", Kind.REAL_SEQUENCE, one_epoch=True),
    Method("random real coreset", Kind.CORESET),
)


def peer_methods(n: int) -> tuple[Method, ...]:
    """The real-memory peers of an artifact of ``n`` images: Replay-n, Replay-5n, GDumb-n."""
    return (
        Method(f"Replay-{n}", Kind.REPLAY, n),
        Method(f"Replay-{5 * n}", Kind.REPLAY, 5 * n),
        Method(f"GDumb-{n}", Kind.GDUMB, n),
    )


def judged_peers(n: int) -> tuple[Method, Method]:
    """The same-memory peers the verdict compares with."""
    replay, _, gdumb = peer_methods(n)
    return replay, gdumb


def method_order(n: int) -> tuple[Method, ...]:
    """Every method, in the order of the grid and of every table of its results."""
    return (SYNTHETIC, *STRESS, *peer_methods(n), JOINT, *BASELINES)


def seeds_for(method: Method, cfg: VerifyConfig) -> tuple[int, ...]:
    """The seeds ``method`` runs on: a reference the first ``cfg.reference_seeds``, every other all of them."""
    return cfg.seeds[: cfg.reference_seeds] if method.reference else cfg.seeds


@dataclass(frozen=True)
class Job:
    arch: str
    method: Method
    seed: int
    lr: float | None = None  # peers: the Adam lr (grid jobs try each)
    split: str = "test"  # "val" for the peers' lr grid

    def key(self) -> dict:
        """What identifies the job in the cache: the method by its name."""
        return {"arch": self.arch, "method": self.method.name, "seed": self.seed, "lr": self.lr, "split": self.split}


def peer_recipe(cfg: VerifyConfig, lr: float) -> PeerRecipe:
    return PeerRecipe(lr=lr, epochs=cfg.peer_epochs, gdumb_epochs=cfg.gdumb_epochs)


def job_params(job: Job, art: Artifact, cfg: VerifyConfig) -> dict:
    """Every setting of ``job`` besides the learner, the seed and the data: the method's recipe."""
    recipe, m = art.recipe, job.method
    if m.uses_images:
        batch = None if m.batch_fraction is None else max(1, int(min(recipe["task_sizes"]) * m.batch_fraction))
        return {"lr_scale": m.lr_scale, "step_scale": m.step_scale, "batch": batch}
    if m.kind is Kind.JOINT:
        return {"lr": job.lr, "epochs": cfg.joint_epochs, "prefixes": job.split == "test"}
    if m.kind in (Kind.REPLAY, Kind.GDUMB):  # Replay's epochs are over each task, GDumb's over the buffer
        r = peer_recipe(cfg, job.lr)
        epochs = r.epochs if m.kind is Kind.REPLAY else r.gdumb_epochs
        return {"kind": m.kind.value, "memory": m.memory, "lr": r.lr, "epochs": epochs, "batch": r.batch}
    if m.kind is Kind.REAL_SEQUENCE:
        steps = None if m.one_epoch else recipe["steps_per_task"]
        return {"lr": cfg.baseline_lr, "steps": steps, "batch_size": 32, "per_class": None}
    # the coreset: the synthetic set's size, full batch, the recipe's steps
    per_class = max(1, min(recipe["task_sizes"]) // max(len(t) for t in art.tasks))
    return {
        "lr": cfg.baseline_lr,
        "steps": recipe["steps_per_task"],
        "batch_size": max(recipe["task_sizes"]),
        "per_class": per_class,
    }


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, or the joint bound's figures."""
    norm, tasks, scenario = art.metadata["source"]["normalisation"], art.tasks, art.metadata["scenario"]
    p, learner = job_params(job, art, cfg), (job.arch, job.seed)  # every real-data method: source, tasks, learner
    if job.method.uses_images:
        run = evaluate_artifact(art, source, *learner, p["lr_scale"], p["step_scale"], p["batch"])
    elif job.method.kind is Kind.JOINT:
        joint = joint_accuracy(source, tasks, norm, *learner, p["lr"], p["epochs"], scenario=scenario,
                               prefixes=p["prefixes"], split=job.split)  # fmt: skip
        return {"acc": joint.acc, "per_task": joint.per_task, "seen_curve": joint.seen_curve}
    elif "kind" in p:
        recipe = PeerRecipe(lr=p["lr"], epochs=p["epochs"], gdumb_epochs=p["epochs"], batch=p["batch"])
        run = peer_matrix(p["kind"], source, tasks, norm, *learner, p["memory"], recipe, scenario, job.split)
    else:
        run = real_sequence_matrix(source, tasks, norm, *learner, p["lr"], p["steps"], batch_size=p["batch_size"],
                                   per_class=p["per_class"], scenario=scenario)  # fmt: skip
    return {"R": run.R, "R_task": run.R_task}
