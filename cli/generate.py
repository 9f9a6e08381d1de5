"""``synthgen generate``: learn synthetic task data and write the artifact + a PNG preview."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthgen import distributed as dist
from synthgen._io import exclusive
from synthgen.api import artifact_from_result
from synthgen.artifact import save_artifact
from synthgen.config import GenerateConfig, LearnerConfig, SourceConfig, TaskConfig
from synthgen.engine import Engine, StepInfo
from synthgen.plots import sample_grid
from synthgen.seeding import seed_everything

from ._common import console, set_threads, user_errors

app = typer.Typer()
D = GenerateConfig()


def checkpoint_path(out: Path) -> Path:
    """Where generate keeps its checkpoint for ``out``."""
    return out.with_name(out.name.removesuffix(".safetensors") + ".ckpt.safetensors")


def preview_path(out: Path) -> Path:
    """The PNG sample grid written next to ``out``."""
    return out.with_name(out.name.removesuffix(".safetensors") + ".png")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="artifact file to write")] = Path("synthgen.safetensors"),
    source: Annotated[str, typer.Option(help="mnist-5k | digits | mnist | fashion-mnist | kmnist | cifar10 | hf:<name>")] = D.source.name,
    tasks: Annotated[str, typer.Option(help="task split, e.g. '0,1/2,3/4,5/6,7/8,9'")] = D.tasks.split,
    scenario: Annotated[str, typer.Option(help="class-incremental | task-incremental")] = D.tasks.scenario,
    ipc: Annotated[int, typer.Option(help="synthetic images per class")] = D.ipc,
    param: Annotated[str, typer.Option(help="pixels | generator")] = D.param,
    learners: Annotated[str, typer.Option(help="comma-separated architectures sampled per step")] = ",".join(D.learners.archs),
    steps: Annotated[int, typer.Option(help="total outer steps (later tasks get more)")] = D.steps,
    time_budget: Annotated[Optional[float], typer.Option(help="seconds; replaces --steps")] = None,
    inner_steps: Annotated[int, typer.Option(help="SGD steps per task in the recipe")] = D.inner_steps,
    inner_lr: Annotated[float, typer.Option(help="initial inner (recipe) learning rate; learned from there")] = D.inner_lr,
    inner_momentum: Annotated[float, typer.Option(help="momentum of the recipe's SGD (torch.optim.SGD, fresh per task)")] = D.inner_momentum,
    inits: Annotated[int, typer.Option(help="learner initialisations per outer step")] = D.inits_per_step,
    refine_steps: Annotated[int, typer.Option(help="final steps refining all tasks jointly")] = D.refine_steps,
    lr_jitter: Annotated[float, typer.Option(help="meta-train under inner lr x U_log(1/J, J) (robustness; 1 = off)")] = D.lr_jitter,
    backprop_steps: Annotated[int, typer.Option(help="truncated back-propagation: differentiate only the last N inner steps per task (0: all)")] = D.backprop_steps,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="meta-train on randomly rotated/scaled/shifted copies (DSA-style)")] = D.augment,
    init: Annotated[str, typer.Option(help="where the synthetic images start: real | kmeans | noise")] = D.init,
    hard_labels: Annotated[bool, typer.Option("--hard-labels", help="do not learn soft labels")] = False,
    seed: Annotated[int, typer.Option(help="random seed")] = D.seed,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = D.device,
    checkpoint_every: Annotated[int, typer.Option(help="outer steps between checkpoints (0: never)")] = D.checkpoint_every,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the checkpoint next to --out")] = False,
    config: Annotated[Optional[Path], typer.Option(help="JSON GenerateConfig; replaces the options above")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: all cores; 1 on a busy machine)")] = None,
    nproc: Annotated[int, typer.Option(help="processes on this machine (launches torchrun)")] = 1,
) -> None:
    """Learn one synthetic set per task by meta-gradient and write OUT (+ OUT.png preview).

    Under torchrun (or with --nproc N) the learners of each step are spread over the processes;
    rank 0 alone prints, checkpoints and writes.
    """
    if nproc > 1 and not dist.wanted():
        raise typer.Exit(launch_torchrun(nproc))
    set_threads(threads)
    with user_errors():
        if dist.wanted():
            device = dist.init_from_env(device)
        if config is not None:
            cfg = GenerateConfig.from_dict(json.loads(config.read_text()))
        else:
            cfg = GenerateConfig(
                source=SourceConfig(name=source), tasks=TaskConfig(split=tasks, scenario=scenario),
                learners=LearnerConfig(archs=tuple(a.strip() for a in learners.split(",") if a.strip())),
                param=param, ipc=ipc, steps=steps, time_budget=time_budget, inner_steps=inner_steps, inner_lr=inner_lr,
                inner_momentum=inner_momentum, inits_per_step=inits, refine_steps=refine_steps, backprop_steps=backprop_steps, lr_jitter=lr_jitter,
                augment=augment, init=init, soft_labels=not hard_labels, seed=seed, device=device, checkpoint_every=checkpoint_every)
        seed_everything(cfg.seed)  # the engine uses its own seeded generators; this pins torch's knobs too
        ckpt = checkpoint_path(out)
        if ckpt.exists() and not resume and dist.is_main():
            console.print(f"[yellow]note:[/] {ckpt} exists; starting fresh (use --resume to continue it)")
        engine = Engine(cfg, checkpoint_path=ckpt, resume=resume)
        if not dist.is_main():
            engine.run()
            dist.shutdown()
            return
        with exclusive(out):  # a second generate to the same --out fails at once, clearly
            if engine.global_step:
                console.print(f"resuming at outer step {engine.global_step} (stage {engine.stage + 1}/{len(engine.stages)})")
            result = run_with_progress(engine)
            art = artifact_from_result(result, cfg)
            path = save_artifact(art, out)
            del engine  # frees the replay pool before the preview imports matplotlib/torchvision (peak RSS)
            png = sample_grid(art.images, art.task_ids, art.labels, art.metadata["source"]["normalisation"],
                              art.metadata["source"]["class_names"], preview_path(out))
            ckpt.unlink(missing_ok=True)
        processes = dist.world()
        dist.shutdown()
    val = art.metadata["generation"]["final_val_acc"]
    console.print(f"artifact: {path}  ({len(art.labels)} images, {len(art.tasks)} tasks, sha256 {art.sha256[:16]}...)",
                  soft_wrap=True)
    console.print(f"preview:  {png}", soft_wrap=True)
    console.print(f"time: {result.wall_time:.1f} s for {result.steps_done} outer steps"
                  + (f" on {processes} processes" if processes > 1 else "")
                  + (f"; validation accuracy after the last task: {val:.3f}" if val is not None else ""), soft_wrap=True)


def launch_torchrun(nproc: int) -> int:
    """Re-run this very command under torchrun on this machine with ``nproc`` processes."""
    import subprocess
    import sys

    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "synthgen", *args]
    return subprocess.call(cmd)


def run_with_progress(engine: Engine):
    """engine.run() under a rich progress bar (meta-loss, last validation accuracy)."""
    cfg = engine.cfg
    by_time = cfg.time_budget is not None
    total = cfg.time_budget if by_time else sum(s["steps"] for s in engine.stages)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn() if not by_time
                  else TextColumn("{task.completed:.0f}/{task.total:.0f}s"), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        job = bar.add_task("generating", total=total, info="", completed=engine.elapsed if by_time else engine.global_step)
        last_val: list[str] = [""]

        def on_step(i: StepInfo) -> None:
            if i.val_acc is not None:
                last_val[0] = f" val {i.val_acc:.3f}"
            loss = "skipped" if i.loss is None else f"{i.loss:.3f}"
            bar.update(job, description=f"task {min(i.stage, len(engine.tasks) - 1) + 1}/{len(engine.tasks)}"
                       + (" (refine)" if i.stage >= len(engine.tasks) else ""),
                       completed=i.elapsed if by_time else i.global_step, info=f"meta-loss {loss}{last_val[0]}")

        return engine.run(on_step)
