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
    param: Literal["pixels", "generator"] = "pixels"  # what is learned per task
    pixel_factor: Annotated[int, Field(ge=1, le=8)] = 1  # pixels are learned on a grid this many times coarser
                                    # than the image (bilinear upsampling) over the initial image's fixed fine detail
    ipc: Positive = 10              # synthetic images per class
    soft_labels: bool = True        # learn a label distribution per image (essential against forgetting)
    learn_lr: bool = True           # learn the inner learning rate of each task
    rehearsal: bool = True          # the recipe trains task t on the synthetic sets of tasks 0..t (kept: a replay buffer
                                    # no larger than the artifact), not on task t's alone; over 3 generation seeds
                                    # ConvNet-3 0.82 -> 0.92 (its GDumb-100 0.91, forgetting 0.28 -> 0.05), the other
                                    # learners -1.7 to +1.2 points (docs/research.md)
    inner_steps: Positive = 20      # K: full-batch steps per task the meta-gradient unrolls; 20 beat 10 on every CNN
                                    # family (+2-6 points) and lets BatchNorm's running statistics settle
    recipe_step_scale: Annotated[int, Field(ge=1, le=10)] = 2  # the recipe a consumer follows takes K x this steps
                                    # per task: 8 of 10 zoo rows learned as well or better at 2K (LeNet 0.31 -> 0.69)
    inner_optimizer: Literal["sgd", "adam"] = "sgd"  # the recipe's optimiser (torch.optim.SGD / Adam, fresh per task)
    inner_lr: LearningRate = 0.06  # initial inner learning rate (learned if learn_lr)
    inner_momentum: Fraction = 0.5  # heavy-ball momentum of the recipe's SGD; 0.5 beat 0, 0.3, 0.7, 0.9
    outer_lr: LearningRate = 0.01  # Adam lr on pixels
    generator_lr: LearningRate = 1e-3  # Adam lr on generator weights and latent codes (param=generator)
    label_lr: LearningRate = 0.05  # Adam lr on soft-label logits
    lr_lr: LearningRate = 0.01     # Adam lr on log inner lr
    outer_schedule: Literal["constant", "cosine"] = "constant"  # Adam lrs over each stage: constant, or cosine to 0
    inits_per_step: Positive = 1    # fresh learner initialisations per outer step (1 with 1.44x the steps matched
                                    # 2 at 0.7x the time, docs/research.md)
    lr_jitter: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0  # meta-train under inner lr x U_log(1/j, j) per step; 1 = off
    augment: bool = False           # meta-train on randomly rotated / scaled / shifted copies (DSA-style)
    replay_pool: NonNegative = 256  # >0: learners trained through the frozen earlier tasks come from a pool of this
                                    # many per stage (seeded) instead of being replayed every step; 0 = exact method
    grad_chunks: Positive = 1       # learners' gradients are summed per chunk (i % chunks), then in chunk order;
                                    # torchrun uses max(grad_chunks, processes), so a run matches 1 process with the same value
    backprop_steps: NonNegative = 0  # truncated back-propagation: differentiate only the last N inner steps per task
    real_batch: Positive = 256      # real training images per outer step (from all tasks seen so far)
    steps: NonNegative = 1000       # total outer steps over the task stages (later tasks get more); with the tail
                                    # average 1000 matched 1500 on every learner over 3 seeds (within a point) at 0.4x
                                    # the time (docs/research.md)
    time_budget: PositiveFloat | None = None  # seconds; if set, replaces `steps` and `refine_steps` as the stopping rule
    point_weight: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0  # joint refinement: weight of each earlier point of the
                                    # sequence (loss after task i on tasks 0..i) beside the last one (weight 1); 1 removes
                                    # the mid-sequence dip at no cost to the final accuracy (docs/research.md)
    tail_average: Fraction = 0.8    # each task stage ends at the mean of its data (pixels, soft labels, lr) over the last
                                    # this fraction of its steps, not at the last noisy Adam iterate (Polyak / SWA-style);
                                    # 0 = off. Half the stage: every learner +1-3 points (seed 0); 0.8 beat 0.5 on 4 of
                                    # 5 learners (seed 1; docs/research.md)
    refine_steps: NonNegative = 0   # final outer steps refining all tasks' pixels and soft labels jointly; under rehearsal
                                    # 300 of them bought nothing measurable on 3 seeds for 45% of the time (research.md)
    refine_select_every: NonNegative = 100  # the refine stage is scored on validation (every task, the recipe's steps,
                                    # every generation learner) at its start and every this many steps, and ends at
                                    # its best point (0: where it ends); seed 0's refine lost 0.86 -> 0.81 (research.md)
    moment_weight: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0  # outer objective + this x the distance of each
                                    # class's 3x3 patch mean and second moment from the real images' (synthgen.moments):
                                    # the statistics a consumer's first conv + BatchNorm take from the data then fit real
                                    # images; at 1 it moved cnn_bn +0.4 points over 3 seeds, cnn -0.9: off (research.md)
    feature_weight: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.3  # outer objective + this x each class's distance
                                    # between the mean embeddings of its synthetic and real images under a random
                                    # network drawn anew each step (distribution matching, synthgen.feature_matching);
                                    # 0.3 lifted the held-out BatchNorm CNN 0.897 -> 0.915 over 3 seeds (docs/research.md)
    feature_arch: Annotated[str, Field(min_length=1)] = "convnet"  # the zoo network whose random bodies embed the
                                    # images; its family counts as used in generation (the verifier holds out others)
    init: Literal["real", "kmeans", "noise"] = "kmeans"  # synthetic pixels start from k-means centroids of each
                                    # class's training images, random real ones, or noise
    seed: Seed = 0                  # everything random derives from this
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"  # auto | cpu | cuda[:i]
    checkpoint_every: NonNegative = 100  # outer steps between checkpoints (0: never)
    eval_every: NonNegative = 100   # outer steps between validation accuracies (0: never)
    max_bad_steps: Positive = 20    # consecutive non-finite steps before giving up

    @pydantic.field_validator("feature_arch")
    @classmethod
    def _a_zoo_learner(cls, name: str) -> str:
        if name not in _zoo_names():
            raise ValueError(f"not a zoo learner; known: {', '.join(_zoo_names())}")
        return name

    def __post_init__(self) -> None:
        if self.pixel_factor > 1 and self.param != "pixels":
            raise ConfigError(f"pixel_factor {self.pixel_factor} applies to param 'pixels', not {self.param!r}")

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
