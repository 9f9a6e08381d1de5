"""Engine checkpoints: one safetensors file (tensors) whose header carries the JSON state.

Written atomically; read with safetensors only (no pickle). Optimizer state is flattened to
tensors ``opt.<param>.<key>`` with the param groups in the JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from synthgen.core.errors import SynthgenError
from synthgen.core.io import atomic_write

CHECKPOINT_FORMAT = "synthgen-checkpoint/1"


class CheckpointError(SynthgenError, RuntimeError):
    """A checkpoint is missing, unreadable or belongs to another run."""


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Flatten an optimizer's state_dict into (tensors, JSON-able param groups)."""
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"opt.{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, json.loads(json.dumps(sd["param_groups"]))


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    """Inverse of :func:`optimizer_to_tensors` (loads into ``opt``)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], state: dict) -> Path:
    """Atomically write tensors + JSON state."""
    meta = {"format": CHECKPOINT_FORMAT, "state": json.dumps(state)}
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(cpu, str(tmp), metadata=meta))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a synthgen checkpoint (format {meta.get('format')!r})")
        return load_file(str(path)), json.loads(meta["state"])
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from None
