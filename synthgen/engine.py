"""The outer loop: learn each task's synthetic data by meta-gradient, one stage per task.

Stage t trains task t's variables (pixels or generator, soft labels, lr). Each outer step:
sample ``inits_per_step`` fresh learners (architecture and initialisation) -> train each on
the synthetic tasks 0..t in order (``inner_steps`` SGD steps per task; tasks < t are frozen, so
their replay needs no graph) -> cross-entropy on a batch of REAL training data of tasks 0..t
-> backward through the unrolled training -> Adam step. Later tasks get more steps (weight
t+1), since their data must teach the new classes *and* protect every old one. An optional
final stage refines all tasks jointly.

Every step's randomness comes from ``generator(seed, stage, step)``, so a resumed run repeats
the uninterrupted one exactly.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.func import vmap

from . import distributed as dist
from .augment import random_affine
from .checkpoint import CheckpointError, load_checkpoint, optimizer_from_tensors, optimizer_to_tensors, save_checkpoint
from .config import GenerateConfig
from .initial_images import InitError, initial_images
from .inner_loop import SynthBatch, real_loss, stack_params, train_sequence
from .learners import build_learner, check_archs
from .parametrize import SyntheticTask
from .replay_pool import ReplayPool
from .seeding import derive_seed, generator
from .sources import SourceData, load_source, normalise
from .stages import outer_lr_factor, plan_stages, stage_done, stage_progress
from .tasks import Task, split_classes

EVAL_LEARNERS = 2  # fresh learners averaged for the periodic validation accuracy


class GenerationError(RuntimeError):
    """Generation cannot go on (persistent non-finite loss, bad resume)."""


@dataclass
class StepInfo:
    """What the progress callback receives after each outer step."""

    stage: int
    num_stages: int
    stage_step: int
    stage_steps: int | None     # None under a time budget
    global_step: int
    loss: float | None          # None when the step was skipped (non-finite)
    val_acc: float | None
    elapsed: float


@dataclass
class GenerationResult:
    """Everything the engine learned, ready to become an artifact."""

    images: torch.Tensor
    labels: torch.Tensor
    task_ids: torch.Tensor
    soft_labels: torch.Tensor | None
    lrs: list[float]
    tasks: list[Task]
    source: SourceData
    normalisation: dict
    history: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    steps_done: int = 0


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenerationError(f"device {name!r} requested but no CUDA device is available")
    return dev


class Engine:
    """Stateful generator: ``run()`` until done, checkpointing on the way."""

    def __init__(self, config: GenerateConfig, source: SourceData | None = None,
                 checkpoint_path: str | Path | None = None, resume: bool = False):
        check_archs(config.learners.archs)
        self.cfg = config
        self.device = resolve_device(config.device)
        self.source = source if source is not None else load_source(config.source)
        self.tasks = split_classes(config.tasks.split, self.source.class_names)
        self.num_classes = self.source.num_classes
        self.shape = self.source.image_shape
        self.norm = self.source.normalisation()
        x, y = self.source.split("train")
        self.train_x, self.train_y = normalise(x, self.norm).to(self.device), y.to(self.device)
        vx, vy = self.source.split("val")
        self.val_x, self.val_y = normalise(vx, self.norm).to(self.device), vy.to(self.device)
        task_incremental = config.tasks.scenario == "task-incremental"
        # class -> the class mask of its task (used for real-data logits in task-incremental)
        self.mask_of_class = torch.ones(self.num_classes, self.num_classes, dtype=torch.bool, device=self.device)
        if task_incremental:
            for t in self.tasks:
                m = torch.zeros(self.num_classes, dtype=torch.bool)
                m[list(t.classes)] = True
                self.mask_of_class[list(t.classes)] = m.to(self.device)
        self.synth = torch.nn.ModuleList(
            SyntheticTask(t.classes, config.ipc, self.shape, self.num_classes, config.param,
                          self._init_images(t), config.inner_lr, config.soft_labels, config.learn_lr,
                          task_incremental, seed=derive_seed(config.seed, "task", t.index))
            for t in self.tasks).to(self.device)
        self.stages = plan_stages(config, len(self.tasks))
        self.stage, self.stage_step, self.global_step = 0, 0, 0
        self.elapsed, self.stage_elapsed, self.bad_steps = 0.0, 0.0, 0
        self.history: list[dict] = []
        self.opt: torch.optim.Optimizer | None = None
        self._pool: ReplayPool | None = None  # built at the first stage that needs it, advanced per stage
        self._templates: dict[int, torch.nn.Module] = {}
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self._load(self.checkpoint_path)

    # ---- set-up ---------------------------------------------------------------------------
    def _init_images(self, task: Task) -> torch.Tensor | None:
        if self.cfg.init == "noise":
            return None
        try:
            return initial_images(self.train_x.cpu(), self.train_y.cpu(), task.classes, self.cfg.ipc, self.cfg.init,
                                  generator(self.cfg.seed, "init", task.index))
        except InitError as err:
            raise GenerationError(str(err)) from None

    def _make_optimizer(self, stage: dict) -> torch.optim.Optimizer:
        groups = []
        for t in stage["trainable"]:
            groups += self.synth[t].param_groups(self.cfg.outer_lr, self.cfg.label_lr, self.cfg.lr_lr, self.cfg.generator_lr,
                                                 with_lr=not stage.get("keep_lr", False))
        return torch.optim.Adam(groups)

    def _apply_schedule(self) -> None:
        """Scale the outer lrs by the schedule's factor at this stage's progress (``outer_schedule``)."""
        if self.cfg.outer_schedule == "constant":
            return
        st = self.stages[self.stage]
        factor = outer_lr_factor(self.cfg.outer_schedule, stage_progress(st, self.stage_step, self.stage_elapsed))
        for grp in self.opt.param_groups:
            grp["lr"] = grp.setdefault("base_lr", grp["lr"]) * factor

    def _stage_done(self) -> bool:
        return stage_done(self.stages[self.stage], self.stage_step, self.stage_elapsed)

    # ---- one outer step ---------------------------------------------------------------------
    def _meta_step(self) -> float | None:
        cfg, st = self.cfg, self.stages[self.stage]
        last = max(st["trainable"])
        first = min(st["trainable"])
        g = generator(cfg.seed, "step", self.stage, self.stage_step)
        archs = cfg.learners.archs
        picks = torch.randint(len(archs), (cfg.inits_per_step,), generator=g).tolist()
        seeds = torch.randint(2**62, (cfg.inits_per_step,), generator=g).tolist()
        seen = torch.tensor([c for t in self.tasks[: last + 1] for c in t.classes], device=self.device)
        candidates = torch.nonzero(torch.isin(self.train_y, seen)).flatten()
        idx = candidates[torch.randint(len(candidates), (cfg.real_batch,), generator=g).to(self.device)]
        x, y = self.train_x[idx], self.train_y[idx]
        mask = self.mask_of_class[y]
        frozen = [self.synth[t].materialize(detach=True) for t in range(first)]
        pooled = cfg.replay_pool > 0 and first > 0
        if pooled:  # learners already trained through the frozen tasks, drawn from the pool
            pool = self._replay_pool(frozen)
            draws = torch.randint(cfg.replay_pool, (cfg.inits_per_step,), generator=g).tolist()
            picks = [pool.arch_of[j] for j in draws]
        trainable = [self.synth[t].materialize() for t in range(first, last + 1)]
        if cfg.lr_jitter > 1.0:  # one log-uniform lr factor per step, shared by all tasks and learners
            u = float(torch.rand((), generator=g)) * 2 - 1
            factor = cfg.lr_jitter ** u
            frozen = [replace(b, lr=b.lr * factor) for b in frozen]
            trainable = [replace(b, lr=b.lr * factor) for b in trainable]
        if cfg.augment:  # every inner step of a trainable task sees its own transformed copy (DSA-style)
            trainable = [replace(b, views=random_affine(b.images, cfg.inner_steps, g)) for b in trainable]
        # Learner i belongs to gradient chunk i % C; rank r computes the chunks c with c % world == r.
        # Chunk gradients are exchanged exactly (all-reduce of zero-padded rows) and summed in chunk
        # order, so the result does not depend on the number of processes.
        chunks = max(cfg.grad_chunks, dist.world())
        work = [(c, a) for c in dist.my_share(chunks) for a in sorted({picks[i] for i in range(c, cfg.inits_per_step, chunks)})]
        params = [p for grp in self.opt.param_groups for p in grp["params"]]
        rows = torch.zeros(chunks, sum(p.numel() for p in params), device=self.device)
        total = 0.0
        for n, (c, a) in enumerate(work):
            members = [i for i in range(c, cfg.inits_per_step, chunks) if picks[i] == a]
            base = self._template(a)
            if pooled:
                entries = [pool.entry(draws[i])[1] for i in members]
                stacked = {k: torch.stack([e[k] for e in entries]) for k in entries[0]}
            else:
                stacked = stack_params([build_learner(archs[a], self.shape, self.num_classes, seeds[i], self.device)
                                        for i in members])

            def per_learner(p):
                if not pooled:
                    p = train_sequence(base, p, frozen, cfg.inner_steps, cfg.inner_momentum)
                p = train_sequence(base, p, trainable, cfg.inner_steps, cfg.inner_momentum, cfg.backprop_steps)
                return real_loss(base, p, x, y, mask)

            loss = vmap(per_learner)(stacked).sum() / cfg.inits_per_step
            grads = torch.autograd.grad(loss, params, retain_graph=n < len(work) - 1, allow_unused=True)
            rows[c] += torch.cat([(torch.zeros_like(p) if gr is None else gr).flatten() for p, gr in zip(params, grads)])
            total += float(loss.detach())
            del loss, grads  # retain_graph kept this learner's whole unroll alive: free it before the next one
        flat = dist.sum_chunks(rows)
        for p, gr in zip(params, flat.split([p.numel() for p in params])):
            p.grad = gr.view_as(p).clone()
        total = dist.reduce_scalar(total, device=self.device)
        grads_ok = all(torch.isfinite(p.grad).all() for p in params if p.grad is not None)
        if not (math.isfinite(total) and grads_ok):
            self.opt.zero_grad(set_to_none=True)
            self.bad_steps += 1
            if self.bad_steps >= cfg.max_bad_steps:
                raise GenerationError(f"meta-loss was non-finite for {self.bad_steps} consecutive steps "
                                      f"(stage {self.stage}); lower outer_lr / inner_lr")
            return None
        self.bad_steps = 0
        self.opt.step()
        return total

    def _template(self, a: int) -> torch.nn.Module:
        """A module of architecture ``a`` used only as the function for functional_call (cached)."""
        if a not in self._templates:
            self._templates[a] = build_learner(self.cfg.learners.archs[a], self.shape, self.num_classes, 0, self.device)
        return self._templates[a]

    def _replay_pool(self, frozen: list[SynthBatch]) -> ReplayPool:
        """The replay pool, trained through exactly the frozen tasks of this stage."""
        if self._pool is None:
            self._pool = ReplayPool(self.cfg.learners.archs, self.shape, self.num_classes, self.cfg.seed,
                                    self.cfg.replay_pool, self.cfg.inner_steps, self.device, self._template,
                                    self.cfg.inner_momentum)
        self._pool.advance(frozen)
        return self._pool

    @torch.no_grad()
    def validation_accuracy(self, upto: int) -> float:
        """Mean real-val accuracy on tasks 0..upto of fresh learners trained on the synthetic tasks."""
        batches = [self.synth[t].materialize(detach=True) for t in range(upto + 1)]
        seen = torch.tensor([c for t in self.tasks[: upto + 1] for c in t.classes], device=self.device)
        keep = torch.isin(self.val_y, seen)
        x, y = self.val_x[keep], self.val_y[keep]
        accs = []
        for i in range(EVAL_LEARNERS):
            arch = self.cfg.learners.archs[i % len(self.cfg.learners.archs)]
            model = build_learner(arch, self.shape, self.num_classes, derive_seed(self.cfg.seed, "val", i), self.device)
            p = train_sequence(model, {k: v.detach() for k, v in model.named_parameters()}, batches,
                               self.cfg.inner_steps, self.cfg.inner_momentum)
            logits = torch.func.functional_call(model, p, (x,))
            logits = logits.masked_fill(~self.mask_of_class[y], -1e9)
            accs.append(float((logits.argmax(1) == y).float().mean()))
        return sum(accs) / len(accs)

    # ---- the loop ---------------------------------------------------------------------------
    def run(self, on_step: Callable[[StepInfo], None] | None = None) -> GenerationResult:
        """Run (or continue) every stage; returns the learned data."""
        cfg = self.cfg
        while self.stage < len(self.stages):
            st = self.stages[self.stage]
            if self.opt is None:
                self.opt = self._make_optimizer(st)
            while not self._stage_done():
                t0 = time.perf_counter()
                self._apply_schedule()
                loss = self._meta_step()
                self.stage_step += 1
                self.global_step += 1
                dt = dist.reduce_scalar(time.perf_counter() - t0, "max")  # ranks agree on time budgets
                self.elapsed += dt
                self.stage_elapsed += dt
                val = None
                if cfg.eval_every and dist.is_main() and (self.stage_step % cfg.eval_every == 0 or self._stage_done()):
                    val = self.validation_accuracy(max(st["trainable"]))
                self.history.append({"step": self.global_step, "stage": self.stage,
                                     "loss": loss, **({"val_acc": val} if val is not None else {})})
                if on_step:
                    on_step(StepInfo(self.stage, len(self.stages), self.stage_step,
                                     None if st["seconds"] is not None else st["steps"],
                                     self.global_step, loss, val, self.elapsed))
                if (self.checkpoint_path and cfg.checkpoint_every and dist.is_main()
                        and self.global_step % cfg.checkpoint_every == 0):
                    self.save(self.checkpoint_path)
            self.stage += 1
            self.stage_step, self.stage_elapsed, self.opt = 0, 0.0, None
            if self.stage < len(self.stages) and min(self.stages[self.stage]["trainable"]) == 0:
                self._pool = None  # the refine stage replays nothing: free the pool before its larger graphs
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
            lrs=[float(b.lr) for b in batches], tasks=self.tasks, source=self.source,
            normalisation=self.norm, history=self.history, wall_time=self.elapsed, steps_done=self.global_step)

    # ---- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Atomically checkpoint the whole engine state."""
        tensors = {f"synth.{k}": v for k, v in self.synth.state_dict().items()}
        groups: list[dict] = []
        if self.opt is not None:
            opt_tensors, groups = optimizer_to_tensors(self.opt)
            tensors.update(opt_tensors)
        state = {"run_hash": self.cfg.run_hash(), "config": self.cfg.to_dict(), "stage": self.stage,
                 "stage_step": self.stage_step, "global_step": self.global_step, "elapsed": self.elapsed,
                 "stage_elapsed": self.stage_elapsed, "bad_steps": self.bad_steps, "history": self.history,
                 "opt_groups": groups}
        return save_checkpoint(path, tensors, state)

    def _load(self, path: Path) -> None:
        tensors, state = load_checkpoint(path)
        if state.get("run_hash") != self.cfg.run_hash():
            raise CheckpointError(f"{path}: checkpoint was written by a different configuration "
                                  f"({state.get('run_hash')} != {self.cfg.run_hash()}); remove it or drop --resume")
        synth = {k[len("synth."):]: v.to(self.device) for k, v in tensors.items() if k.startswith("synth.")}
        try:
            self.synth.load_state_dict(synth)
        except RuntimeError as err:
            raise CheckpointError(f"{path}: tensors do not match this configuration ({err})") from None
        for key in ("stage", "stage_step", "global_step", "elapsed", "stage_elapsed", "bad_steps", "history"):
            setattr(self, key, state[key])
        if state["opt_groups"] and self.stage < len(self.stages):
            self.opt = self._make_optimizer(self.stages[self.stage])
            optimizer_from_tensors(self.opt, {k: v.to(self.device) for k, v in tensors.items()
                                              if k.startswith("opt.")}, state["opt_groups"])
