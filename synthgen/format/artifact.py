"""THE format (spec: docs/format.md): one safetensors file of synthetic task data + JSON metadata in its header.

Tensors ``images`` f32 [N,C,H,W] (normalised), ``labels`` i64 [N], ``task_ids`` i64 [N], optional
``soft_labels`` f32 [N, classes]; header key ``synthgen``: format_version, source, tasks, scenario,
recipe, generation, versions, sha256 (of the tensors) and an optional certificate. Here live the
metadata (:func:`build_metadata`), the recipe schema (:func:`make_recipe`, :func:`optimiser_of`),
the files beside an artifact (:func:`siblings`) and every check; a failure is one ArtifactError.
Format 2 added the recipe's ``optimizer`` (sgd | adam) and ``mode`` (train to learn, eval to
predict: BatchNorm); format-1 files (plain or momentum SGD) keep loading.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from synthgen.core.errors import SynthgenError
from synthgen.core.io import atomic_write, tensor_sha256
from synthgen.format.recipe import LR_SCHEDULES
from synthgen.format.safetensors import read_header, unique_keys

FORMAT_VERSION = 2


READABLE_VERSIONS = (1, 2)


METADATA_KEY = "synthgen"


REQUIRED = {"images": torch.float32, "labels": torch.int64, "task_ids": torch.int64}


OPTIONAL = {"soft_labels": torch.float32}


SOFT_LABEL_TOLERANCE = 1e-3


MAX_TASKS, MAX_CLASSES = 1_000, 100_000  # caps on what metadata may claim, checked before any loop over it


class ArtifactError(SynthgenError, ValueError):
    """The file is not a valid synthgen artifact. The message names the file and the problem."""


@dataclass
class Artifact:
    """Synthetic task data plus everything a consumer needs to use it."""

    images: torch.Tensor
    labels: torch.Tensor
    task_ids: torch.Tensor
    metadata: dict
    soft_labels: torch.Tensor | None = None
    path: Path | None = field(default=None, compare=False)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"images": self.images, "labels": self.labels, "task_ids": self.task_ids}
        if self.soft_labels is not None:
            out["soft_labels"] = self.soft_labels
        return out

    @property
    def sha256(self) -> str:
        return tensor_sha256(self.tensors())

    @property
    def tasks(self) -> list[tuple[int, ...]]:
        return [tuple(t) for t in self.metadata["tasks"]]

    @property
    def recipe(self) -> dict:
        return self.metadata["recipe"]

    @property
    def num_classes(self) -> int:
        return len(self.metadata["source"]["class_names"])

    def targets(self) -> torch.Tensor:
        """Training targets [N, classes]: the soft labels, or one-hot labels."""
        if self.soft_labels is not None:
            return self.soft_labels
        return torch.nn.functional.one_hot(self.labels, self.num_classes).float()

    def task(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images, labels, targets) of task ``i``."""
        if not 0 <= i < len(self.tasks):
            raise IndexError(f"task {i} out of range 0..{len(self.tasks) - 1}")
        keep = self.task_ids == i
        return self.images[keep], self.labels[keep], self.targets()[keep]

    def task_dataset(self, i: int) -> TensorDataset:
        """Task ``i`` as a torch Dataset of (image, label, target)."""
        return TensorDataset(*self.task(i))


# ---- the files beside an artifact ------------------------------------------------------------------
@dataclass(frozen=True)
class Siblings:
    """Where synthgen puts what belongs to the artifact ``<stem>.safetensors``."""

    checkpoint: Path  # <stem>.ckpt.safetensors: generate's checkpoint (removed when done)
    preview: Path  # <stem>.png: generate's sample grid
    grid: Path  # <stem>.grid.png: inspect's sample grid
    certificate: Path  # <stem>.certificate.json: verify's certificate
    pictures: Path  # <stem>.verify/: verify's heatmaps and curves


def siblings(path: str | os.PathLike) -> Siblings:
    """The sibling paths of an artifact file (the ``.safetensors`` suffix, if any, is the stem's end)."""
    p, ends = Path(path), (".ckpt.safetensors", ".png", ".grid.png", ".certificate.json", ".verify")
    return Siblings(*(p.with_name(p.name.removesuffix(".safetensors") + end) for end in ends))


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _fail(path, msg: str) -> ArtifactError:
    return ArtifactError(f"{path}: {msg}")


