"""The outer loop: learn each task's synthetic data by meta-gradient, one stage per task.

Stage t trains task t's variables (pixels or generator, soft labels, lr); tasks < t are frozen.
Each outer step (synthgen.generation.meta_step) draws fresh learners, trains them through the synthetic
tasks 0..t with the recipe, scores them on REAL data of tasks 0..t and back-propagates through
the whole unrolled training into the synthetic data; Adam takes the step. Later tasks get more
steps (weight t+1): their data must teach the new classes *and* protect every old one. A task stage ends
at the mean of its data over the last ``tail_average`` of its steps (the refine stage: ``refine_tail``),
not at the last noisy Adam iterate (synthgen.generation.stages).

Every step's randomness comes from ``generator(seed, "step", stage, step)``, so a resumed run
repeats the uninterrupted one exactly; :meth:`Engine.state_dict` is everything a checkpoint holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from synthgen.core import distributed as dist
from synthgen.core.errors import SynthgenError
from synthgen.core.seeding import derive_seed, generator
from synthgen.data.sources import SourceData, load_source
from synthgen.data.tasks import split_classes
from synthgen.generation.checkpoint import (
    CheckpointError,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from synthgen.generation.config import GenerateConfig
from synthgen.generation.feature_matching import StartBudget, step_feature_loss
from synthgen.generation.initial_images import initial_images
from synthgen.generation.meta_step import MetaGradient, draw
from synthgen.generation.realdata import RealView
from synthgen.generation.result import GenerationError, GenerationResult, StepInfo
from synthgen.generation.stages import Stage, TailAverage, plan_stages
from synthgen.generation.synthetic import SyntheticTask
from synthgen.nn.consumer import validation_accuracy
from synthgen.nn.inner_loop import rehearsed
from synthgen.nn.learners import check_archs

MAX_BAD_STEPS = 20  # consecutive non-finite outer steps before generation gives up


PROGRESS_KEYS = ("stage", "stage_step", "global_step", "elapsed", "stage_elapsed", "bad_steps", "history")


class Engine:
    """Stateful generator: ``run()`` until done, checkpointing on the way."""

    def __init__(
        self,
        config: GenerateConfig,
        source: SourceData | None = None,
        checkpoint_path: str | Path | None = None,
        resume: bool = False,
    ):
        check_archs(config.learners.archs)
        self.cfg = config
        self.device = dist.resolve_device(config.device)
        self.source = source if source is not None else load_source(config.source)
        self.tasks = split_classes(config.tasks.split, self.source.class_names)
        self.norm = self.source.normalisation()
        self.real = RealView.of(self.source, self.tasks, self.norm, config.tasks.scenario, self.device)
        task_incremental = config.tasks.scenario == "task-incremental"
        self.synth = torch.nn.ModuleList(
            SyntheticTask(
                t.classes,
                config.ipc,
                self.source.image_shape,
                self.source.num_classes,
                self._init_images(t),
                config.inner_lr,
                config.soft_labels,
                config.learn_lr,
                task_incremental,
                seed=derive_seed(config.seed, "task", t.index),
            )
            for t in self.tasks
        ).to(self.device)
        self.stages = plan_stages(config, len(self.tasks))
        self.meta = MetaGradient(config, self.source.image_shape, self.source.num_classes, self.device)
        self.stage, self.stage_step, self.global_step = 0, 0, 0
        self.elapsed, self.stage_elapsed, self.bad_steps = 0.0, 0.0, 0
        self.history: list[dict] = []
        self.tail = TailAverage(config.tail_average, config.refine_tail)
        self.opt: torch.optim.Optimizer | None = None
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self.load_state_dict(*load_checkpoint(self.checkpoint_path), where=self.checkpoint_path)

    def _init_images(self, task, how: str | None = None) -> torch.Tensor | None:
        """Task ``task``'s starting images; under init "dm" its k-means start until :meth:`run` begins its stage."""
        how = how or ("kmeans" if self.cfg.init == "dm" else self.cfg.init)
        if how == "noise":
            return None
        try:
            return initial_images(
                self.real.train_x.cpu(),
                self.real.train_y.cpu(),
                task.classes,
                self.cfg.ipc,
                how,
                generator(self.cfg.seed, "init", task.index),
                self.source.num_classes,
                StartBudget(self.cfg.init_steps, self.cfg.init_real),
            )
        except SynthgenError as err:
            raise GenerationError(str(err)) from None

    def _make_optimizer(self, stage: Stage) -> torch.optim.Optimizer:
        """Adam over the stage's tasks; the refine stage keeps each task's lr (learning it there made the data
        fragile under the stress recipes)."""
        lr_lr = None if stage.refine else self.cfg.lr_lr
        return torch.optim.Adam(
            [g for t in stage.tasks for g in self.synth[t].param_groups(self.cfg.outer_lr, self.cfg.label_lr, lr_lr)]
        )

    def step(self) -> float | None:
        """One outer step of the current stage; None (and no change) when its meta-loss is not finite."""
        st = self.stages[self.stage]
        params = [p for grp in self.opt.param_groups for p in grp["params"]]
        loss = self.meta(self.synth, st.tasks, draw(self.cfg, self.stage, self.stage_step, st, self.real), params)
        if self.cfg.feature_weight > 0:
            extra = self._feature_term(st.tasks)
            for p, g in zip(params, torch.autograd.grad(extra, params, allow_unused=True)):
                if g is not None:
                    p.grad = p.grad + g
        if not (math.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in params)):
            self.opt.zero_grad(set_to_none=True)
            self.bad_steps += 1
            if self.bad_steps >= MAX_BAD_STEPS:
                raise GenerationError(
                    f"meta-loss was non-finite for {self.bad_steps} consecutive steps "
                    f"(stage {self.stage}); lower outer_lr / inner_lr"
                )
            return None
        self.bad_steps = 0
        self.opt.step()
        return loss

    def _feature_term(self, tasks: tuple[int, ...]) -> torch.Tensor:
        """``feature_weight`` x the tasks' distribution-matching distance (one random ``feature_arch`` network per
        outer step, synthgen.generation.feature_matching). It needs no learner, so every rank adds the same gradient."""
        sets = [(self.synth[t].images(), self.synth[t].labels) for t in tasks]
        return (
            step_feature_loss(
                self.cfg.feature_arch,
                self.cfg.seed,
                self.global_step,
                sets,
                self.real.train_x,
                self.real.train_y,
                self.source.num_classes,
            )
            * self.cfg.feature_weight
        )

    def validation_accuracy(self, upto: int, steps: int | None = None, learners: int = 2) -> float:
        """Real validation accuracy on tasks 0..upto of ``learners`` fresh learners trained on the synthetic tasks
        (the verifier's protocol: torch.optim, ``steps`` per task (default: the unrolled K), scored in eval mode)."""
        with torch.no_grad():
            batches = [self.synth[t].materialize(detach=True) for t in range(upto + 1)]
            if self.cfg.rehearsal:
                batches = rehearsed(batches)
        data = [
            (b.images.cpu(), b.targets.cpu(), None if b.class_mask is None else b.class_mask.cpu()) for b in batches
        ]
        val, masks = self.real.val_sets(upto)
        return validation_accuracy(
            data,
            [float(b.lr) for b in batches],
            steps or self.cfg.inner_steps,
            self.meta.optimiser,
            self.cfg.learners.archs,
            self.source.image_shape,
            self.source.num_classes,
            val,
            masks,
            self.cfg.seed,
            learners,
            self.cfg.shift,
        )

    def _spend(self, since: float) -> None:
        """Add the seconds since ``since`` (the ranks' max: they agree on time budgets) to the run's and stage's."""
        dt = dist.reduce_scalar(time.perf_counter() - since, "max")
        self.elapsed, self.stage_elapsed = self.elapsed + dt, self.stage_elapsed + dt

    def run(self, on_step: Callable[[StepInfo], None] | None = None) -> GenerationResult:
        """Run (or continue) every stage; returns the learned data."""
        cfg = self.cfg
        while self.stage < len(self.stages):
            st = self.stages[self.stage]
            if cfg.init == "dm" and self.stage_step == 0 and not st.refine:  # once per stage; counts in a budget
                t0 = time.perf_counter()
                self.synth[st.task].pixels.detach().copy_(self._init_images(self.tasks[st.task], "dm"))  # in place
                self._spend(t0)
            if self.opt is None:
                self.opt = self._make_optimizer(st)
            if st.refine:
                self.meta.pool = None  # the refine stage replays nothing: free the pool before its longer unrolls
            while not st.done(self.stage_step, self.stage_elapsed):
                t0 = time.perf_counter()
                loss = self.step()
                self.stage_step += 1
                self.global_step += 1
                self._spend(t0)
                trained = [(k, v) for t in st.tasks for k, v in self.synth[t].named_parameters(prefix=str(t))]
                self.tail.add(st, self.stage_step, self.stage_elapsed, ((k, v) for k, v in trained if v.requires_grad))
                done = st.done(self.stage_step, self.stage_elapsed)
                val = None
                if cfg.eval_every and dist.is_main() and (self.stage_step % cfg.eval_every == 0 or done):
                    val = self.validation_accuracy(st.task)
                entry = {"step": self.global_step, "stage": self.stage, "loss": loss}
                self.history.append(entry if val is None else {**entry, "val_acc": val})
                if on_step:
                    steps = None if st.seconds is not None else st.steps
                    info = (self.stage, len(self.stages), self.stage_step, steps, self.global_step, loss, val)
                    on_step(StepInfo(*info, self.elapsed))
                every = cfg.checkpoint_every
                if self.checkpoint_path and every and dist.is_main() and self.global_step % every == 0:
                    self.save(self.checkpoint_path)
            mean = self.tail.take_mean()  # a task stage ends at its tail's mean (nothing without tail_average)
            if mean:
                with torch.no_grad():
                    self.synth.load_state_dict(mean, strict=False)
            self.stage += 1
            self.stage_step, self.stage_elapsed, self.opt = 0, 0.0, None
        return self.result()

    def result(self) -> GenerationResult:
        """The current synthetic data (all tasks), detached on CPU."""
        with torch.no_grad():
            batches = [s.materialize(detach=True) for s in self.synth]
        return GenerationResult(
            images=torch.cat([b.images for b in batches]).cpu().float(),
            labels=torch.cat([s.labels for s in self.synth]).cpu(),
            task_ids=torch.cat([torch.full((len(s.labels),), i) for i, s in enumerate(self.synth)]),
            soft_labels=torch.cat([b.targets for b in batches]).cpu().float() if self.cfg.soft_labels else None,
            lrs=[float(b.lr) for b in batches],
            tasks=self.tasks,
            source=self.source,
            normalisation=self.norm,
            history=self.history,
            wall_time=self.elapsed,
            steps_done=self.global_step,
        )

    # ---- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, JSON state): the synthetic data, the outer optimiser and the loop's progress."""
        tensors = {f"synth.{k}": v for k, v in self.synth.state_dict().items()}
        tensors.update({f"tail.{k}": v for k, v in self.tail.total.items()})
        groups: list[dict] = []
        if self.opt is not None:
            opt_tensors, groups = optimizer_to_tensors(self.opt)
            tensors.update(opt_tensors)
        state = {
            "run_hash": self.cfg.run_hash(),
            "config": self.cfg.to_dict(),
            "opt_groups": groups,
            **{k: getattr(self, k) for k in PROGRESS_KEYS},
            "tail_count": self.tail.count,
        }
        return tensors, state

    def load_state_dict(self, tensors: dict[str, torch.Tensor], state: dict, where: object = "checkpoint") -> None:
        """Continue from :meth:`state_dict`'s output; refuses one written by another configuration."""
        if state.get("run_hash") != self.cfg.run_hash():
            raise CheckpointError(
                f"{where}: checkpoint was written by a different configuration "
                f"({state.get('run_hash')} != {self.cfg.run_hash()}); remove it or drop --resume"
            )
        synth = {k[len("synth.") :]: v.to(self.device) for k, v in tensors.items() if k.startswith("synth.")}
        try:
            self.synth.load_state_dict(synth)
        except RuntimeError as err:
            raise CheckpointError(f"{where}: tensors do not match this configuration ({err})") from None
        for key in PROGRESS_KEYS:
            setattr(self, key, state[key])
        tail = {k[len("tail.") :]: v.to(self.device) for k, v in tensors.items() if k.startswith("tail.")}
        self.tail = TailAverage(self.cfg.tail_average, self.cfg.refine_tail, tail, state["tail_count"])
        if state["opt_groups"] and self.stage < len(self.stages):
            self.opt = self._make_optimizer(self.stages[self.stage])
            optimizer_from_tensors(
                self.opt,
                {k: v.to(self.device) for k, v in tensors.items() if k.startswith("opt.")},
                state["opt_groups"],
            )

    def save(self, path: str | Path) -> Path:
        """Atomically checkpoint the whole engine state."""
        return save_checkpoint(path, *self.state_dict())
