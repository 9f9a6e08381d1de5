"""Shared CLI plumbing: the console, and turning library errors into one clear line + exit 2."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from synthgen._io import BusyError
from synthgen.artifact import ArtifactError
from synthgen.certificate import CertificateError
from synthgen.checkpoint import CheckpointError
from synthgen.config import ConfigError
from synthgen.engine import GenerationError
from synthgen.hf_export import ExportError
from synthgen.hub import HubError
from synthgen.learners import UnknownLearnerError
from synthgen.sources import SourceError
from synthgen.tasks import TaskSplitError

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2
# OSError covers missing files, permissions and a full disk ("No space left on device")
USER_ERRORS = (ArtifactError, BusyError, CertificateError, CheckpointError, ConfigError, ExportError, GenerationError,
               HubError, UnknownLearnerError, SourceError, TaskSplitError, OSError)


def set_threads(threads: int | None) -> None:
    """Torch CPU threads: None keeps torch's default (every core; OMP_NUM_THREADS, which torchrun
    sets to 1 per process, wins). On a machine that is busy with other jobs, pass 1: an
    oversubscribed 2-core box can be many times slower with 2 threads than with 1."""
    import torch

    if threads is None:
        return
    if threads < 1:
        raise typer.BadParameter("--threads must be >= 1")
    torch.set_num_threads(threads)


def print_error(message: object, label: str = "error") -> None:
    """One red line on stderr, never wrapped (so it stays one line in logs)."""
    err_console.print(f"[bold red]{label}:[/] {message}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a known error as one line on stderr and exit with code 2 (bad input)."""
    try:
        yield
    except USER_ERRORS as err:
        print_error(err)
        raise typer.Exit(EXIT_BAD_INPUT) from None