def _check_recipe(recipe: object, tasks: list, has_soft: bool, where: object) -> None:
    if not isinstance(recipe, dict):
        raise _fail(where, "metadata 'recipe' is not a JSON object")
    lrs = recipe.get("lr_per_task")
    if (
        not isinstance(lrs, list)
        or len(lrs) != len(tasks)
        or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in lrs)
    ):
        raise _fail(where, f"recipe.lr_per_task must list {len(tasks)} positive finite numbers")
    if recipe.get("targets") not in ("soft_labels", "labels") or (recipe.get("targets") == "soft_labels") != has_soft:
        raise _fail(
            where,
            f"recipe.targets is {recipe.get('targets')!r} but the file "
            f"{'has' if has_soft else 'has no'} soft_labels tensor",
        )
    if recipe.get("optimizer", "sgd") not in ("sgd", "adam"):
        raise _fail(where, f"recipe.optimizer must be 'sgd' or 'adam', got {recipe.get('optimizer')!r}")
    momentum = recipe.get("momentum", 0.0)
    if not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
        raise _fail(where, f"recipe.momentum must be a number in [0, 1), got {momentum!r}")
    betas = recipe.get("betas", [0.9, 0.999])
    if not (
        isinstance(betas, list) and len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)
    ):
        raise _fail(where, f"recipe.betas must be two numbers in [0, 1), got {betas!r}")
    if not isinstance(recipe.get("rehearsal", False), bool):
        raise _fail(where, f"recipe.rehearsal must be true or false, got {recipe.get('rehearsal')!r}")
    shift = recipe.get("shift", 0)
    if not isinstance(shift, int) or isinstance(shift, bool) or not 0 <= shift <= 8:
        raise _fail(where, f"recipe.shift must be an integer number of pixels in [0, 8], got {shift!r}")
    if not isinstance(recipe.get("dsa", False), bool):
        raise _fail(where, f"recipe.dsa must be true or false, got {recipe.get('dsa')!r}")
    if recipe.get("lr_schedule", "constant") not in LR_SCHEDULES:
        raise _fail(where, f"recipe.lr_schedule must be one of {list(LR_SCHEDULES)}, got {recipe.get('lr_schedule')!r}")
    clip = recipe.get("clip_grad_norm", 0.0)
    if not isinstance(clip, (int, float)) or isinstance(clip, bool) or not (math.isfinite(clip) and clip >= 0):
        raise _fail(where, f"recipe.clip_grad_norm must be a finite number >= 0, got {clip!r}")
    steps = recipe.get("steps_per_task")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise _fail(where, "recipe.steps_per_task must be a positive integer")


