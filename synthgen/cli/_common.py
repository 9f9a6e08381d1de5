"""Shared CLI plumbing: the console, and turning library errors into one clear line + exit 2."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import typer
from rich.console import Console

from synthgen.api import VERDICT_FILE, launch
from synthgen.core.errors import SynthgenError

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


def set_threads(threads: int | None) -> None:
    """Torch CPU threads: None keeps torch's default (every core; OMP_NUM_THREADS, which torchrun
    sets to 1 per process, wins). On a machine that is busy with other jobs, pass 1: an
    oversubscribed 2-core box can be many times slower with 2 threads than with 1."""
    import torch

    if threads is None:
        return
    most = 4 * (os.cpu_count() or 1)
    if not 1 <= threads <= most:
        raise SynthgenError(f"--threads must be between 1 and {most} (4 x this machine's cores), got {threads}")
    torch.set_num_threads(threads)


def print_error(message: object, label: str = "error") -> None:
    """One red line on stderr, never wrapped (so it stays one line in logs)."""
    err_console.print(f"[bold red]{label}:[/] {message}", highlight=False, soft_wrap=True)


# config field -> its option, where the option is not simply --<field name>
OPTION_OF_FIELD = {
    "inits_per_step": "--inits",
    "source.name": "--source",
    "source.data_dir": "--data-dir",
    "tasks.split": "--tasks",
    "tasks.scenario": "--scenario",
    "learners.archs": "--learners",
    "soft_labels": "--soft-labels/--hard-labels",
    "models": "--model",
}


def option_names(fields: tuple[str, ...]) -> str:
    """The command-line options behind config fields (``inits_per_step`` -> ``--inits``)."""
    return ", ".join(OPTION_OF_FIELD.get(f, "--" + f.rsplit(".", 1)[-1].replace("_", "-")) for f in fields)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a synthgen error (bad input, unusable environment) as one line on stderr, exit 2; a config error
    names the option behind it. Anything else is a bug and keeps its traceback."""
    from synthgen.core.config import ConfigError

    try:
        yield
    except ConfigError as err:
        print_error(f"option {option_names(err.fields)}: {err}" if err.fields else err)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except SynthgenError as err:
        print_error(err)
        raise typer.Exit(EXIT_BAD_INPUT) from None


MAX_PROCESSES = 8  # the default processes of verify: one per core up to this many


def default_processes() -> int:
    """One process per core this process may run on, at most MAX_PROCESSES: the verifier's cells train small
    minibatches, where one process per core beats one process with a thread per core (docs/scaling.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES))


def launch_torchrun(nproc: int) -> int:
    """Re-run this very command under torchrun with ``nproc`` processes (``--nproc`` dropped); its exit code."""
    import sys

    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    return launch(nproc, args)


def result_code(code: int) -> int:
    """The exit code for a result: under a --nproc launch, left for the launcher (see :func:`launch_torchrun`)
    and 0 returned."""
    where = os.environ.get(VERDICT_FILE)
    if not where or code == 0:
        return code
    from synthgen.core.io import atomic_write

    atomic_write(where, str(code).encode())
    return 0


class LogLines:
    """Progress for a log that is not a terminal (where a rich bar shows nothing until the end): a plain line
    at most every ``$SYNTHGEN_PROGRESS_EVERY`` seconds (default 30), with the work done, the time elapsed and
    an estimate of the time left. On a terminal it prints nothing: the bar is there."""

    def __init__(self, what: str):
        self.what, self.on = what, not console.is_terminal
        self.every = float(os.environ.get("SYNTHGEN_PROGRESS_EVERY", "30"))
        self.start = self.last = time.monotonic()

    def update(self, done: float, total: float | None, detail: str, unit: str = "") -> None:
        now = time.monotonic()
        if not self.on or now - self.last < self.every:
            return
        self.last, elapsed = now, now - self.start
        left = f", about {elapsed * (total - done) / done:.0f} s left" if total and done else ""
        of = f"{done:.0f}/{total:.0f}{unit}" if total else f"{done:.0f}{unit}"
        print(f"{self.what}: {detail}, {of} done, {elapsed:.0f} s elapsed{left}", flush=True)
