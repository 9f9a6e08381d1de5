"""Spread the verifier's jobs over processes with no barrier between the tuning runs and the jobs they decide.

The grid is one ordered list of slots. A slot is a job, or a job whose lr and second setting are chosen by
tuning runs earlier in the list: it reads their validation scores from a :class:`Board` when a process takes
it, and waits there only while one of those runs is still going on another process. Each process takes the
next untaken slot until none is left (one shared counter under torchrun), so the processes stay busy from the
first job to the last. Every job is its own seeded computation, so the cells do not depend on who ran them or
when.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from synthgen.core import distributed as dist
from synthgen.verification.methods import Job, Setting

Choice = tuple[float, Setting | None]  # a tuned method's (lr, second setting)
WAIT_S = 6 * 3600.0  # a process waits this long for a tuning run that another process is running


class Board:
    """The tuning runs' final validation scores, shared by every process: (arch, method, (lr, setting)) -> score.
    In one process a dict; under torchrun also the process group's key-value store."""

    def __init__(self, name: str):
        self.name = name
        self.scores: dict[tuple[str, str, Choice], float] = {}

    def _key(self, arch: str, method: str, choice: Choice) -> str:
        return f"{self.name}/{arch}/{method}/{choice[0]!r}/{choice[1]!r}"

    def post(self, job: Job, score: float) -> None:
        """Record the score of the tuning ``job``."""
        self.scores[job.arch, job.method.name, (job.lr, job.setting)] = score
        if dist.is_active():
            dist.publish(self._key(job.arch, job.method.name, (job.lr, job.setting)), repr(score))

    def read(self, arch: str, method: str, choices: list[Choice]) -> dict[Choice, float]:
        """The scores of ``method`` on ``arch`` at each of ``choices``, waiting for those another process runs."""
        missing = [c for c in choices if (arch, method, c) not in self.scores]
        if missing:
            if not dist.is_active():
                raise RuntimeError(f"tuning runs {missing} of {method} on {arch} have not run")
            values = dist.read([self._key(arch, method, c) for c in missing], WAIT_S)
            self.scores.update({(arch, method, c): float(v) for c, v in zip(missing, values)})
        return {c: self.scores[arch, method, c] for c in choices}


Slot = Callable[[Board], Job]  # a job of the grid, given the tuning scores it depends on
Ran = dict[int, tuple[Job, dict, float]]  # slot index -> (its job, its cell, seconds)


def spread(
    name: str,
    slots: list[Slot],
    run: Callable[[Job], dict],
    score: Callable[[dict], float],
    on_job: Callable[[int, int, Job], None] | None = None,
) -> tuple[Ran, list[int]]:
    """Run every slot (``run`` computes a job's cell; a tuning job's ``score`` of it goes on the board) and return
    every slot's (job, cell, seconds), on every process, and how many slots each process ran."""
    board, queue, done = Board(name), f"{name}/queue", {}
    i = dist.claim(queue) if dist.is_active() else 0
    while i < len(slots):
        job = slots[i](board)
        t0 = time.perf_counter()
        out = run(job)
        if job.split == "val":
            board.post(job, score(out))
        done[i] = (job, out, time.perf_counter() - t0)
        if on_job:
            on_job(i + 1, len(slots), job)  # i: how far the whole group has taken
        i = dist.claim(queue) if dist.is_active() else i + 1
    counts = []
    for part in dist.gather(done):
        done.update(part)
        counts.append(len(part))
    return done, counts
