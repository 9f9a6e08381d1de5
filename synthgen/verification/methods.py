"""The cells of the verifier's grid: what each method is, what it depends on, and how one is run.

A :class:`Job` is one (architecture, method, seed[, lr, split]). :func:`job_params` names every
setting besides the learner and the data that the job's result depends on; :func:`run_job` runs
it with those settings. Only the synthetic method and its stress scenarios depend on the
artifact's images: every other cell (peers, joint bound, memory-free strategies, the tuning runs) is
a function of the source, the tasks, the learner, the seed and :func:`job_params`, which is what
lets synthgen.verification.cache keep it across verifications.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact
from synthgen.verification.config import VerifyConfig
from synthgen.verification.memory_free import BATCH, EPOCHS, LR, STRENGTHS
from synthgen.verification.peers import GDumbBudget, PeerRecipe
from synthgen.verification.real_sets import in_place_of
from synthgen.verification.runs import (
    RealStream,
    SequenceRun,
    evaluate_artifact,
    joint_accuracy,
    memory_free_matrix,
    peer_matrix,
)


class Kind(Enum):
    """What a method trains on."""

    SYNTHETIC = "synthetic"  # the artifact, per its recipe
    STRESS = "stress"  # the artifact under a perturbed recipe
    REAL_IN_PLACE = "real in place"  # real images of the artifact's size and balance, trained by its own recipe
    REPLAY = "replay"  # the real stream with a buffer of real images (Avalanche's Replay)
    GDUMB = "gdumb"  # a fresh network on a buffer of real images after each task (Avalanche's GDumb)
    JOINT = "joint"  # all real data of the tasks seen so far at once: the upper bound
    MEMORY_FREE = "memory-free"  # the real tasks in sequence, no data kept (Avalanche's Naive, EWC, SI, LwF)


@dataclass(frozen=True)
class Method:
    """One row of the verifier's tables: its ``name`` is how tables and certificates call it."""

    name: str
    kind: Kind
    memory: int = 0  # Replay / GDumb: real images kept
    lr_scale: float = 1.0  # stress: the recipe's lrs x this
    step_scale: float = 1.0  # stress: the recipe's steps x this
    batch_fraction: float | None = None  # stress: shuffled minibatches of this fraction of a task (None: full batch)
    selection: str = ""  # real in place: how the real images are chosen (random | herding)
    strategy: str = ""  # memory-free: naive | ewc | si | lwf
    follows: str = ""  # a peer of the same kind whose lr it takes (Replay-5N: Replay-N's); it chooses its own epochs

    @property
    def uses_images(self) -> bool:
        """Does it train on the artifact's images (else it depends only on the source and the tasks)?"""
        return self.kind in (Kind.SYNTHETIC, Kind.STRESS)

    @property
    def regularised(self) -> bool:
        """EWC, SI or LwF: a memory-free strategy with a strength."""
        return self.kind is Kind.MEMORY_FREE and self.strategy != "naive"

    @property
    def tuned(self) -> bool:
        """Is its Adam lr chosen on the validation split (by its own runs or, with ``follows``, another's)?"""
        return self.kind in (Kind.REPLAY, Kind.GDUMB, Kind.JOINT) or self.regularised

    @property
    def setting(self) -> str:
        """The second setting chosen on the validation split, at the chosen lr ("" for none): the epochs of
        Replay (per task) and GDumb (over the buffer), the strength of EWC, SI and LwF."""
        return "epochs" if self.kind in (Kind.REPLAY, Kind.GDUMB) else "strength" if self.regularised else ""

    @property
    def on_reference_seeds(self) -> bool:
        """Runs on the first ``reference_seeds`` seeds only: the references (never judged against), and the
        memory-free strategies, which forget by far more than the seeds' spread."""
        return self.kind in (Kind.REPLAY, Kind.JOINT, Kind.MEMORY_FREE)

    @property
    def judged(self) -> bool:
        """Does the verdict compare the data with it: the alternatives a user holding N images has (and, for
        data made without rehearsal, the strategies that keep no data)."""
        return self.kind in (Kind.GDUMB, Kind.REAL_IN_PLACE) or self.regularised


SYNTHETIC = Method("synthetic", Kind.SYNTHETIC)
STRESS = (
    Method("lr x0.5", Kind.STRESS, lr_scale=0.5),
    Method("lr x2", Kind.STRESS, lr_scale=2.0),
    Method("steps x2", Kind.STRESS, step_scale=2.0),
    Method("shuffled half batches", Kind.STRESS, step_scale=2.0, batch_fraction=0.5),
    Method("batch 1/4, steps x4", Kind.STRESS, step_scale=4.0, batch_fraction=0.25),
)
JOINT = Method("joint (upper bound)", Kind.JOINT)
MEMORY_FREE = tuple(Method(name, Kind.MEMORY_FREE, strategy=name.lower()) for name in ("Naive", "EWC", "SI", "LwF"))


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


