"""Frozen, validated configuration for every stage. One block of defaults, every field commented.

The defaults are the best settings measured on the embedded ``mnist-5k`` source (see
docs/benchmarks.md), not the smallest ones.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        sub = _NESTED.get((cls.__name__, name))
        if sub is not None:
            value = sub.from_dict(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


class _Config:
    """Mixin: dict round trip and a stable hash."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from a plain dict; unknown keys are an error."""
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class SourceConfig(_Config):
    name: str = "mnist-5k"          # mnist-5k | digits | mnist | fashion-mnist | kmnist | cifar10 | hf:<dataset or folder>
    val_fraction: float = 0.1       # per class, carved from the training pool (outer-loop monitoring)
    test_fraction: float = 0.2      # per class; used only when the source has no official test split
    split_seed: int = 0             # seeds the per-class shuffle behind the split (recorded in the artifact)
    data_dir: str | None = None     # download/cache folder for online sources (default ~/.cache/synthgen)
    image_column: str = "image"     # hf: sources only
    label_column: str = "label"     # hf: sources only

    def __post_init__(self) -> None:
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not (0.0 <= v < 1.0):
                raise ConfigError(f"source.{name} must be in [0, 1), got {v}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError("source.val_fraction + source.test_fraction must be < 1")


@dataclass(frozen=True)
class TaskConfig(_Config):
    split: str = "0,1/2,3/4,5/6,7/8,9"  # tasks separated by '/', class ids (or names) by ','
    scenario: Literal["class-incremental", "task-incremental"] = "class-incremental"

    def __post_init__(self) -> None:
        if self.scenario not in ("class-incremental", "task-incremental"):
            raise ConfigError(f"tasks.scenario must be class-incremental or task-incremental, got {self.scenario!r}")


@dataclass(frozen=True)
class LearnerConfig(_Config):
    archs: tuple[str, ...] = ("mlp", "convnet")   # sampled per learner init: mixing architectures is what
                                                  # makes the data transfer to held-out ones (docs/benchmarks.md)

    def __post_init__(self) -> None:
        if not self.archs:
            raise ConfigError("learners.archs must name at least one architecture")


@dataclass(frozen=True)
class GenerateConfig(_Config):
    source: SourceConfig = field(default_factory=SourceConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    learners: LearnerConfig = field(default_factory=LearnerConfig)
    param: Literal["pixels", "generator"] = "pixels"  # what is learned per task
    ipc: int = 10                   # synthetic images per class
    soft_labels: bool = True        # learn a label distribution per image (essential against forgetting)
    learn_lr: bool = True           # learn the inner learning rate of each task
    inner_steps: int = 10           # K: full-batch SGD steps a consumer takes on each task
    inner_lr: float = 0.06          # initial inner learning rate (learned if learn_lr); with momentum 0.5, 0.06 beat 0.04
                                    # (without momentum 0.08 beat 0.02 / 0.04 / 0.15; docs/targets.md)
    inner_momentum: float = 0.5     # heavy-ball momentum of the consumer's SGD (torch.optim.SGD(momentum=...), a fresh
                                    # optimiser per task); part of the recipe. 0.5 beat 0, 0.3, 0.7, 0.9 (docs/targets.md)
    outer_lr: float = 0.01          # Adam lr on pixels / generator weights
    generator_lr: float = 1e-3      # Adam lr on generator weights and latent codes (param=generator); at the
                                    # pixel lr (0.01) the generator diverged in our runs
    label_lr: float = 0.05          # Adam lr on soft-label logits
    lr_lr: float = 0.01             # Adam lr on log inner lr
    outer_schedule: Literal["constant", "cosine"] = "constant"  # Adam lrs over each stage: constant, or cosine
                                    # decay to 0 (each task's data is frozen when its stage ends)
    inits_per_step: int = 2         # fresh learner initialisations averaged per outer step
    lr_jitter: float = 2.0          # meta-train under inner lr x U_log(1/j, j) per step, so the data does not
                                    # depend on one exact lr (robustness to the consumer's lr); 1 = off
    augment: bool = False           # meta-train on randomly rotated / scaled / shifted copies of the trainable tasks'
                                    # images, a fresh draw per inner step (DSA-style; the consumer trains on the plain images)
    replay_pool: int = 256          # >0: learners trained through the frozen earlier tasks are drawn from a pool of
                                    # this many per stage (built lazily, seeded) instead of replayed every step:
                                    # much cheaper late stages; 0 = fresh learners every step (exact method)
    grad_chunks: int = 1            # learners' gradients are summed per chunk (i % chunks), then in chunk order;
                                    # torchrun uses max(grad_chunks, processes), so a run matches 1 process with the same value
    backprop_steps: int = 0         # truncated back-propagation: differentiate only the last N inner steps of
                                    # each trainable task (memory flat in inner_steps); 0 = the full unroll
    real_batch: int = 256           # real training images per outer step (from all tasks seen so far)
    steps: int = 1000               # total outer steps over the task stages (later tasks get more)
    time_budget: float | None = None  # seconds; if set, replaces `steps` and `refine_steps` as the stopping rule; each
                                    # stage gets the share of the step plan's work (steps x tasks differentiated)
    refine_steps: int = 250         # final outer steps refining all tasks' pixels and soft labels jointly (each
                                    # task keeps its lr); ~4x the cost of a task step, +2.5 points (docs/targets.md)
    init: Literal["real", "kmeans", "noise"] = "kmeans"  # synthetic pixels start from k-means centroids of each class's
                                    # training images (started from random ones), those random real images, or noise;
                                    # kmeans beat real by 1 point on the held-out convpool (docs/targets.md)
    seed: int = 0                   # everything random derives from this
    device: str = "auto"            # auto | cpu | cuda[:i]
    checkpoint_every: int = 100     # outer steps between checkpoints (0: never)
    eval_every: int = 100           # outer steps between validation accuracies (0: never)
    max_bad_steps: int = 20         # consecutive non-finite steps before giving up

    def __post_init__(self) -> None:
        if self.param not in ("pixels", "generator"):
            raise ConfigError(f"param must be 'pixels' or 'generator', got {self.param!r}")
        if self.outer_schedule not in ("constant", "cosine"):
            raise ConfigError(f"outer_schedule must be 'constant' or 'cosine', got {self.outer_schedule!r}")
        if self.init not in ("real", "kmeans", "noise"):
            raise ConfigError(f"init must be 'real', 'kmeans' or 'noise', got {self.init!r}")
        positive = ("ipc", "inner_steps", "inits_per_step", "real_batch", "max_bad_steps", "grad_chunks")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("inner_lr", "outer_lr", "generator_lr", "label_lr", "lr_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.inner_momentum < 1.0:
            raise ConfigError(f"inner_momentum must be in [0, 1), got {self.inner_momentum}")
        if self.lr_jitter < 1.0:
            raise ConfigError(f"lr_jitter must be >= 1 (1 = off), got {self.lr_jitter}")
        if self.replay_pool < 0:
            raise ConfigError(f"replay_pool must be >= 0, got {self.replay_pool}")
        if self.backprop_steps < 0:
            raise ConfigError(f"backprop_steps must be >= 0, got {self.backprop_steps}")
        if self.steps < 0 or self.refine_steps < 0 or self.checkpoint_every < 0 or self.eval_every < 0:
            raise ConfigError("steps, refine_steps, checkpoint_every and eval_every must be >= 0")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"time_budget must be > 0 seconds, got {self.time_budget}")

    def run_hash(self) -> str:
        """Hash of the fields that change the result (not device, I/O schedules, budgets, or grad_chunks,
        which only changes float rounding: a checkpoint resumes under another process count)."""
        d = self.to_dict()
        for k in ("device", "checkpoint_every", "eval_every", "time_budget", "grad_chunks"):
            d.pop(k)
        d["source"].pop("data_dir")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


HELDOUT_PREFERENCE = ("mlp256", "convpool", "convnet", "mlp2", "lenet", "mlp")


@dataclass(frozen=True)
class VerifyConfig(_Config):
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)   # one fresh learner per (arch, seed)
    archs: tuple[str, ...] | None = None         # generation archs to test; None: those in the artifact
    heldout: tuple[str, ...] | None = None       # held-out archs; None: 2 from HELDOUT_PREFERENCE not used in generation
    min_acc: float = 0.80                        # generation archs: final average accuracy must reach this
    max_forgetting: float = 0.10                 # generation archs: max forgetting must not exceed this
    heldout_min_acc: float | None = None         # held-out archs: None = informative only
    heldout_max_forgetting: float | None = None
    stress: bool = False                         # also run the stress scenarios (lr x0.5/x2, steps x2, minibatches)
    baselines: bool = True                       # real sequence / coreset / joint in the same run
    baseline_lr: float = 0.05                    # SGD lr of the real-data baselines
    joint_epochs: int = 5                        # epochs of the joint upper bound

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ConfigError("verify needs at least one seed")
        for name in ("min_acc", "max_forgetting", "heldout_min_acc", "heldout_max_forgetting"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")


_NESTED = {
    ("GenerateConfig", "source"): SourceConfig,
    ("GenerateConfig", "tasks"): TaskConfig,
    ("GenerateConfig", "learners"): LearnerConfig,
}
