"""The cells of the verifier's grid: what each method is and what it depends on.

A :class:`Job` is one (architecture, method, seed[, lr, split]). :func:`job_params` names every
setting besides the learner and the data that the job's result depends on, one typed record per
kind of method; synthgen.verification.cells runs a job with them. Only the synthetic method and
its stress scenarios depend on the artifact's images: every other cell (peers, joint bound,
memory-free strategies, the tuning runs) is a function of the source, the tasks, the learner, the
seed and :func:`job_params`, which is what lets synthgen.verification.cache keep it across
verifications.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from synthgen.format.artifact import Artifact
from synthgen.verification.config import VerifyConfig
from synthgen.verification.memory_free import BATCH, EPOCHS, LR, STRENGTHS
from synthgen.verification.peers import GDumbBudget, PeerRecipe


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
    """The seeds ``method`` runs on: the joint bound the first ``cfg.joint_seeds``; Replay (never judged against)
    and the memory-free strategies (they forget by far more than the seeds' spread) the first
    ``cfg.reference_seeds``; every other all of them."""
    if method.kind is Kind.JOINT:
        return cfg.seeds[: cfg.joint_seeds]
    return cfg.seeds[: cfg.reference_seeds] if method.kind in (Kind.REPLAY, Kind.MEMORY_FREE) else cfg.seeds


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


@dataclass(frozen=True)
class ImageParams:
    """The synthetic data (or a stress scenario of it) trained by its recipe, lrs and steps scaled."""

    lr_scale: float
    step_scale: float
    batch: int | None  # shuffled minibatches of this size (None: each task's full batch)


@dataclass(frozen=True)
class InPlaceParams:
    """Real images chosen by ``selection`` in place of the data's, trained by its recipe (images aside)."""

    selection: str
    recipe: dict
    labels: tuple[int, ...]
    task_ids: tuple[int, ...]


@dataclass(frozen=True)
class JointParams:
    """The joint bound: ``epochs`` over the tasks 0..i at once, for each prefix i it trains."""

    lr: float | None
    epochs: int
    prefixes: tuple[int, ...]


@dataclass(frozen=True)
class MemoryFreeParams:
    """Naive, EWC, SI or LwF (verification.memory_free) at ``lr`` and ``strength``."""

    strategy: str
    lr: float
    strength: float | None
    epochs: int
    batch: int


@dataclass(frozen=True)
class PeerParams:
    """Replay or GDumb keeping ``memory`` real images, trained per ``recipe``."""

    kind: str
    memory: int
    recipe: PeerRecipe


Params = ImageParams | InPlaceParams | JointParams | MemoryFreeParams | PeerParams


def job_params(job: Job, art: Artifact, cfg: VerifyConfig) -> Params:
    """Every setting of ``job`` besides the learner, the seed and the data: the method's recipe."""
    recipe, m = art.recipe, job.method
    if m.kind is Kind.REAL_IN_PLACE:  # the recipe's every setting, the images aside
        kept = ("optimizer", "momentum", "betas", "eps", "clip_grad_norm", "lr_per_task", "steps_per_task",
                "task_sizes", "rehearsal", "shift", "dsa", "lr_schedule")  # fmt: skip
        in_recipe = {k: recipe[k] for k in kept if k in recipe}
        return InPlaceParams(m.selection, in_recipe, tuple(art.labels.tolist()), tuple(art.task_ids.tolist()))
    if m.uses_images:
        batch = None if m.batch_fraction is None else max(1, int(min(recipe["task_sizes"]) * m.batch_fraction))
        return ImageParams(m.lr_scale, m.step_scale, batch)
    if m.kind is Kind.JOINT:  # the prefixes i (tasks 0..i) it trains: a tuning run the whole sequence; a test
        n = len(art.tasks)  # cell each of them, but for the last when its tuning run's twin trains that one
        prefixes = (n - 1,) if job.split == "val" else tuple(range(n - 1 if joint_twinned(job, cfg) else n))
        return JointParams(job.lr, cfg.joint_epochs, prefixes)
    setting = job.setting if job.setting is not None else (settings(m, cfg) or (None,))[0]
    if m.kind is Kind.MEMORY_FREE:
        lr = job.lr if job.lr is not None else LR
        return MemoryFreeParams(m.strategy, lr, setting, EPOCHS, BATCH)
    epochs, shift = (setting.epochs, setting.shift) if isinstance(setting, GDumbBudget) else (int(setting), 0)
    return PeerParams(m.kind.value, m.memory, PeerRecipe(job.lr, epochs, shift=shift))  # Replay: epochs per task


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
