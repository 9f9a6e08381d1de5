"""Cost of one outer step: time vs inner steps K and tasks unrolled; memory vs K, full vs truncated.

    python benchmarks/step_cost.py                 # prints the tables, writes docs/step_cost.md

Each configuration runs in a fresh process (so peak RSS is its own): it builds the engine on
mnist-5k, jumps to the stage of task t (tasks < t replayed without a graph, as in generation),
times 12 outer steps after 3 warm-up steps and reports the median, and the growth of peak RSS
over the set-up (what the meta-step itself needs).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARCHS = ("mlp", "convnet", "convnet_bn", "convnet4_bn", "mlp3_s")  # the default generation learners


def child(arch: str, K: int, stage: int, inits: int, pool: int = 0) -> dict:
    import torch

    torch.set_num_threads(1)
    from synthgen.generation.config import GenerateConfig, LearnerConfig
    from synthgen.generation.engine import Engine

    cfg = GenerateConfig(
        learners=LearnerConfig(archs=(arch,)),
        inner_steps=K,
        replay_pool=pool,
        inits_per_step=inits,
        device="cpu",
        eval_every=0,
        steps=10_000,
    )
    eng = Engine(cfg)
    eng.stage = stage
    eng.opt = eng._make_optimizer(eng.stages[stage])
    for _ in range(40 if pool else 0):  # fill the pool first: steady state is what a long stage sees
        eng.step()
        eng.stage_step += 1
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(15):
        t0 = time.perf_counter()
        eng.step()
        eng.stage_step += 1
        if i >= 3:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"ms": 1000 * statistics.median(times), "delta_mb": (peak - base) / 1024, "peak_mb": peak / 1024}


def pool_upkeep(size: int = 256) -> list[float]:
    """Seconds to advance the default replay pool by each of tasks 1..4."""
    import torch

    torch.set_num_threads(1)
    from synthgen.generation.config import GenerateConfig
    from synthgen.generation.engine import Engine
    from synthgen.generation.replay_pool import ReplayPool

    eng = Engine(GenerateConfig(device="cpu", eval_every=0))
    frozen = [eng.synth[t].materialize(detach=True) for t in range(len(eng.tasks) - 1)]
    pool = ReplayPool(
        eng.cfg.learners.archs,
        eng.source.image_shape,
        eng.source.num_classes,
        0,
        size,
        eng.cfg.inner_steps,
        eng.device,
        eng.meta.template,
        eng.meta.optimiser,
    )
    out = []
    for t in range(1, len(frozen) + 1):
        t0 = time.perf_counter()
        pool.advance(frozen[:t])
        out.append(time.perf_counter() - t0)
    return out


def measure(arch: str, K: int, stage: int, inits: int = 4, pool: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps([arch, K, stage, inits, pool])],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child")
    ap.add_argument("--out", default="docs/step_cost.md")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return
    from synthgen.generation.config import GenerateConfig

    lines = [
        "# Cost of one outer step",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.machine()}, 1 torch thread, python {platform.python_version()}; 4 learner inits "
        f"per step (vmapped), mnist-5k, 10 images/class, recipe momentum {GenerateConfig().inner_momentum}, "
        "the default GenerateConfig otherwise (rehearsal: the unroll of task t trains on the images of tasks "
        "0..t); median of 12 steps after 3 warm-up steps.",
        "",
        "## Time (ms per outer step) vs inner steps K and tasks unrolled",
        "",
        "| arch | K | 1 task | 3 tasks | 5 tasks |",
        "|---|---|---|---|---|",
    ]
    for arch in ARCHS:
        for K in (5, 10, 20):
            cells = [f"{measure(arch, K, stage)['ms']:.0f}" for stage in (0, 2, 4)]
            lines.append(f"| {arch} | {K} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    lines += [
        "",
        "## Replay pool (task 5 of 5, K=10): fresh learners replayed every step vs a pool of 64",
        "",
        "| arch | fresh: ms | pool 64 (warm): ms |",
        "|---|---|---|",
    ]
    for arch in ARCHS:
        fresh, pooled = measure(arch, 10, 4), measure(arch, 10, 4, pool=64)
        lines.append(f"| {arch} | {fresh['ms']:.0f} | {pooled['ms']:.0f} |")
        print(lines[-1], flush=True)
    secs = pool_upkeep()
    lines += [
        "",
        "Keeping the default pool (256 learners, the default learners) current: advancing it by one task at the "
        "start of stages 2..5 takes " + ", ".join(f"{v:.1f}" for v in secs) + f" s ({sum(secs):.1f} s per run). "
        "Each entry continues from the previous stage (trained in vmapped blocks), so no learner is "
        "trained through a task twice.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
