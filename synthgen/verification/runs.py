"""Train fresh learners in sequence and measure them on REAL held-out data after every task.

One protocol for everything that is compared: the synthetic artifact (following its recipe),
real images in its place trained by its recipe (verification.real_sets), its same-memory peers
(Replay, GDumb: verification.peers), the strategies that keep no data (verification.memory_free) and
joint training.
Every sequence run returns accuracy matrices R[i][j] (verification.metrics); models are scored in
``eval()`` mode, as a consumer would deploy them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synthgen.core.seeding import derive_seed, generator
from synthgen.data.sources import SourceData, normalise
from synthgen.data.tasks import TASK_INCREMENTAL, mask_of_class, scenario_masks
from synthgen.format.artifact import Artifact
from synthgen.format.recipe import dsa_of, optimiser_of, shift_of
from synthgen.nn.consumer import Split, TaskData, hits, predict, train_on_tasks
from synthgen.nn.inner_loop import rehearsed_tasks
from synthgen.nn.learners import build_learner, in_fast_layout
from synthgen.verification.memory_free import run_memory_free
from synthgen.verification.peers import PeerRecipe, run_peer


def real_sets(source: SourceData, tasks: Sequence[Sequence[int]], norm: dict, split: str = "test") -> Split:
    """Normalised real (images, labels) of each task in ``split`` ('train', 'val' or 'test')."""
    x, y = source.split(split)
    return task_sets(normalise(x, norm), y, tasks)


def task_sets(x: torch.Tensor, y: torch.Tensor, tasks: Sequence[Sequence[int]]) -> Split:
    """The (images, labels) of ``x``, ``y`` whose labels are each task's classes."""
    keep = [torch.isin(y, torch.tensor(list(c))) for c in tasks]
    return [(x[k], y[k]) for k in keep]


@dataclass(frozen=True)
class RealStream:
    """The real task sequence that the real-data methods (Replay, GDumb, EWC, SI, LwF, the joint bound) train on
    and every method is scored on: the source's images of each task's classes, normalised as the artifact's."""

    source: SourceData
    tasks: Sequence[Sequence[int]]
    norm: dict
    scenario: str = "class-incremental"

    @classmethod
    def of(cls, art: Artifact, source: SourceData) -> RealStream:
        """The stream an artifact was made from: its tasks, its normalisation, its scenario."""
        return cls(source, art.tasks, art.metadata["source"]["normalisation"], art.metadata["scenario"])

    def sets(self, split: str) -> Split:
        """Each task's normalised real (images, labels) in ``split``."""
        return real_sets(self.source, self.tasks, self.norm, split)

    def class_table(self) -> torch.Tensor | None:
        """Task-incremental: the class -> mask table that the strategies train with; class-incremental: None."""
        if self.scenario != TASK_INCREMENTAL:
            return None
        return mask_of_class(self.tasks, self.source.num_classes, self.scenario)


@dataclass
class SequenceRun:
    """Accuracy matrices of one learner trained through a task sequence. Row i holds tasks 0..i after task i:
    the lower triangle, all that the metrics read (synthgen.verification.metrics); a run scored only at its
    end (``Scorer(final_only=True)``) has the one row of every task."""

    R: list[list[float]]  # in the sequence's own scenario
    R_task: list[list[float]]  # evaluated task-incrementally (logits masked to each task's classes)

    @property
    def final_acc(self) -> float:
        """Mean accuracy over every task after the last one (metrics.average_accuracy)."""
        return sum(self.R[-1]) / len(self.R[-1])


class Scorer:
    """``after_task(i, model)``: appends row i of both matrices, the tasks seen so far (one forward pass per test
    set serves both); with ``final_only`` only after the last task, on every task (what tuning reads)."""

    def __init__(self, tests: Split, tasks: Sequence[Sequence[int]], num_classes: int, scenario: str,
                 final_only: bool = False):  # fmt: skip
        self.tests = tests
        self.masks = scenario_masks(tasks, num_classes, scenario)
        self.task_masks = scenario_masks(tasks, num_classes, TASK_INCREMENTAL)
        self.final_only = final_only
        self.run = SequenceRun([], [])

    def __call__(self, i: int, model: nn.Module) -> None:
        last = i == len(self.tests) - 1
        if self.final_only and not last:
            return
        tests = self.tests[: i + 1]
        logits = [predict(model, x) for x, _ in tests]
        for row, masks in ((self.run.R, self.masks), (self.run.R_task, self.task_masks)):
            row.append([hits(lg, y, m) / len(y) for lg, (_, y), m in zip(logits, tests, masks)])


class Scorers:
    """Several :class:`Scorer` at once, one per split: one training run scored on validation and test alike. The
    validation split is scored after the last task only (tuning reads the final accuracy); with ``final_only``
    every split is."""

    def __init__(self, stream: RealStream, splits: Sequence[str], final_only: bool = False):
        nc = stream.source.num_classes
        self.each = {
            s: Scorer(stream.sets(s), stream.tasks, nc, stream.scenario, final_only or s == "val") for s in splits
        }

    def __call__(self, i: int, model: nn.Module) -> None:
        for score in self.each.values():
            score(i, model)

    @property
    def runs(self) -> dict[str, SequenceRun]:
        return {s: score.run for s, score in self.each.items()}


