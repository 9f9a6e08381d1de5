"""Frozen, typed, validated configuration for every stage. One block of defaults, every field commented.

Each config is a pydantic dataclass in strict mode: a field gets exactly its type (no "3" for an
int, no "no" for a bool) within its range, in the constructor and in :meth:`from_dict` alike, and
any violation is one :class:`ConfigError` line naming the field. The defaults are the best
settings measured on the embedded ``mnist-5k`` source (docs/research.md), not the smallest ones.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import field
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import ConfigDict, Field

from .errors import SynthgenError

T = TypeVar("T")
Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
LearningRate = Annotated[float, Field(ge=1e-10, le=10.0, allow_inf_nan=False)]  # below 1e-10 nothing trains, and a
                                    # learned lr (stored as a float32 log) would underflow to 0 in the artifact
Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]


class ConfigError(SynthgenError, ValueError):
    """A configuration value or key is invalid; ``fields`` names the offending fields (dotted paths)."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


def _short(value: object, most: int = 60) -> str:
    """``repr(value)``, cut to ``most`` characters (a million seeds is not shown back in full)."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def _zoo_names() -> tuple[str, ...]:
    """The zoo's learner names (imported here, not at module load: the config stays free of torch)."""
    from .learners import ZOO
    return tuple(ZOO)


def _one_line(cls: type, err: pydantic.ValidationError) -> ConfigError:
    parts, fields = [], []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])  # empty: a check across fields (__post_init__)
        if where:
            fields.append(where)
        shown = "input" in e and not isinstance(e["input"], dict) and type(e["input"]).__name__ != "ArgsKwargs"
        got = f" (got {_short(e['input'])})" if shown else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "unexpected_keyword_argument":
            msg = f"unknown key; known: {', '.join(f.name for f in dataclasses.fields(cls))}"
        parts.append(f"{where}: {msg}{got}" if where else msg)
    return ConfigError(f"{cls.__name__}: " + "; ".join(parts), tuple(fields))


def config(cls: type[T]) -> type[T]:
    """A frozen, strict pydantic dataclass whose validation errors are one-line ConfigErrors."""
    cls = pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))(cls)
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except pydantic.ValidationError as err:
            raise _one_line(cls, err) from None

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