def validate(tensors: dict[str, torch.Tensor], meta: dict, where: str | os.PathLike = "artifact") -> None:
    """Every schema and consistency rule; raises ArtifactError on the first violation."""
    names, expected = set(tensors), f"expected {sorted(REQUIRED)} (+ optional {sorted(OPTIONAL)})"
    for what, bad in (("missing", set(REQUIRED) - names), ("unexpected", names - set(REQUIRED) - set(OPTIONAL))):
        if bad:
            raise _fail(where, f"{what} tensor(s) {sorted(bad)}; {expected}")
    for name, t in tensors.items():
        want = {**REQUIRED, **OPTIONAL}[name]
        if t.dtype != want:
            raise _fail(
                where,
                f"tensor '{name}' has dtype {_dtype(t.dtype)}, expected {_dtype(want)}",
            )
    if not isinstance(meta, dict):
        raise _fail(where, "metadata is not a JSON object")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise _fail(
            where,
            f"unknown format_version {meta.get('format_version')!r}; this synthgen reads "
            f"{', '.join(map(str, READABLE_VERSIONS))} (a newer synthgen wrote it: upgrade)",
        )
    if missing := [k for k in ("source", "tasks", "scenario", "recipe", "sha256") if k not in meta]:
        raise _fail(where, f"metadata lacks '{missing[0]}'")
    images, labels, task_ids = tensors["images"], tensors["labels"], tensors["task_ids"]
    try:
        shape = tuple(int(v) for v in meta["source"]["image_shape"])
        num_classes = len(meta["source"]["class_names"])
    except (KeyError, TypeError, ValueError):
        raise _fail(where, "metadata source lacks image_shape / class_names") from None
    if not 0 < num_classes <= MAX_CLASSES:
        raise _fail(where, f"metadata claims {num_classes} classes (allowed 1..{MAX_CLASSES})")
    if isinstance(meta["tasks"], list) and len(meta["tasks"]) > MAX_TASKS:
        raise _fail(where, f"metadata claims {len(meta['tasks'])} tasks (allowed up to {MAX_TASKS})")
    n = images.shape[0] if images.dim() == 4 else -1
    if images.dim() != 4 or tuple(images.shape[1:]) != shape:
        raise _fail(where, f"images have shape {list(images.shape)}, expected [N, {', '.join(map(str, shape))}]")
    if n == 0:
        raise _fail(where, "the artifact holds no images")
    for name, t in (("labels", labels), ("task_ids", task_ids)):
        if tuple(t.shape) != (n,):
            raise _fail(where, f"'{name}' has shape {list(t.shape)}, expected [{n}] (one per image)")
    if not torch.isfinite(images).all():
        raise _fail(where, "images contain NaN or Inf")
    tasks = meta["tasks"]
    if (
        not isinstance(tasks, list)
        or not tasks
        or not all(isinstance(t, list) and t and all(isinstance(c, int) for c in t) for t in tasks)
    ):
        raise _fail(where, "metadata 'tasks' must be a non-empty list of non-empty class-id lists")
    flat = [c for t in tasks for c in t]
    if len(set(flat)) != len(flat):
        raise _fail(where, f"tasks overlap: a class appears in two tasks ({tasks})")
    if any(not 0 <= c < num_classes for c in flat):
        raise _fail(where, f"tasks name classes outside 0..{num_classes - 1}")
    if task_ids.min() < 0 or task_ids.max() >= len(tasks):
        raise _fail(where, f"task_ids outside 0..{len(tasks) - 1}")
    for i, classes in enumerate(tasks):
        mine = labels[task_ids == i]
        if mine.numel() == 0:
            raise _fail(where, f"task {i} has no images")
        if not torch.isin(mine, torch.tensor(classes)).all():
            bad = sorted(set(mine.tolist()) - set(classes))
            raise _fail(where, f"task {i} has labels {bad} outside its classes {classes}")
    if "soft_labels" in tensors:
        soft = tensors["soft_labels"]
        if tuple(soft.shape) != (n, num_classes):
            raise _fail(where, f"soft_labels have shape {list(soft.shape)}, expected [{n}, {num_classes}]")
        if (
            not torch.isfinite(soft).all()
            or (soft < 0).any()
            or not torch.allclose(soft.sum(1), torch.ones(n), atol=SOFT_LABEL_TOLERANCE)
        ):
            raise _fail(where, "soft_labels must be finite probability rows (>= 0, summing to 1)")
    _check_recipe(meta["recipe"], tasks, "soft_labels" in tensors, where)
    actual = tensor_sha256(tensors)
    if meta["sha256"] != actual:
        raise _fail(
            where,
            f"sha256 mismatch: metadata says {str(meta['sha256'])[:16]}..., tensors hash to {actual[:16]}... "
            "(file corrupted or tampered)",
        )


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Read and fully validate an artifact file."""
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    _, strmeta = read_header(path, _fail)
    if METADATA_KEY not in strmeta:
        raise _fail(path, f"no '{METADATA_KEY}' metadata in the header: not a synthgen artifact")
    try:
        meta = json.loads(strmeta[METADATA_KEY], object_pairs_hook=unique_keys)
    except ValueError as err:
        raise _fail(path, f"'{METADATA_KEY}' metadata is not valid JSON ({err})") from None
    try:
        tensors = st_load(path.read_bytes())
    except Exception as err:  # safetensors raises its own error types; the header was already checked
        raise _fail(path, f"unreadable tensors ({err})") from None
    validate(tensors, meta, path)
    return Artifact(tensors["images"], tensors["labels"], tensors["task_ids"], meta, tensors.get("soft_labels"), path)


def save_artifact(artifact: Artifact, path: str | os.PathLike) -> Path:
    """Validate, set the sha256, and write atomically. Returns the path."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in artifact.tensors().items()}
    artifact.metadata["sha256"] = tensor_sha256(tensors)
    validate(tensors, artifact.metadata, path)
    blob = save(tensors, metadata={METADATA_KEY: json.dumps(artifact.metadata, sort_keys=True)})
    artifact.path = atomic_write(path, blob)
    return artifact.path
