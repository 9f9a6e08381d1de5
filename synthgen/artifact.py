"""THE format: one safetensors file of synthetic task data + JSON metadata in its header.

Tensors: ``images`` float32 [N,C,H,W] (normalised space), ``labels`` int64 [N] (the class each
image was made for), ``task_ids`` int64 [N], optional ``soft_labels`` float32 [N, classes].
Header metadata key ``synthgen``: JSON with format_version, source, tasks, scenario, recipe,
generation, versions, sha256 (of the tensors, see :func:`tensor_sha256`) and an optional
certificate. Reading checks the raw header before safetensors allocates anything, then every
schema rule; any failure is one :class:`ArtifactError` naming the file and the problem.
The spec is docs/format.md.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from ._io import atomic_write

FORMAT_VERSION = 1
METADATA_KEY = "synthgen"
REQUIRED = {"images": torch.float32, "labels": torch.int64, "task_ids": torch.int64}
OPTIONAL = {"soft_labels": torch.float32}
# byte sizes of safetensors dtypes, to check offsets before loading; the schema check then
# reports a wrong dtype as expected-vs-found
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 8 << 20          # metadata + tensor table; a real header is a few KiB
MAX_FILE_BYTES = 4 << 30            # a synthetic set is small by construction
MAX_TENSORS = 16
SOFT_LABEL_TOLERANCE = 1e-3
MAX_TASKS = 1_000                   # caps on what metadata may claim, checked before any loop over it
MAX_CLASSES = 100_000


class ArtifactError(ValueError):
    """The file is not a valid synthgen artifact. The message names the file and the problem."""


def tensor_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of each tensor in name order.

    Independent of the header metadata, so embedding a certificate keeps the hash.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{str(t.dtype).removeprefix('torch.')}|{list(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


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


def recipe_momentum(recipe: dict) -> float:
    """The recipe's SGD momentum; an artifact without the (optional) field means plain SGD, 0."""
    return recipe.get("momentum", 0.0)


def _fail(path, msg: str) -> ArtifactError:
    return ArtifactError(f"{path}: {msg}")


