"""``synthgen generate``: learn synthetic task data and write the artifact + a PNG preview.

Its options are GenerateConfig's fields (cli/config_options.py): every option left out keeps the
value of ``--config FILE`` (or the default), every option given wins over it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthgen.api import generate as run_generate
from synthgen.core import distributed as dist
from synthgen.core.errors import SynthgenError
from synthgen.format.artifact import siblings
from synthgen.generation.checkpoint import load_checkpoint
from synthgen.generation.config import GenerateConfig
from synthgen.generation.presets import NO_REHEARSAL, applied, generate_config, preset_names
from synthgen.generation.result import StepInfo
from synthgen.generation.stages import plan_stages
from synthgen.verification.config import VerifyConfig

from ._common import OPTION_OF_FIELD, LogLines, console, launch_torchrun, set_threads, user_errors
from .config_options import with_config_options

app = typer.Typer()


HELP = {
    "source.name": "mnist-5k | digits | mnist | fashion-mnist | kmnist | cifar10 | hf:<name> | imagefolder:<path>",
    "source.data_dir": "folder with the source's files (mnist / fashion-mnist idx files) or its download folder",
    "tasks.split": "task split, classes by ',' and tasks by '/'",
    "tasks.scenario": "class-incremental | task-incremental",
    "learners.archs": "comma-separated zoo learners sampled per step",
    "ipc": "synthetic images per class",
    "soft_labels": "learn soft labels (--hard-labels: one-hot)",
    "init": "where the images start: real | kmeans | noise | dm (k-means, then distribution matching)",
    "init_steps": "init dm: distribution-matching steps of each task's start",
    "init_real": "init dm: real images per class in each of those steps",
    "steps": "total outer steps over the task stages",
    "refine_steps": "then outer steps learning every task's data together, scored after every task; 0 = none",
    "refine_score": "the refine stage's loss over the points after each task: every (alike) | seen (weighted by"
    " the tasks seen)",
    "tail_average": "each task stage ends at its data's mean over this last fraction of its steps; 0 = off",
    "refine_tail": "the refine stage ends at its data's mean over this last fraction of its steps; 0 = its last",
    "feature_weight": "weight of matching each class's mean embedding under a random network to the real"
    " images'; 0 = off",
    "feature_arch": "zoo network whose random bodies embed the images for --feature-weight",
    "rehearsal": "the recipe trains task t on the synthetic sets of tasks 0..t",
    "time_budget": "seconds; replaces --steps",
    "inner_steps": "steps per task the meta-gradient unrolls",
    "recipe_step_scale": "the recipe's steps per task = inner steps x this",
    "inner_lr": "initial recipe lr, learned from there",
    "inner_momentum": "momentum of the recipe's SGD",
    "inner_clip": "the recipe's steps clip the gradient to this L2 norm; 0 = off",
    "shift": "the recipe moves each image by up to this many pixels at every step; 0 = off",
    "recipe_dsa": "the recipe then augments every step by DSA's transformations (meta-trained through)",
    "recipe_cosine": "the recipe's lr then falls to 0 over each task's steps by a cosine (not meta-trained through)",
    "inits_per_step": "learner initialisations per outer step",
    "real_batch": "real images per outer step scoring the unrolled learners",
    "lr_jitter": "meta-train under inner lr x U_log(1/J, J); 1 = off",
    "seed": "random seed",
    "device": "auto | cpu | cuda[:i]",
    "checkpoint_every": "outer steps between checkpoints; 0 = never",
}
MAIN, METHOD, RUN = "What to learn", "The method (advanced)", "Running"
FIRST = (
    "source.name",
    "source.data_dir",
    "tasks.split",
    "tasks.scenario",
    "ipc",
    "rehearsal",
    "steps",
    "time_budget",
    "seed",
)
PANELS = {path: MAIN if path in FIRST else RUN if path in ("device", "checkpoint_every") else METHOD for path in HELP}


@app.command()
@with_config_options(GenerateConfig, HELP, OPTION_OF_FIELD, PANELS)
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="artifact file to write", rich_help_panel=MAIN)] = Path(
        "synthgen.safetensors"
    ),
    preset: Annotated[
        Optional[str],
        typer.Option(
            help=f"a config shipped with synthgen: {' | '.join(preset_names())}; --config and every option win "
            f"over it (default: none; {NO_REHEARSAL} with --no-rehearsal)",
            rich_help_panel=MAIN,
        ),
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="JSON GenerateConfig; options given beside it win", rich_help_panel=MAIN)
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue from the checkpoint next to --out", rich_help_panel=RUN)
    ] = False,
    threads: Annotated[
        Optional[int],
        typer.Option(help="torch CPU threads (default: all cores; 1 on a busy machine)", rich_help_panel=RUN),
    ] = None,
    nproc: Annotated[int, typer.Option(help="processes on this machine (launches torchrun)", rich_help_panel=RUN)] = 1,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="then run `synthgen verify OUT` (its defaults); the cells it needs that do not depend on the data"
            " are computed while generating, on a core taken from generation (one process only)",
            rich_help_panel=RUN,
        ),
    ] = False,
    given: dict | None = None,
) -> None:
    """Learn one synthetic set per task by meta-gradient and write OUT (+ OUT.png preview).

    Under torchrun (or with --nproc N) the learners of each step are spread over the processes;
    rank 0 alone prints, checkpoints and writes.
    """
    with user_errors():
        if verify and (nproc > 1 or dist.wanted()):
            raise SynthgenError("--verify runs beside a one-process generate; after --nproc or torchrun, run "
                                "`synthgen verify OUT`")  # fmt: skip
    if nproc > 1 and not dist.wanted():
        raise typer.Exit(launch_torchrun(nproc))
    with user_errors():
        set_threads(threads)
        cfg = generate_config(config, given, preset)
        ckpt, rank0 = siblings(out).checkpoint, int(os.environ.get("RANK", "0")) == 0
        if not rank0:  # another torchrun process: it learns the same data; rank 0 prints and writes
            run_generate(cfg, out=out, resume=resume)
            return
        if (name := applied(preset, cfg)) is not None:
            console.print(f"preset: {name} (options given win over it)")
        if ckpt.exists():
            if resume:
                console.print(f"resuming at outer step {load_checkpoint(ckpt)[1]['global_step']} from {ckpt}")
            else:
                console.print(f"[yellow]note:[/] {ckpt} exists; starting fresh (use --resume to continue it)")
        prefill = VerifyConfig() if verify else None
        art = with_progress(
            cfg, lambda on_step: run_generate(cfg, out=out, resume=resume, on_step=on_step, prefill=prefill)
        )
    gen = art.metadata["generation"]
    console.print(
        f"artifact: {out}  ({len(art.labels)} images, {len(art.tasks)} tasks, sha256 {art.sha256[:16]}...)",
        soft_wrap=True,
    )
    console.print(f"preview:  {siblings(out).preview}", soft_wrap=True)
    val = gen["final_val_acc"]
    console.print(
        f"time: {gen['wall_time_s']:.1f} s for {gen['outer_steps']} outer steps"
        + (f" on {os.environ['WORLD_SIZE']} processes" if dist.wanted() else "")
        + (f"; validation accuracy after the last task: {val:.3f}" if val is not None else ""),
        soft_wrap=True,
    )
    if verify:
        data_dir = ["--data-dir", cfg.source.data_dir] if cfg.source.data_dir else []
        raise typer.Exit(subprocess.call([sys.executable, "-m", "synthgen", "verify", str(out), *data_dir]))


def with_progress(cfg: GenerateConfig, run):
    """``run(on_step)`` under a rich progress bar (meta-loss, last validation accuracy). The bar appears with
    the first outer step, so an error found while setting up stays one line."""
    num_tasks = len(cfg.tasks.split.split("/"))
    by_time = cfg.time_budget is not None
    total = cfg.time_budget if by_time else sum(s.steps for s in plan_stages(cfg, num_tasks))
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if not by_time else TextColumn("{task.completed:.0f}/{task.total:.0f}s"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    job = bar.add_task("generating", total=total, info="")
    last_val: list[str] = [""]
    log = LogLines("generate")

    def on_step(i: StepInfo) -> None:
        if not bar.live.is_started and console.is_terminal:
            bar.start()
        if i.val_acc is not None:
            last_val[0] = f" val {i.val_acc:.3f}"
        loss = "skipped" if i.loss is None else f"{i.loss:.3f}"
        where = f"task {i.stage + 1}/{num_tasks}" if i.stage < num_tasks else "refining every task"
        bar.update(
            job,
            description=where,
            completed=i.elapsed if by_time else i.global_step,
            info=f"meta-loss {loss}{last_val[0]}",
        )
        detail = f"{where}, meta-loss {loss}{last_val[0]}"
        log.update(i.elapsed if by_time else i.global_step, total, detail, " s" if by_time else " outer steps")

    try:
        return run(on_step)
    finally:
        bar.stop()
