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
from synthgen.verification.real_sets import in_place_of
from synthgen.verification.runs import evaluate_artifact, joint_accuracy, peer_matrix, real_sequence_matrix


class Kind(Enum):
    """What a method trains on."""

    SYNTHETIC = "synthetic"  # the artifact, per its recipe
    STRESS = "stress"  # the artifact under a perturbed recipe
    REAL_IN_PLACE = "real in place"  # real images of the artifact's size and balance, trained by its own recipe
    REPLAY = "replay"  # the real stream with a buffer of real images (Avalanche's Replay)
    GDUMB = "gdumb"  # a fresh network on a buffer of real images after each task (Avalanche's GDumb)
    JOINT = "joint"  # all real data of the tasks seen so far at once: the upper bound
    REAL_SEQUENCE = "real sequence"  # the real tasks in sequence, no memory


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
    selection: str = ""  # real in place: how the real images are chosen (random | herding)
    follows: str = ""  # a peer trained with the lr and epochs chosen for this other method (Replay-5N: Replay-N's)

    @property
    def uses_images(self) -> bool:
        """Does it train on the artifact's images (else it depends only on the source and the tasks)?"""
        return self.kind in (Kind.SYNTHETIC, Kind.STRESS)

    @property
    def tuned(self) -> bool:
        """Is its Adam lr chosen on the validation split (by its own runs or, with ``follows``, another's)?"""
        return self.kind in (Kind.REPLAY, Kind.GDUMB, Kind.JOINT)

    @property
    def budgeted(self) -> bool:
        """Are its epochs chosen on the validation split too (Replay: per task, GDumb: over the buffer)?"""
        return self.kind in (Kind.REPLAY, Kind.GDUMB)

    @property
    def on_reference_seeds(self) -> bool:
        """A reference (never judged against) that runs on the first ``reference_seeds`` seeds only."""
        return self.kind in (Kind.REPLAY, Kind.JOINT, Kind.REAL_SEQUENCE)

    @property
    def judged(self) -> bool:
        """Does the verdict compare the data with it: the alternatives a user holding N images has."""
        return self.kind in (Kind.GDUMB, Kind.REAL_IN_PLACE)


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
BASELINES = (REAL_RECIPE_STEPS, Method("real sequence (1 epoch)", Kind.REAL_SEQUENCE, one_epoch=True))


def peer_methods(n: int) -> tuple[Method, ...]:
    """What a user would do instead of an artifact of ``n`` images: ``n`` real images chosen at random or by
    herding and trained by the artifact's own recipe, GDumb-n, and (references: they learn from the whole real
    stream) Replay-n and Replay-5n."""
    return (
        Method(f"Random-{n}", Kind.REAL_IN_PLACE, n, selection="random"),
        Method(f"Herding-{n}", Kind.REAL_IN_PLACE, n, selection="herding"),
        Method(f"GDumb-{n}", Kind.GDUMB, n),
        Method(f"Replay-{n}", Kind.REPLAY, n),
        Method(f"Replay-{5 * n}", Kind.REPLAY, 5 * n, follows=f"Replay-{n}"),
    )


def judged_peers(n: int) -> tuple[Method, ...]:
    """The peers the verdict compares with."""
    return tuple(p for p in peer_methods(n) if p.judged)


def random_real(n: int) -> Method:
    """The judged peer whose lead is the data's improvement over random real images."""
    return next(p for p in peer_methods(n) if p.selection == "random")


def method_order(n: int) -> tuple[Method, ...]:
    """Every method, in the order of the grid and of every table of its results."""
    return (SYNTHETIC, *STRESS, *peer_methods(n), JOINT, *BASELINES)


def seeds_for(method: Method, cfg: VerifyConfig) -> tuple[int, ...]:
    """The seeds ``method`` runs on: a reference the first ``cfg.reference_seeds``, every other all of them."""
    return cfg.seeds[: cfg.reference_seeds] if method.on_reference_seeds else cfg.seeds


