"""A verification's artifact-independent cells, computed while the data is still being generated.

The peers, the joint bound, the memory-free strategies and every tuning run depend on the source, the tasks, the
learners and the verify config, not on the images or the lrs a generation learns (synthgen.verification.cache).
An artifact's shape and metadata are fixed before its first outer step, so ``synthgen generate --verify`` hands the
artifact as it starts to :class:`Prefill`: one process that runs those cells into the verify cache while the data
is learned, stopped when generation ends. The verification that follows reuses every cell it finished.

The process takes one core (one torch thread), and generation runs on one thread fewer until the process has
finished its cells, then on every thread again (docs/verification.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from synthgen.data.sources import SourceData
from synthgen.format.artifact import Artifact, load_artifact, save_artifact
from synthgen.verification.cache import CellCache
from synthgen.verification.config import VerifyConfig
from synthgen.verification.grid import bind, cell, score, slots
from synthgen.verification.lineup import sized_for, source_for
from synthgen.verification.methods import Job, Kind
from synthgen.verification.schedule import Board


def independent(job: Job) -> bool:
    """Does ``job``'s cell depend on nothing a generation learns (neither the images nor the recipe's lrs)?"""
    return not job.method.uses_images and job.method.kind is not Kind.REAL_IN_PLACE


def prefill(
    art: Artifact, cfg: VerifyConfig, source: SourceData, cache: CellCache, wanted: Callable[[], bool] = lambda: True
) -> int:
    """Run the artifact-independent jobs of ``art``'s verification grid into ``cache``, in the grid's order (the
    tuning runs first), while ``wanted()``; the number of jobs run (cells already in the cache count, at no cost)."""
    bind(cache, art, source)
    cfg = sized_for(cfg, art, source)
    board, done = Board("prefill"), 0
    for slot in slots(art, cfg):
        if not wanted():
            break
        job = slot(board)  # a job chosen by tuning reads its tuning runs' scores: they come earlier in the grid
        if not independent(job):
            continue
        out = cell(job, art, source, cfg, cache)
        if job.split == "val":
            board.post(job, score(out))
        done += 1
    return done


class Prefill:
    """:func:`prefill` for ``art`` in a background process (one torch thread); :meth:`stop` ends it (its finished cells
    stay in the cache; the one it was computing is dropped, never half-written)."""

    def __init__(self, art: Artifact, cfg: VerifyConfig, cache_dir: str | os.PathLike | None, data_dir: str | None):
        self._folder = tempfile.TemporaryDirectory(prefix="synthgen-prefill-")
        path = save_artifact(art, Path(self._folder.name) / "planned.safetensors")
        args = [str(path), json.dumps(cfg.to_dict()), str(cache_dir or ""), data_dir or ""]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"import sys; from {__name__} import main; main(sys.argv[1:])", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )

    def running(self) -> bool:
        """Is the process still computing cells (not yet finished, stopped or dead)?"""
        return self.process.poll() is None

    def stop(self) -> None:
        """End the process (at once) and remove its files."""
        if self.running():
            self.process.terminate()
        self.process.wait()
        self._folder.cleanup()


def main(argv: list[str]) -> None:
    """The prefill process: ``argv`` is (artifact path, VerifyConfig JSON, cache folder or "", data folder or "")."""
    path, cfg, cache_dir, data_dir = argv
    sys.modules.setdefault("triton", None)  # torch.func would import it for nothing (synthgen.cli.main)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop: the cell being written is removed (atomic_write)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops generation, which stops this process
    parent, art = os.getppid(), load_artifact(path)

    def generating() -> bool:  # False once orphaned: the generation that started this process has died
        return os.getppid() == parent

    source, cache = source_for(art, data_dir or None), CellCache(cache_dir or None)
    prefill(art, VerifyConfig.from_dict(json.loads(cfg)), source, cache, generating)
