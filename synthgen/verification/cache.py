"""An on-disk cache of the verification cells that do not depend on the artifact's images.

The peers, the joint bound, the memory-free strategies and the tuning runs are most
of a verification's cost and a function only of the source, the tasks, the learner, the seed and
the method's recipe (synthgen.verification.methods.job_params). Verifying a second artifact made from the
same source (or the same one again) reuses them. A cell is keyed by the sha256 of everything it
depends on, the code that computes it included:

- the source: its name, configuration, split and a digest of its pixels and labels;
- the tasks, the scenario and the normalisation;
- the learner as built for the job: its printed structure and its initial weights (a zoo name
  and a user's ``module:callable`` alike: a changed network is a different key);
- the seed, the split scored, the method and its recipe;
- the synthgen, torch and python versions and a digest of the source code of the modules that
  train and score the cells.

Entries are JSON files written atomically; one that cannot be read or does not hold a well-formed
cell for exactly its key is recomputed and replaced, never trusted. The default folder is
``$SYNTHGEN_CACHE_DIR`` or ``~/.cache/synthgen/verify``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch

from synthgen.core import seeding
from synthgen.core.io import atomic_write, tensor_sha256
from synthgen.core.version import versions
from synthgen.data import sources, tasks
from synthgen.data.sources import SourceData
from synthgen.format import recipe
from synthgen.nn import augment, consumer, inner_loop, learners
from synthgen.verification import memory_free, peers, real_sets, runs

CACHE_FORMAT = 2


ENV = "SYNTHGEN_CACHE_DIR"


_CODE = (runs, inner_loop, learners, peers, memory_free, real_sets, augment, recipe, consumer, seeding, sources, tasks)


def default_cache_dir() -> Path:
    """``$SYNTHGEN_CACHE_DIR``, else ``~/.cache/synthgen/verify``."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "synthgen" / "verify")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_digest() -> str:
    """Digest of the source files of the modules that train and score the cells."""
    return _sha(b"".join(Path(m.__file__).read_bytes() for m in _CODE if m.__file__))[:16]


def source_digest(source: SourceData) -> dict:
    """What identifies a source's data and split: name, configuration, split record, one digest of its pixels,
    labels and train / val indices."""
    cfg = {k: v for k, v in source.config.to_dict().items() if k != "data_dir"}
    tensors = {"images": source.images, "labels": source.labels, "train": source.train_idx, "val": source.val_idx}
    return {"name": source.name, "config": cfg, "split": source.split_record(), "data": tensor_sha256(tensors)[:16]}


def learner_digest(model: torch.nn.Module) -> str:
    """Digest of a freshly built learner: its printed structure, memory format and every initial tensor."""
    layout = [p.is_contiguous() for p in model.parameters()]  # False for a 4-D weight in channels_last
    return _sha(f"{model!r}|{layout}|{tensor_sha256(model.state_dict())}".encode())[:16]


def _well_formed(cell: object) -> bool:
    """A cell as the verifier makes them: lower-triangular matrices of accuracies in [0, 1], a tuning run's
    final accuracy with its test cell, the final figures of a run scored at its end (GDumb), or the joint bound's
    rows (each prefix's accuracy on each of its tasks) with or without its final figures."""

    def accs(v: object) -> bool:
        return isinstance(v, list) and all(isinstance(a, (int, float)) and math.isfinite(a) and 0 <= a <= 1 for a in v)

    if not isinstance(cell, dict):
        return False
    if set(cell) == {"acc", "test"}:  # a tuning run's final validation accuracy, and its run scored on test
        return accs([cell["acc"]]) and _well_formed(cell["test"])
    if set(cell) == {"R", "R_task"}:  # row i: the tasks seen so far
        return all(
            isinstance(m, list) and m and all(accs(row) and len(row) == i + 1 for i, row in enumerate(m))
            for m in cell.values()
        )
    if set(cell) == {"acc", "per_task", "seen_curve"}:  # GDumb
        return accs([cell["acc"]]) and accs(cell["per_task"]) and accs(cell["seen_curve"])
    if set(cell) in ({"acc", "per_task", "rows"}, {"rows"}):  # the joint bound; its earlier prefixes alone
        rows_ok = isinstance(cell["rows"], list) and all(accs(row) and row for row in cell["rows"])
        return rows_ok and (set(cell) == {"rows"} or (accs([cell["acc"]]) and accs(cell["per_task"])))
    return False


class CellCache:
    """Cells on disk under ``root``, one JSON file per key; counts what it reused and what was computed."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.reused = 0
        self.computed = 0
        self._context: dict = {}

    def bind(self, source: SourceData, task_list: list, scenario: str, norm: dict) -> None:
        """Set what every key of this verification shares (source, tasks, scenario, normalisation, code) and
        start counting afresh."""
        self.reused = self.computed = 0
        self._context = {
            "format": CACHE_FORMAT,
            "source": source_digest(source),
            "tasks": task_list,
            "scenario": scenario,
            "normalisation": norm,
            "versions": versions(),
            "code": code_digest(),
        }

    def inputs(self, model: torch.nn.Module, job: dict, params: dict) -> dict:
        """Everything the cell of ``job`` (its fields as a dict) depends on."""
        return {**self._context, "learner": learner_digest(model), "job": job, "params": params}

    def _path(self, inputs: dict) -> Path:
        key = _sha(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())
        return self.root / key[:2] / f"{key}.json"

    def get(self, inputs: dict) -> dict | None:
        """The cached cell for ``inputs``, or None (missing, unreadable, or not a well-formed cell for them)."""
        try:
            entry = json.loads(self._path(inputs).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if (
            not isinstance(entry, dict)
            or entry.get("inputs") != json.loads(json.dumps(inputs))
            or not _well_formed(entry.get("cell"))
        ):
            return None
        self.reused += 1
        return entry["cell"]

    def put(self, inputs: dict, cell: dict) -> None:
        """Store a computed cell (atomically; a cache that cannot be written is skipped, the result kept)."""
        self.computed += 1
        blob = json.dumps({"inputs": inputs, "cell": cell}, sort_keys=True).encode()
        try:
            atomic_write(self._path(inputs), blob)
        except OSError:
            pass
