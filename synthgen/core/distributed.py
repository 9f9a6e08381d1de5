"""torch.distributed glue: which rank am I, and the few collectives synthgen needs.

Launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), :func:`init_from_env` starts a
process group: gloo on CPU, nccl on CUDA. Without it every helper is the single-process identity,
so the engine and the verifier run the same code either way.

The scheme (docs/scaling.md): every outer step draws ``inits_per_step`` learners from
``generator(seed, stage, step)`` exactly as a single process would; learner ``i`` belongs to
gradient chunk ``i % C`` (C = max(grad_chunks, world)) and chunk ``c`` runs on rank ``c % world``.
Chunk gradients are exchanged exactly and summed in chunk order, so every rank applies the same
Adam step, holds the same synthetic data, and matches a single process with the same C. The RNG
scheme does not involve the rank, so a checkpoint resumes under any process count.
"""

from __future__ import annotations

import datetime as _dt
import os

import torch
import torch.distributed as dist

from synthgen.core.errors import SynthgenError


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world() -> int:
    return dist.get_world_size() if is_active() else 1


def is_main() -> bool:
    return rank() == 0


def wanted() -> bool:
    """True when launched by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto", timeout_s: float = 120.0) -> str:
    """Start the process group if torchrun asked for one; returns the device this rank should use."""
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if wanted() and not is_active():
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=_dt.timedelta(seconds=timeout_s))
    if cuda and is_active():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu" if not cuda else device if device != "auto" else "cuda"


def claim(counter: str) -> int:
    """The next value of the shared counter ``counter`` (0, 1, 2, ...; each value goes to exactly one rank):
    a work queue over the process group's own key-value store (the one torchrun's rendezvous set up)."""
    if not is_active():
        raise RuntimeError("claim() needs a process group")
    return int(_store().add(counter, 1)) - 1


def _store() -> dist.Store:
    """The process group's key-value store (the one torchrun's rendezvous set up)."""
    return dist.distributed_c10d._get_default_store()


def publish(key: str, value: str) -> None:
    """Leave ``value`` under ``key`` in the process group's key-value store, for :func:`read`."""
    _store().set(key, value)


def read(keys: list[str], timeout_s: float) -> list[str]:
    """The values :func:`publish` left under ``keys``, waiting (at most ``timeout_s``) until every one is there."""
    store = _store()
    store.wait(keys, _dt.timedelta(seconds=timeout_s))
    return [store.get(k).decode() for k in keys]


def my_share(n: int) -> list[int]:
    """Indices of the ``n`` items (learners, jobs) this rank runs: i % world == rank."""
    return [i for i in range(n) if i % world() == rank()]


def sum_chunks(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` [chunks, n], each rank filling its own chunks (zeros elsewhere) -> the sum of every
    chunk, added in chunk order: the same float result for any number of processes."""
    rows = sum_tensor(rows)
    flat = rows[0].clone()
    for c in range(1, len(rows)):
        flat += rows[c]
    return flat


def sum_tensor(t: torch.Tensor) -> torch.Tensor:
    """In-place all-reduce (sum) of ``t`` over ranks; identity in a single process."""
    if is_active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def reduce_scalar(value: float, op: str = "sum", device: str | torch.device = "cpu") -> float:
    """Sum or max of a float over ranks (identity in a single process)."""
    if not is_active():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return float(t.item())


def gather(obj: object) -> list[object]:
    """Every rank's ``obj``, in rank order (on every rank)."""
    if not is_active():
        return [obj]
    out: list[object] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def shutdown() -> None:
    if is_active():
        dist.destroy_process_group()


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; a CUDA device that is not there is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SynthgenError(f"device {name!r} requested but no CUDA device is available")
    return dev