@dataclass(frozen=True)
class Job:
    arch: str
    method: Method
    seed: int
    lr: float | None = None  # tuned methods: the Adam lr (tuning jobs try each)
    epochs: int | None = None  # Replay, GDumb: the epochs (tuning jobs try each)
    split: str = "test"  # "val" for the tuning jobs

    def key(self) -> dict:
        """What identifies the job in the cache: the method by its name."""
        k = {"arch": self.arch, "method": self.method.name, "seed": self.seed, "lr": self.lr, "split": self.split}
        return k | ({"epochs": self.epochs} if self.epochs is not None else {})


def budgets(method: Method, cfg: VerifyConfig) -> tuple[int, ...]:
    """The epochs ``method`` may train for, the first of them while its lr is chosen."""
    return cfg.replay_epochs if method.kind is Kind.REPLAY else cfg.gdumb_epochs


def job_params(job: Job, art: Artifact, cfg: VerifyConfig) -> dict:
    """Every setting of ``job`` besides the learner, the seed and the data: the method's recipe."""
    recipe, m = art.recipe, job.method
    if m.kind is Kind.REAL_IN_PLACE:  # the recipe's every setting, the images aside
        kept = ("optimizer", "momentum", "betas", "eps", "lr_per_task", "steps_per_task", "task_sizes", "rehearsal")
        return {"selection": m.selection, "recipe": {k: recipe[k] for k in kept if k in recipe},
                "labels": art.labels.tolist(), "task_ids": art.task_ids.tolist()}  # fmt: skip
    if m.uses_images:
        batch = None if m.batch_fraction is None else max(1, int(min(recipe["task_sizes"]) * m.batch_fraction))
        return {"lr_scale": m.lr_scale, "step_scale": m.step_scale, "batch": batch}
    if m.kind is Kind.JOINT:
        return {"lr": job.lr, "epochs": cfg.joint_epochs, "prefixes": job.split == "test"}
    if m.budgeted:  # Replay's epochs are over each task, GDumb's over the buffer
        epochs = job.epochs if job.epochs is not None else budgets(m, cfg)[0]
        return {"kind": m.kind.value, "memory": m.memory, "lr": job.lr, "epochs": epochs, "batch": PeerRecipe().batch}
    # a real sequence without memory
    steps = None if m.one_epoch else recipe["steps_per_task"]
    return {"lr": cfg.baseline_lr, "steps": steps, "batch_size": 32}


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, or the joint bound's figures."""
    norm, tasks, scenario = art.metadata["source"]["normalisation"], art.tasks, art.metadata["scenario"]
    p, learner = job_params(job, art, cfg), (job.arch, job.seed)  # every real-data method: source, tasks, learner
    if job.method.uses_images:
        run = evaluate_artifact(art, source, *learner, p["lr_scale"], p["step_scale"], p["batch"])
    elif job.method.kind is Kind.REAL_IN_PLACE:
        run = evaluate_artifact(in_place_of(art, source, job.method.selection, job.seed), source, *learner)
    elif job.method.kind is Kind.JOINT:
        joint = joint_accuracy(source, tasks, norm, *learner, p["lr"], p["epochs"], scenario=scenario,
                               prefixes=p["prefixes"], split=job.split)  # fmt: skip
        return {"acc": joint.acc, "per_task": joint.per_task, "seen_curve": joint.seen_curve}
    elif "kind" in p:
        recipe = PeerRecipe(lr=p["lr"], epochs=p["epochs"], batch=p["batch"])
        run = peer_matrix(p["kind"], source, tasks, norm, *learner, p["memory"], recipe, scenario, job.split)
    else:
        run = real_sequence_matrix(
            source, tasks, norm, *learner, p["lr"], p["steps"], batch_size=p["batch_size"], scenario=scenario
        )
    return {"R": run.R, "R_task": run.R_task}
