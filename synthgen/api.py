"""The Python API: ``generate(config) -> Artifact``, ``load(ref) -> Artifact``, ``verify(artifact) -> certificate``."""
from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable

from ._version import versions
from .artifact import FORMAT_VERSION, Artifact
from .certificate import make_certificate
from .config import GenerateConfig, VerifyConfig
from .engine import Engine, GenerationResult, StepInfo
from .recipe import make_recipe
from .resolve import resolve_artifact
from .tasks import format_split
from .verify import Job, arch_groups, gather, judge, run_grid, source_for


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
        "recipe": make_recipe(result.lrs, cfg.inner_steps, sizes, cfg.tasks.scenario, result.soft_labels is not None,
                              cfg.inner_momentum),
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


def load(ref: str | os.PathLike) -> Artifact:
    """Load and validate an artifact: a .safetensors file, an export folder, or a hub repo ``org/name[@rev]``."""
    return resolve_artifact(ref)


def verify(artifact: Artifact | str | os.PathLike, config: VerifyConfig | None = None, *,
           data_dir: str | None = None, on_job: Callable[[int, int, Job], None] | None = None) -> dict:
    """Retrain fresh learners in sequence on ``artifact`` and return its certificate (a dict)."""
    art = artifact if isinstance(artifact, Artifact) else resolve_artifact(artifact)
    cfg = config or VerifyConfig()
    source = source_for(art, data_dir)
    groups = arch_groups(art, cfg)
    t0 = time.perf_counter()
    jobs, cells = run_grid(art, cfg, source, on_job)
    results = gather(jobs, cells, groups)
    ok, reasons = judge(results, cfg)
    return make_certificate(art, cfg, groups, results, ok, reasons, wall_time_s=round(time.perf_counter() - t0, 2))