def artifact_tasks(art: Artifact) -> list[TaskData]:
    """The artifact's tasks as (images, targets, mask) following its recipe."""
    masks = scenario_masks(art.tasks, art.num_classes, art.metadata["scenario"])
    tasks = [(art.task(i)[0], art.task(i)[2], masks[i]) for i in range(len(art.tasks))]
    return rehearsed_tasks(tasks) if art.recipe.get("rehearsal", False) else tasks


def fresh(arch: str, shape: Sequence[int], num_classes: int, seed: int) -> nn.Module:
    """The verifier's learner for (arch, seed): the same weights for every method compared, in the memory format
    that trains it fastest."""
    return in_fast_layout(arch, build_learner(arch, shape, num_classes, derive_seed(seed, "learner", arch)))


def evaluate_artifact(
    art: Artifact,
    source: SourceData,
    arch: str,
    seed: int,
    lr_scale: float = 1.0,
    step_scale: float = 1.0,
    batch_size: int | None = None,
    split: str = "test",
) -> SequenceRun:
    """Accuracy matrices of a fresh ``arch`` learner trained on the artifact per its recipe
    (optionally with the lr / steps scaled or shuffled minibatches: the stress scenarios)."""
    r, norm = art.recipe, art.metadata["source"]["normalisation"]
    model = fresh(arch, tuple(art.images.shape[1:]), art.num_classes, seed)
    score = Scorer(real_sets(source, art.tasks, norm, split), art.tasks, art.num_classes, art.metadata["scenario"])
    train_on_tasks(
        model,
        artifact_tasks(art),
        [lr * lr_scale for lr in r["lr_per_task"]],
        max(1, round(r["steps_per_task"] * step_scale)),
        batch_size,
        score,
        generator(seed, "batches"),
        optimiser_of(r),
        shift_of(r),
        dsa_of(r),
    )
    return score.run


def memory_free_matrix(
    strategy: str,
    stream: RealStream,
    arch: str,
    seed: int,
    lr: float,
    strength: float,
    splits: Sequence[str] = ("test",),
) -> dict[str, SequenceRun]:
    """Naive, EWC, SI or LwF (verification.memory_free) on the stream's tasks with the learner for (arch, seed),
    scored on each of ``splits``."""
    score = Scorers(stream, splits)
    model = fresh(arch, stream.source.image_shape, stream.source.num_classes, seed)
    run_memory_free(strategy, model, stream.sets("train"), lr, strength, seed, score, stream.class_table())
    return score.runs


def peer_matrix(
    kind: str,
    stream: RealStream,
    arch: str,
    seed: int,
    memory: int,
    recipe: PeerRecipe,
    splits: Sequence[str] = ("test",),
) -> dict[str, SequenceRun]:
    """Replay-``memory`` or GDumb-``memory`` (verification.peers) with the verifier's learner for (arch, seed),
    scored on each of ``splits`` (GDumb after the last task only)."""
    src = stream.source
    x, y = src.split("train")
    x = normalise(x, stream.norm)  # once: the task sets and the buffer's pool index into the same tensor
    score = Scorers(stream, splits, final_only=kind == "gdumb")
    run_peer(
        kind,
        lambda: fresh(arch, src.image_shape, src.num_classes, seed),
        task_sets(x, y, stream.tasks),
        y,
        x,
        stream.tasks,
        memory,
        recipe,
        seed,
        score,
        stream.class_table(),
    )
    return score.runs


@dataclass
class JointRun:
    """The joint upper bound: a learner trained on all the real data of tasks 0..i at once, for each step i."""

    acc: float  # after the last step run, on the images of the tasks it saw
    rows: list[list[float]]  # each step i run: the prefix model's accuracy on each of tasks 0..i

    @property
    def per_task(self) -> list[float]:
        """After the last step run: the accuracy on each task's images."""
        return self.rows[-1]


def _train_joint(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, epochs: int, batch_size: int, g: torch.Generator
) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model


def joint_accuracy(
    stream: RealStream,
    arch: str,
    seed: int,
    lr: float = 1e-3,
    epochs: int = 5,
    batch_size: int = 64,
    steps: Sequence[int] | None = None,
    splits: Sequence[str] = ("test",),
) -> dict[str, JointRun]:
    """Upper bound: fresh learners trained jointly (Adam at ``lr``) on the real training data of tasks 0..i for
    each step i of ``steps`` (None: every step), each scored on the data of those tasks of every split in
    ``splits``; split -> its run (final figures: the last step's)."""
    src, train = stream.source, stream.sets("train")
    held = {split: stream.sets(split) for split in splits}
    masks = scenario_masks(stream.tasks, src.num_classes, stream.scenario)
    rows: dict[str, list[list[float]]] = {split: [] for split in splits}
    for i in range(len(stream.tasks)) if steps is None else steps:
        x = torch.cat([t[0] for t in train[: i + 1]])
        y = torch.cat([t[1] for t in train[: i + 1]])
        model = _train_joint(
            fresh(arch, src.image_shape, src.num_classes, seed),
            x,
            y,
            lr,
            epochs,
            batch_size,
            generator(seed, "joint", i),
        )
        for split, tests in held.items():
            rows[split].append(
                [hits(predict(model, tx), ty, m) / len(ty) for (tx, ty), m in zip(tests[: i + 1], masks)]
            )
    out = {}
    for split, tests in held.items():
        last = rows[split][-1]
        sizes = [len(ty) for _, ty in tests[: len(last)]]
        acc = sum(a * n for a, n in zip(last, sizes)) / sum(sizes)
        out[split] = JointRun(acc=acc, rows=rows[split])
    return out
