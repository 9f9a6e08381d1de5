"""What generation returns, and how it becomes an artifact (its metadata is specified in docs/format.md)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace

import torch

from synthgen.core.errors import SynthgenError
from synthgen.core.version import versions
from synthgen.data.sources import SourceData
from synthgen.data.tasks import format_split
from synthgen.format.artifact import FORMAT_VERSION, Artifact
from synthgen.format.recipe import make_recipe


class GenerationError(SynthgenError, RuntimeError):
    """Generation cannot go on (persistent non-finite loss, bad resume, unusable device)."""


@dataclass
class StepInfo:
    """What the progress callback receives after each outer step."""

    stage: int
    num_stages: int
    stage_step: int
    stage_steps: int | None  # None under a time budget
    global_step: int
    loss: float | None  # None when the step was skipped (non-finite)
    val_acc: float | None
    elapsed: float


@dataclass
class GenerationResult:
    """Everything the engine learned, ready to become an artifact."""

    images: torch.Tensor
    labels: torch.Tensor
    task_ids: torch.Tensor
    soft_labels: torch.Tensor | None
    lrs: list[float]
    tasks: list
    source: SourceData
    normalisation: dict
    history: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    steps_done: int = 0


def build_metadata(result, cfg) -> dict:
    """Everything a consumer needs, for an engine ``GenerationResult`` made with ``GenerateConfig`` ``cfg``."""
    src = result.source
    sizes = [int((result.task_ids == i).sum()) for i in range(len(result.tasks))]
    val = [h["val_acc"] for h in result.history if "val_acc" in h]
    gen_cfg = {k: v for k, v in cfg.to_dict().items() if k != "device"}
    gen_cfg["source"].pop("data_dir", None)
    return {
        "format_version": FORMAT_VERSION,
        "source": {
            "name": src.name,
            "class_names": src.class_names,
            "image_shape": list(src.image_shape),
            "split": src.split_record(),
            "normalisation": result.normalisation,
            "config": {k: v for k, v in cfg.source.to_dict().items() if k != "data_dir"},
        },
        "tasks": [list(t.classes) for t in result.tasks],
        "task_split": format_split(result.tasks),
        "scenario": cfg.tasks.scenario,
        "recipe": make_recipe(
            result.lrs,
            cfg.inner_steps * cfg.recipe_step_scale,
            sizes,
            cfg.tasks.scenario,
            result.soft_labels is not None,
            replace(cfg.optimiser(), cosine=cfg.recipe_cosine),
            cfg.rehearsal,
            cfg.shift,
            cfg.recipe_dsa,
        ),
        "generation": {
            "config": gen_cfg,
            "run_hash": cfg.run_hash(),
            "archs": list(cfg.learners.archs),
            "seed": cfg.seed,
            "ipc": cfg.ipc,
            "outer_steps": result.steps_done,
            "wall_time_s": round(result.wall_time, 2),
            "final_val_acc": val[-1] if val else None,
        },
        "versions": versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "sha256": "",
    }


def artifact_from_result(result, cfg) -> Artifact:
    """The engine's output with the full metadata a consumer needs (sha256 is set on save)."""
    return Artifact(result.images, result.labels, result.task_ids, build_metadata(result, cfg), result.soft_labels)