def alternatives(n: int) -> tuple[Method, ...]:
    """Every method the data is compared with: :func:`peer_methods` and the memory-free strategies (these run for
    data made without rehearsal)."""
    return (*peer_methods(n), *MEMORY_FREE)


def judged_peers(n: int) -> tuple[Method, ...]:
    """The methods the verdict compares with (the memory-free ones when they ran)."""
    return tuple(p for p in alternatives(n) if p.judged)


def about(m: Method) -> str:
    """Why a reference is not judged: what it holds that a user of the data does not, or lacks."""
    if m.kind is Kind.REPLAY:
        return f"{m.name} learns from the whole real stream and keeps {m.memory} images"
    return f"{m.name} learns from the whole real stream and keeps nothing: the lower bound"


def random_real(n: int) -> Method:
    """The judged peer whose lead is the data's improvement over random real images."""
    return next(p for p in peer_methods(n) if p.selection == "random")


def method_order(n: int) -> tuple[Method, ...]:
    """Every method, in the order of the grid and of every table of its results."""
    return (SYNTHETIC, *STRESS, *peer_methods(n), *MEMORY_FREE, JOINT)


def seeds_for(method: Method, cfg: VerifyConfig) -> tuple[int, ...]:
    """The seeds ``method`` runs on: a reference the first ``cfg.reference_seeds``, every other all of them."""
    return cfg.seeds[: cfg.reference_seeds] if method.on_reference_seeds else cfg.seeds


Setting = float | GDumbBudget  # a tuned method's second setting: Replay's epochs, GDumb's budget, a strength


def setting_fields(method: Method, value: Setting | None) -> dict:
    """``method``'s second setting as the certificate, the cache and the tables name it: ``{"epochs": 5}``,
    ``{"epochs": 200, "shift": 2}`` (no shift: ``{"epochs": 100}``), ``{"strength": 10.0}`` ({} for none)."""
    if value is None:
        return {}
    if isinstance(value, GDumbBudget):
        return {"epochs": value.epochs} | ({"shift": value.shift} if value.shift else {})
    return {method.setting: value}


@dataclass(frozen=True)
class Job:
    arch: str
    method: Method
    seed: int
    lr: float | None = None  # tuned methods: the Adam lr (tuning jobs try each)
    setting: Setting | None = None  # the method's second setting (tuning jobs try each)
    split: str = "test"  # "val" for the tuning jobs

    def key(self) -> dict:
        """What identifies the job in the cache: the method by its name."""
        k = {"arch": self.arch, "method": self.method.name, "seed": self.seed, "lr": self.lr, "split": self.split}
        return k | setting_fields(self.method, self.setting)


def settings(method: Method, cfg: VerifyConfig) -> tuple[Setting, ...]:
    """The values of ``method``'s second setting to choose from, the first of them while its lr is chosen."""
    if method.regularised:
        return STRENGTHS[method.strategy]
    if method.kind is Kind.GDUMB:
        shifted = tuple(GDumbBudget(e, cfg.gdumb_shift) for e in cfg.gdumb_shifted_epochs)
        return tuple(GDumbBudget(e) for e in cfg.gdumb_epochs) + shifted
    if method.kind is Kind.REPLAY:
        return cfg.replay_5n_epochs if method.follows else cfg.replay_epochs
    return ()


def job_params(job: Job, art: Artifact, cfg: VerifyConfig) -> dict:
    """Every setting of ``job`` besides the learner, the seed and the data: the method's recipe."""
    recipe, m = art.recipe, job.method
    if m.kind is Kind.REAL_IN_PLACE:  # the recipe's every setting, the images aside
        kept = ("optimizer", "momentum", "betas", "eps", "clip_grad_norm", "lr_per_task", "steps_per_task",
                "task_sizes", "rehearsal", "shift")  # fmt: skip
        return {"selection": m.selection, "recipe": {k: recipe[k] for k in kept if k in recipe},
                "labels": art.labels.tolist(), "task_ids": art.task_ids.tolist()}  # fmt: skip
    if m.uses_images:
        batch = None if m.batch_fraction is None else max(1, int(min(recipe["task_sizes"]) * m.batch_fraction))
        return {"lr_scale": m.lr_scale, "step_scale": m.step_scale, "batch": batch}
    if m.kind is Kind.JOINT:  # the prefixes i (tasks 0..i) it trains: a tuning run the whole sequence; a test
        n = len(art.tasks)  # cell each of them, but for the last when its tuning run's twin trains that one
        prefixes = [n - 1] if job.split == "val" else [*range(n - 1 if joint_twinned(job, cfg) else n)]
        return {"lr": job.lr, "epochs": cfg.joint_epochs, "prefixes": prefixes}
    setting = job.setting if job.setting is not None else (settings(m, cfg) or (None,))[0]
    if m.kind is Kind.MEMORY_FREE:
        lr = job.lr if job.lr is not None else LR
        return {"strategy": m.strategy, "lr": lr, "strength": setting, "epochs": EPOCHS, "batch": BATCH}
    p = {"kind": m.kind.value, "memory": m.memory, "lr": job.lr, "batch": PeerRecipe().batch}
    if m.kind is Kind.GDUMB:  # epochs over the buffer, shifted or not
        return p | setting_fields(m, setting)
    return p | {"epochs": int(setting)}  # Replay: epochs over each task