def validate(tensors: dict[str, torch.Tensor], meta: dict, where: str | os.PathLike = "artifact") -> None:
    """Every schema and consistency rule; raises ArtifactError on the first violation."""
    names = set(tensors)
    if missing := set(REQUIRED) - names:
        raise _fail(where, f"missing tensor(s) {sorted(missing)}; expected {sorted(REQUIRED)} (+ optional {sorted(OPTIONAL)})")
    if extra := names - set(REQUIRED) - set(OPTIONAL):
        raise _fail(where, f"unexpected tensor(s) {sorted(extra)}; expected {sorted(REQUIRED)} (+ optional {sorted(OPTIONAL)})")
    for name, t in tensors.items():
        want = {**REQUIRED, **OPTIONAL}[name]
        if t.dtype != want:
            raise _fail(where, f"tensor '{name}' has dtype {str(t.dtype).removeprefix('torch.')}, expected {str(want).removeprefix('torch.')}")
    if not isinstance(meta, dict):
        raise _fail(where, "metadata is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _fail(where, f"unknown format_version {meta.get('format_version')!r}; this synthgen reads {FORMAT_VERSION}")
    for key in ("source", "tasks", "scenario", "recipe", "sha256"):
        if key not in meta:
            raise _fail(where, f"metadata lacks '{key}'")
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
    if (not isinstance(tasks, list) or not tasks
            or not all(isinstance(t, list) and t and all(isinstance(c, int) for c in t) for t in tasks)):
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
        if not torch.isfinite(soft).all() or (soft < 0).any() or not torch.allclose(soft.sum(1), torch.ones(n), atol=SOFT_LABEL_TOLERANCE):
            raise _fail(where, "soft_labels must be finite probability rows (>= 0, summing to 1)")
    recipe = meta["recipe"]
    lrs = recipe.get("lr_per_task") if isinstance(recipe, dict) else None
    if not isinstance(lrs, list) or len(lrs) != len(tasks) or not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in lrs):
        raise _fail(where, f"recipe.lr_per_task must list {len(tasks)} positive finite numbers")
    want_soft = recipe.get("targets") == "soft_labels"
    if recipe.get("targets") not in ("soft_labels", "labels") or want_soft != ("soft_labels" in tensors):
        raise _fail(where, f"recipe.targets is {recipe.get('targets')!r} but the file "
                           f"{'has' if 'soft_labels' in tensors else 'has no'} soft_labels tensor")
    momentum = recipe_momentum(recipe)
    if not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
        raise _fail(where, f"recipe.momentum must be a number in [0, 1), got {momentum!r}")
    steps = recipe.get("steps_per_task")
    if not isinstance(steps, int) or steps < 1:
        raise _fail(where, "recipe.steps_per_task must be a positive integer")
    actual = tensor_sha256(tensors)
    if meta["sha256"] != actual:
        raise _fail(where, f"sha256 mismatch: metadata says {str(meta['sha256'])[:16]}..., tensors hash to {actual[:16]}... "
                           "(file corrupted or tampered)")


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key(s) {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def read_header(path: str | os.PathLike) -> tuple[dict, dict]:
    """Parse and check the raw safetensors header before anything is allocated.

    Returns (tensor table, string metadata). Checks sizes, UTF-8/JSON, duplicate keys, dtypes,
    shapes vs byte ranges, and that the byte ranges tile the data section exactly.
    """
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise _fail(path, f"file is {size} bytes, over the {MAX_FILE_BYTES} byte cap")
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _fail(path, f"truncated: {size} bytes, too short for a safetensors header")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > MAX_HEADER_BYTES:
            raise _fail(path, f"header length {hlen} over the {MAX_HEADER_BYTES} byte cap")
        if 8 + hlen > size:
            raise _fail(path, f"truncated: header claims {hlen} bytes, file has {size - 8} after the length")
        raw = fh.read(hlen)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError) as err:
        raise _fail(path, f"header is not valid UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise _fail(path, "header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _fail(path, "header __metadata__ must map strings to strings")
    if len(header) > MAX_TENSORS:
        raise _fail(path, f"{len(header)} tensors, over the cap of {MAX_TENSORS}")
    spans = []
    for name, info in header.items():
        try:
            width, shape, (lo, hi) = DTYPE_SIZES.get(info["dtype"]), [int(v) for v in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise _fail(path, f"tensor '{name}' has a malformed header entry") from None
        if width is None:
            raise _fail(path, f"tensor '{name}' has unsupported dtype {info['dtype']!r}")
        if any(d < 0 for d in shape) or not (isinstance(lo, int) and isinstance(hi, int)) or not 0 <= lo <= hi:
            raise _fail(path, f"tensor '{name}' has a negative dimension or bad offsets")
        if math.prod(shape) * width != hi - lo:
            raise _fail(path, f"tensor '{name}' shape {shape} needs {math.prod(shape) * width} bytes, offsets give {hi - lo}")
        spans.append((lo, hi, name))
    pos = 0
    for lo, hi, name in sorted(spans):
        if lo != pos:
            raise _fail(path, f"tensor '{name}' offsets overlap or leave a gap at byte {pos}")
        pos = hi
    if 8 + hlen + pos != size:
        raise _fail(path, f"truncated or padded: data section is {size - 8 - hlen} bytes, header describes {pos}")
    return header, meta


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Read and fully validate an artifact file."""
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    _, strmeta = read_header(path)
    if METADATA_KEY not in strmeta:
        raise _fail(path, f"no '{METADATA_KEY}' metadata in the header: not a synthgen artifact")
    try:
        meta = json.loads(strmeta[METADATA_KEY], object_pairs_hook=_reject_duplicates)
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