class _Config:
    """Mixin: dict round trip (JSON lists become tuples, nested dicts nested configs) and a stable hash."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from a plain dict; unknown keys and wrong types are a ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
        kwargs = {}
        for name, value in data.items():
            sub = _NESTED.get((cls.__name__, name))
            if sub is not None and isinstance(value, dict):
                try:
                    value = sub.from_dict(value)
                except ConfigError as err:
                    raise ConfigError(f"{cls.__name__}.{name} -> {err}", tuple(f"{name}.{f}" for f in err.fields)) from None
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[call-overload]

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def merged(self, overrides: dict[str, Any]):
        """A copy with ``overrides`` (a flat or nested dict, as in :meth:`from_dict`) applied on top."""
        base = self.to_dict()
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        return type(self).from_dict(base)


@config
class SourceConfig(_Config):
    name: Annotated[str, Field(min_length=1)] = "mnist-5k"  # mnist-5k | digits | mnist | fashion-mnist | kmnist | cifar10 | hf:<name>
    val_fraction: Fraction = 0.1    # per class, carved from the training pool (outer-loop monitoring, peers' lr)
    test_fraction: Fraction = 0.2   # per class; used only when the source has no official test split
    split_seed: Seed = 0            # seeds the per-class shuffle behind the split (recorded in the artifact)
    data_dir: str | None = None     # download/cache folder for online sources (default ~/.cache/synthgen)
    image_column: str = "image"     # hf: sources only
    label_column: str = "label"     # hf: sources only

    def __post_init__(self) -> None:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("source.val_fraction + source.test_fraction must be < 1")


@config
class TaskConfig(_Config):
    split: Annotated[str, Field(min_length=1)] = "0,1/2,3/4,5/6,7/8,9"  # tasks by '/', class ids or names by ','
    scenario: Literal["class-incremental", "task-incremental"] = "class-incremental"


@config
class LearnerConfig(_Config):
    archs: Annotated[tuple[str, ...], Field(min_length=1)] = ("mlp", "convnet_bn", "mlp3_s")  # zoo names sampled per
                                    # learner init: a shallow MLP, a BatchNorm ConvNet and a deep narrow MLP; mixing
                                    # families and depths is what makes the data transfer (docs/research.md)


@config
class GenerateConfig(_Config):
    source: SourceConfig = field(default_factory=SourceConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    learners: LearnerConfig = field(default_factory=LearnerConfig)
    ipc: Positive = 10  # synthetic images per class
    init: Literal["real", "kmeans", "noise"] = "kmeans"  # where the images start: k-means centroids, real images, noise
    soft_labels: bool = True  # learn a label distribution per image (off: one-hot labels)
    learn_lr: bool = True  # learn the recipe's lr of each task
    rehearsal: bool = True  # the recipe trains task t on the synthetic sets of tasks 0..t, not on task t's alone
    inner_steps: Positive = 20  # K: full-batch SGD steps per task that the meta-gradient unrolls
    recipe_step_scale: Annotated[int, Field(ge=1, le=10)] = 2  # the recipe a consumer follows takes K x this steps
    inner_lr: LearningRate = 0.06  # the recipe's starting lr (learned when learn_lr)
    inner_momentum: Fraction = 0.5  # heavy-ball momentum of the recipe's SGD
    outer_lr: LearningRate = 0.01  # Adam lr on the pixels
    label_lr: LearningRate = 0.05  # Adam lr on the soft-label logits
    lr_lr: LearningRate = 0.01  # Adam lr on the log of each task's recipe lr
    steps: NonNegative = 1000  # outer steps over the task stages (task t gets a share proportional to t + 1)
    time_budget: PositiveFloat | None = None  # seconds; if set, replaces `steps` as the stopping rule
    tail_average: Fraction = 0.8  # a task stage ends at its data's mean over this last fraction of its steps; 0 = off
    inits_per_step: Positive = 1  # fresh learner initialisations per outer step
    real_batch: Positive = 256  # real images per outer step that score the unrolled learners
    lr_jitter: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0  # meta-train under lr x U_log(1/j, j); 1 = off
    replay_pool: NonNegative = 256  # learners already trained through the frozen tasks, per stage; 0 = retrain each step
    feature_weight: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.3  # weight of matching each class's mean
    # embedding under a random network to the real images' (distribution matching); 0 = off
    feature_arch: Annotated[str, Field(min_length=1)] = "convnet"  # the zoo network whose random bodies embed images
    grad_chunks: Positive = 1  # learners' gradients are summed in this many chunks (torchrun: at least one per process)
    seed: Seed = 0  # everything random derives from this
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"  # auto | cpu | cuda[:i]
    checkpoint_every: NonNegative = 100  # outer steps between checkpoints (0: never)
    eval_every: NonNegative = 100  # outer steps between validation accuracies (0: never)

    @pydantic.field_validator("feature_arch")
    @classmethod
    def _a_zoo_learner(cls, name: str) -> str:
        if name not in _zoo_names():
            raise ValueError(f"not a zoo learner; known: {', '.join(_zoo_names())}")
        return name

    def run_hash(self) -> str:
        """Hash of the fields that change the result (not device, I/O schedules, budgets, or grad_chunks,
        which only changes float rounding: a checkpoint resumes under another process count)."""
        d = self.to_dict()
        for k in ("device", "checkpoint_every", "eval_every", "time_budget", "grad_chunks"):
            d.pop(k)
        d["source"].pop("data_dir")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


MAX_VERIFY_SEEDS = 100  # each seed retrains every learner and peer: `--seeds 1000000` is a typo, not a protocol


@config
class VerifyConfig(_Config):
    seeds: Annotated[tuple[Seed, ...], Field(min_length=1, max_length=MAX_VERIFY_SEEDS)] = (0, 1, 2, 3, 4)  # one fresh
                                                # learner per (arch, seed)
    archs: tuple[str, ...] | None = None        # generation archs to test; None: those in the artifact
    heldout: tuple[str, ...] | None = None      # held-out zoo archs; None: 3 families not used in generation
    models: tuple[str, ...] = ()                # the user's own networks, 'pkg.module:callable' (imported)
    stress: bool = False                        # also run the stress scenarios (lr x0.5/x2, steps x2, minibatches)
    peers: bool = True                          # Replay-N, Replay-5N, GDumb-N with the same learners and seeds
    peer_lrs: Annotated[tuple[PositiveFloat, ...], Field(min_length=1)] = (3e-4, 1e-3, 3e-3)  # Adam lr grid of the
                                                # peers and the joint bound, chosen per arch on the validation split
    peer_epochs: Positive = 2                   # Replay: epochs over each task's real data (+ as many buffer batches)
    gdumb_epochs: Positive = 30                 # GDumb: epochs over the buffer after each task
    baselines: bool = True                      # informative real-data baselines without memory (sequence, coreset)
    baseline_lr: PositiveFloat = 0.05           # SGD lr of those baselines
    joint: bool = True                          # the joint upper bound (the verdict needs it; it does not depend on the data)
    joint_epochs: Positive = 5                  # epochs of the joint upper bound (on the tasks seen so far)
    reference_seeds: Positive = 2               # the joint bound and the no-memory baselines run on the first this many
                                                # seeds: references, not judged against (seed std 0.002-0.015 on the
                                                # default data); run on every seed, the joint bound was about a
                                                # third of the grid's cost
    peer_margin: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] = 0.02  # verdict: final ACC >= each peer's + this
    max_forgetting: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.15  # verdict: max forgetting <= this
    min_joint_fraction: Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] = 0.85  # verdict: final ACC >= this x joint

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {list(self.seeds)}")


_NESTED = {
    ("GenerateConfig", "source"): SourceConfig,
    ("GenerateConfig", "tasks"): TaskConfig,
    ("GenerateConfig", "learners"): LearnerConfig,
}
