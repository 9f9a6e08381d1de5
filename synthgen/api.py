"""The Python API: ``generate(config) -> Artifact`` and ``load(path) -> Artifact``."""
from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch

from ._version import __version__
from .artifact import FORMAT_VERSION, Artifact, load_artifact
from .config import GenerateConfig
from .engine import Engine, GenerationResult, StepInfo
from .recipe import make_recipe
from .tasks import format_split


def versions() -> dict:
    """Versions recorded in metadata and certificates."""
    return {"synthgen": __version__, "torch": torch.__version__, "python": platform.python_version()}


def artifact_from_result(result: GenerationResult, cfg: GenerateConfig) -> Artifact:
    """Wrap the engine's output with the full metadata a consumer needs."""
    src = result.source
    sizes = [int((result.task_ids == i).sum()) for i in range(len(result.tasks))]
    val = [h["val_acc"] for h in result.history if "val_acc" in h]
    meta = {
        "format_version": FORMAT_VERSION,
        "source": {"name": src.name, "class_names": src.class_names, "image_shape": list(src.image_shape),
                   "split": src.split_record(), "normalisation": result.normalisation,
                   "config": {k: v for k, v in cfg.source.to_dict().items() if k != "data_dir"}},
        "tasks": [list(t.classes) for t in result.tasks],
        "task_split": format_split(result.tasks),
        "scenario": cfg.tasks.scenario,
        "recipe": make_recipe(result.lrs, cfg.inner_steps, sizes, cfg.tasks.scenario),
        "generation": {"config": {k: v for k, v in cfg.to_dict().items() if k not in ("device",)},
                       "run_hash": cfg.run_hash(), "archs": list(cfg.learners.archs), "seed": cfg.seed,
                       "param": cfg.param, "ipc": cfg.ipc, "outer_steps": result.steps_done,
                       "wall_time_s": round(result.wall_time, 2), "final_val_acc": val[-1] if val else None},
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "sha256": "",
    }
    meta["generation"]["config"]["source"].pop("data_dir", None)
    return Artifact(result.images, result.labels, result.task_ids, meta, result.soft_labels)


def generate(config: GenerateConfig | None = None, *, checkpoint: str | os.PathLike | None = None,
             resume: bool = False, on_step: Callable[[StepInfo], None] | None = None) -> Artifact:
    """Learn synthetic task data for ``config`` (defaults: Split-MNIST on mnist-5k)."""
    cfg = config or GenerateConfig()
    result = Engine(cfg, checkpoint_path=checkpoint, resume=resume).run(on_step)
    return artifact_from_result(result, cfg)


def load(path: str | os.PathLike) -> Artifact:
    """Load and validate a synthgen artifact (.safetensors)."""
    return load_artifact(Path(path))
