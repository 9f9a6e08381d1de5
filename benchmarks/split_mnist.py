"""Split-MNIST quality benchmark: generate with the defaults, then measure what a consumer gets.

    python benchmarks/split_mnist.py                 # defaults, writes docs/benchmarks.md
    python benchmarks/split_mnist.py --steps 300     # quicker look

Generation runs once (the default config); every evaluation uses synthgen.evaluation, the
verifier's protocol: fresh learners trained in sequence on each task's data, evaluated on the
REAL test split after every task. Baselines use the same learners and seeds.
"""
from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from synthgen.api import artifact_from_result
from synthgen.config import GenerateConfig, LearnerConfig, SourceConfig
from synthgen.engine import Engine
from synthgen.evaluation import evaluate_artifact, joint_accuracy, real_sequence_matrix
from synthgen.metrics import average_accuracy, backward_transfer, max_forgetting, mean_std


def fmt(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.3f} ± {s:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="mnist-5k")
    ap.add_argument("--steps", type=int, default=GenerateConfig().steps)
    ap.add_argument("--learners", default="mlp", help="generation architectures")
    ap.add_argument("--eval-archs", default="mlp,convnet,mlp256", help="evaluation architectures")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/benchmarks.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = GenerateConfig(source=SourceConfig(name=args.source), steps=args.steps,
                         learners=LearnerConfig(archs=tuple(args.learners.split(","))), device="cpu", eval_every=0)
    engine = Engine(cfg)
    t0 = time.perf_counter()
    art = artifact_from_result(engine.run(), cfg)
    gen_s = time.perf_counter() - t0
    src, norm, tasks = engine.source, art.metadata["source"]["normalisation"], art.tasks
    seeds = list(range(args.seeds))
    rows, matrices = [], {}
    t0 = time.perf_counter()
    for arch in args.eval_archs.split(","):
        Rs = {"synthetic (recipe)": [evaluate_artifact(art, src, arch, s) for s in seeds],
              f"real sequence, {art.recipe['steps_per_task']} steps/task": [
                  real_sequence_matrix(src, tasks, norm, arch, s, lr=0.05, steps=art.recipe["steps_per_task"]) for s in seeds],
              "real sequence, 1 epoch/task": [real_sequence_matrix(src, tasks, norm, arch, s, lr=0.05, steps=None) for s in seeds],
              f"random real coreset ({cfg.ipc}/class) in sequence": [
                  real_sequence_matrix(src, tasks, norm, arch, s, lr=0.05, steps=art.recipe["steps_per_task"],
                                       batch_size=10 * cfg.ipc, per_class=cfg.ipc) for s in seeds]}
        joint = [joint_accuracy(src, tasks, norm, arch, s) for s in seeds]
        jm = statistics.mean(joint)
        for name, Rlist in Rs.items():
            accs = [average_accuracy(R) for R in Rlist]
            rows.append((arch, name, fmt(accs), fmt([backward_transfer(R) for R in Rlist]),
                         fmt([max_forgetting(R) for R in Rlist]), f"{statistics.mean(accs) / jm:.2f}"))
        rows.append((arch, "joint training on all real data (upper bound)", fmt(joint), "-", "-", "1.00"))
        matrices[arch] = [[statistics.mean(R[i][j] for R in Rs["synthetic (recipe)"]) for j in range(len(tasks))]
                          for i in range(len(tasks))]
    eval_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cmd = "python " + " ".join(sys.argv)
    lines = [f"# Benchmarks: Split-MNIST on `{args.source}`", "",
             f"Command: `{cmd}`  ", f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
             f"torch {torch.__version__}, python {platform.python_version()}  ",
             f"Generation: {cfg.steps} outer steps, archs {list(cfg.learners.archs)}, ipc {cfg.ipc}, "
             f"K={cfg.inner_steps}, {cfg.inits_per_step} inits/step: **{gen_s:.1f} s**; evaluation of the table "
             f"({len(seeds)} seeds): {eval_s:.1f} s; peak RSS {rss_mb:.0f} MB  ",
             f"Learned lr per task: {[round(v, 4) for v in art.recipe['lr_per_task']]}", "",
             "Class-incremental, one 10-way head; final average accuracy over all tasks (mean ± std over seeds), "
             "backward transfer, max forgetting, ratio to joint.", "",
             "| eval arch | method | final ACC | BWT | max forgetting | / joint |", "|---|---|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    for arch, R in matrices.items():
        lines += ["", f"Synthetic accuracy matrix on `{arch}` (row i: after task i; column j: task j; mean over seeds):", "",
                  "| after \\ task | " + " | ".join(str(j) for j in range(len(R))) + " |",
                  "|---|" + "---|" * len(R)]
        lines += [f"| {i} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for i, row in enumerate(R)]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