def twin_on_test(job: Job) -> Job | None:
    """The test-split job whose cell a tuning ``job`` also yields: the same training run scored on the test split
    beside the validation split (Replay, GDumb, EWC, SI, LwF; the joint bound's tuning trains the whole sequence,
    the last of its test cell's prefixes)."""
    if job.split != "val" or job.method.kind not in (Kind.REPLAY, Kind.GDUMB, Kind.MEMORY_FREE, Kind.JOINT):
        return None
    return replace(job, split="test")


def joint_twinned(job: Job, cfg: VerifyConfig) -> bool:
    """Does a tuning run train the last prefix of this joint-bound ``job`` (its lr is chosen on the validation
    split, and the tuning runs use the first seed)?"""
    return len(cfg.peer_lrs) > 1 and job.seed == cfg.seeds[0]


def joined(head: dict, last: dict) -> dict:
    """The joint bound's cell: the earlier prefixes' curve from its ``head`` cell, the last prefix from its tuning
    run's twin."""
    return last | {"seen_curve": head["seen_curve"] + last["seen_curve"]}


def run_job(job: Job, art: Artifact, source: SourceData, cfg: VerifyConfig) -> dict:
    """One cell of the grid -> {'R', 'R_task'} matrices, or the final figures of the joint bound and GDumb; a
    tuning job with a :func:`twin_on_test` -> its final validation accuracy 'acc' and the twin's cell under
    'test'."""
    stream, p, learner = RealStream.of(art, source), job_params(job, art, cfg), (job.arch, job.seed)
    splits = (job.split, "test") if twin_on_test(job) else (job.split,)
    if job.method.uses_images:
        run = evaluate_artifact(art, source, *learner, p["lr_scale"], p["step_scale"], p["batch"])
    elif job.method.kind is Kind.REAL_IN_PLACE:
        run = evaluate_artifact(in_place_of(art, source, job.method.selection, job.seed), source, *learner)
    elif job.method.kind is Kind.JOINT:
        steps = p["prefixes"]
        if job.split == "test" and len(art.tasks) - 1 not in steps:  # a cell's head: its tuning run trains the last
            head = joint_accuracy(stream, *learner, p["lr"], p["epochs"], steps=steps) if steps else {}
            return {"seen_curve": head["test"].seen_curve if head else []}
        joint = joint_accuracy(stream, *learner, p["lr"], p["epochs"], steps=steps, splits=splits)
        cells = {k: {"acc": r.acc, "per_task": r.per_task, "seen_curve": r.seen_curve} for k, r in joint.items()}
        return {"acc": cells["val"]["acc"], "test": cells["test"]} if job.split == "val" else cells["test"]
    else:
        if job.method.kind is Kind.MEMORY_FREE:
            runs = memory_free_matrix(p["strategy"], stream, *learner, p["lr"], p["strength"] or 0.0, splits)
        else:
            recipe = PeerRecipe(lr=p["lr"], epochs=p["epochs"], batch=p["batch"], shift=p.get("shift", 0))
            runs = peer_matrix(p["kind"], stream, *learner, p["memory"], recipe, splits)
        run = runs[job.split]
        test = final_figures(runs["test"]) if job.method.kind is Kind.GDUMB else _matrices(runs["test"])
        if job.split == "val":  # a tuning run: its final validation accuracy, and its twin's test cell
            return {"acc": run.final_acc, "test": test}
        return test
    return _matrices(run)


def _matrices(run: SequenceRun) -> dict:
    return {"R": run.R, "R_task": run.R_task}


def final_figures(run: SequenceRun) -> dict:
    """The cell of a run scored after its last task alone (GDumb): final ACC and each task's accuracy."""
    return {"acc": run.final_acc, "per_task": run.R[-1], "seen_curve": []}
