"""Can the verifier train the seeds of one learner together? Seconds for K learners trained one after another
(``torch.optim.Adam``, the verifier's loop) vs as one vmapped model (``torch.func.stack_module_state`` +
``vmap(grad(functional_call))`` and Adam written out), and one learner at 1 vs 2 threads.

    python benchmarks/verify_batching.py [--seeds 3] [--steps 100]   # run it alone; writes docs/verify_batching.md

Each learner takes ``--steps`` Adam steps on its own 60 images (the default recipe's mean rehearsed batch), the
work of one of the verifier's synthetic, Random-N or Herding-N cells per task. Median of 3 repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from synthgen.nn.learners import build_learner

ARCHS = ("mlp", "cnn", "convnet3_s")  # without BatchNorm: its running statistics are written in place
SHAPE, CLASSES, IMAGES = (1, 28, 28), 10, 60


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * F.log_softmax(logits, -1)).sum(-1).mean()


def one_by_one(arch: str, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    for k in range(len(x)):
        model = build_learner(arch, SHAPE, CLASSES, k)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            _loss(model(x[k]), y[k]).backward()
            opt.step()


def batched(arch: str, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    models = [build_learner(arch, SHAPE, CLASSES, k) for k in range(len(x))]
    params, buffers = stack_module_state(models)
    base = models[0].to("meta")
    grads = vmap(grad(lambda p, b, xi, yi: _loss(functional_call(base, (p, b), (xi,)), yi)))
    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v2 = {k: torch.zeros_like(v) for k, v in params.items()}
    for t in range(1, steps + 1):
        g = grads(params, buffers, x, y)
        with torch.no_grad():
            for k in params:
                m[k].mul_(0.9).add_(g[k], alpha=0.1)
                v2[k].mul_(0.999).addcmul_(g[k], g[k], value=0.001)
                step = (m[k] / (1 - 0.9**t)) / ((v2[k] / (1 - 0.999**t)).sqrt() + 1e-8)
                params[k] = params[k] - 1e-3 * step


def seconds(fn, *args) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "verify_batching.md")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.seeds, IMAGES, *SHAPE, generator=g)
    y = torch.softmax(torch.randn(args.seeds, IMAGES, CLASSES, generator=g), -1)
    rows = []
    for arch in ARCHS:
        torch.set_num_threads(2)
        loop, vm = seconds(one_by_one, arch, x, y, args.steps), seconds(batched, arch, x, y, args.steps)
        torch.set_num_threads(1)
        single = seconds(one_by_one, arch, x[:1], y[:1], args.steps)
        torch.set_num_threads(2)
        double = seconds(one_by_one, arch, x[:1], y[:1], args.steps)
        rows.append(f"| {arch} | {loop:.2f} | {vm:.2f} | {loop / vm:.2f}x | {single:.2f} | {double:.2f} | "
                    f"{single / double:.2f}x |")  # fmt: skip
        print(rows[-1], flush=True)
    lines = [
        "# Training the verifier's seeds together: measured",
        "",
        f"Command: `python benchmarks/verify_batching.py --seeds {args.seeds} --steps {args.steps}`  ",
        f"Machine: {platform.machine()}, torch {torch.__version__}; median of 3 repeats; {args.steps} Adam steps "
        f"on {IMAGES} images per learner.",
        "",
        f"| learner | {args.seeds} learners one by one, 2 threads (s) | {args.seeds} learners vmapped, 2 threads (s) "
        "| speed-up of vmap | 1 learner, 1 thread (s) | 1 learner, 2 threads (s) | speed-up of the 2nd thread |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "On this CPU the vmapped convolutions (the batching rule makes them grouped convolutions) are no faster "
        "than the same learners trained one after another, and the MLPs, where vmap helps, are a small share of a "
        "verify. The verifier trains one learner at a time and spreads the grid over one process per core "
        "(docs/scaling.md).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
