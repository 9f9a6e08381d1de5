"""What `synthgen generate` learns and how: one block of defaults, one line per field.

The defaults are the best settings measured on the embedded ``mnist-5k`` source (docs/research.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import field
from typing import Annotated, Literal

import pydantic
from pydantic import Field

from synthgen.core.config import ConfigBase, Fraction, LearningRate, NonNegative, Positive, PositiveFloat, Seed, config
from synthgen.data.config import SourceConfig, TaskConfig
from synthgen.format.recipe import Optimiser


def _zoo_names() -> tuple[str, ...]:
    """The zoo's learner names (imported here, not at module load: the config stays free of torch)."""
    from synthgen.nn.learners import ZOO

    return tuple(ZOO)


@config
class LearnerConfig(ConfigBase):
    archs: Annotated[tuple[str, ...], Field(min_length=1)] = ("mlp", "convnet_bn", "mlp3_s")  # zoo learners drawn
    # per outer step: a shallow MLP, a BatchNorm ConvNet and a deep narrow MLP


@config
class GenerateConfig(ConfigBase):
    source: SourceConfig = field(default_factory=SourceConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    learners: LearnerConfig = field(default_factory=LearnerConfig)
    ipc: Positive = 10  # synthetic images per class
    init: Literal["real", "kmeans", "noise", "dm"] = "dm"  # where the images start: each class's k-means centroids
    # moved by distribution matching under random ConvNet-3s (at their stage's start), the centroids, real images, noise
    init_steps: Positive = 500  # init "dm": distribution-matching steps of each task's start
    init_real: Positive = 64  # init "dm": real images per class in each of those steps
    soft_labels: bool = True  # learn a label distribution per image (off: one-hot labels)
    learn_lr: bool = True  # learn the recipe's lr of each task
    rehearsal: bool = True  # the recipe trains task t on the synthetic sets of tasks 0..t, not on task t's alone
    inner_steps: Positive = 20  # K: full-batch SGD steps per task that the meta-gradient unrolls
    recipe_step_scale: Annotated[int, Field(ge=1, le=10)] = 2  # the recipe a consumer follows takes K x this steps
    inner_lr: LearningRate = 0.06  # the recipe's starting lr (learned when learn_lr)
    inner_momentum: Fraction = 0.5  # heavy-ball momentum of the recipe's SGD
    inner_clip: Annotated[float, Field(ge=0.0, le=1000.0)] = 5.0  # the recipe's steps clip the gradient to this L2
    # norm (steadies networks that spike at the learned lr, e.g. LeNet); 0 = off
    shift: Annotated[int, Field(ge=0, le=8)] = 2  # the recipe moves each image by up to this many pixels at every
    # step (light augmentation, meta-trained through); 0 = off
    recipe_dsa: bool = False  # the recipe then augments every step by DSA's transformations (no mirror images;
    # meta-trained through: each unrolled step draws its transformation as the consumer's step does)
    recipe_cosine: bool = False  # the recipe's lr then falls towards 0 over each task's steps by a half cosine (not
    # meta-trained through: the unroll keeps each task's lr constant)
    outer_lr: LearningRate = 0.01  # Adam lr on the pixels
    label_lr: LearningRate = 0.05  # Adam lr on the soft-label logits
    lr_lr: LearningRate = 0.01  # Adam lr on the log of each task's recipe lr
    steps: NonNegative = 1000  # outer steps over the task stages (task t gets a share proportional to t + 1)
    refine_steps: NonNegative = 0  # then a last stage learning every task's data together, each step scoring a
    # learner trained through the whole sequence after every task (what a consumer without rehearsal meets); 0 = none
    refine_score: Literal["every", "seen"] = "every"  # the refine stage's loss over its points (after each task):
    # every point alike, or each weighted by the tasks seen by then (the last counts most)
    time_budget: PositiveFloat | None = None  # seconds; if set, replaces `steps` as the stopping rule
    tail_average: Fraction = 0.8  # a task stage ends at its data's mean over this last fraction of its steps; 0 = off
    refine_tail: Fraction = 0.8  # the refine stage ends at its data's mean over this last fraction of its steps; 0 =
    # at its last step
    inits_per_step: Positive = 1  # fresh learner initialisations per outer step
    real_batch: Positive = 256  # real images per outer step that score the unrolled learners
    lr_jitter: Annotated[float, Field(ge=1.0, le=100.0)] = 2.0  # meta-train under lr x U_log(1/j, j); 1 = off
    replay_pool: NonNegative = (
        256  # learners already trained through the frozen tasks, per stage; 0 = retrain each step
    )
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

    def optimiser(self) -> Optimiser:
        """The recipe's optimiser: SGD with ``inner_momentum``, gradients clipped to ``inner_clip``."""
        return Optimiser("sgd", self.inner_momentum, clip=self.inner_clip)

    def run_hash(self) -> str:
        """Hash of the fields that change the result (not device, I/O schedules, budgets, or grad_chunks,
        which only changes float rounding: a checkpoint resumes under another process count)."""
        d = self.to_dict()
        for k in ("device", "checkpoint_every", "eval_every", "time_budget", "grad_chunks"):
            d.pop(k)
        d["source"].pop("data_dir")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
