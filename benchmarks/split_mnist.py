"""Split-MNIST benchmark: generate with the defaults, verify, and write the table to docs/.

    python benchmarks/split_mnist.py                       # defaults, writes docs/benchmarks.md
    python benchmarks/split_mnist.py --steps 300 --out /tmp/b.md

Generation runs the default GenerateConfig (options below override it); the evaluation is the
verifier's own (synthgen.verify): fresh learners per (architecture, seed) trained in sequence,
evaluated on the REAL test split after every task, with the real-data baselines in the same run.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from synthgen.api import artifact_from_result, verify
from synthgen.config import GenerateConfig, LearnerConfig, SourceConfig, VerifyConfig
from synthgen.engine import Engine
from synthgen.verify import JOINT


def table(cert: dict) -> list[str]:
    lines = ["| eval arch | method | final ACC | BWT | max forgetting | task-incr. ACC | / joint |",
             "|---|---|---|---|---|---|---|"]
    for arch, r in cert["results"].items():
        joint = r["methods"][JOINT]["acc_mean"] if JOINT in r["methods"] else None
        for method, s in r["methods"].items():
            ratio = f"{s['acc_mean'] / joint:.2f}" if joint else "-"
            acc = f"{s['acc_mean']:.3f} ± {s['acc_std']:.3f}"
            if "bwt_mean" in s:
                lines.append(f"| {arch} ({r['group']}) | {method} | {acc} | {s['bwt_mean']:+.3f} | "
                             f"{s['max_forgetting_mean']:.3f} | {s['task_incremental_acc_mean']:.3f} | {ratio} |")
            else:
                lines.append(f"| {arch} ({r['group']}) | {method} | {acc} | - | - | - | {ratio} |")
    return lines


def matrix(R: list[list[float]]) -> list[str]:
    out = ["| after \\ task | " + " | ".join(str(j) for j in range(len(R))) + " |", "|---|" + "---|" * len(R)]
    return out + [f"| {i} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for i, row in enumerate(R)]


def appendix(docs: Path) -> str:
    """The other benchmark scripts' tables, as they wrote them (nothing is re-typed by hand)."""
    parts = []
    log = docs / "ablation.jsonl"
    if log.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from ablation import table as ablation_table

        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        parts.append("## Ablations (`benchmarks/ablation.py`, one run each, 3 verification seeds)\n\n"
                     + "Each row: `python benchmarks/ablation.py --name NAME --set 'OVERRIDES'` with the overrides "
                     "below, JSON over the GenerateConfig defaults *of the time*: learners mlp, 4 inits/step, no replay "
                     "pool, no lr jitter (the table is what chose today's defaults; to repeat a row now, add "
                     "those four settings). Generation seconds are indicative: these runs shared the 2 cores with other work.\n\n"
                     + "\n".join(f"- {r['name']}: `{json.dumps(r['overrides'])}`" for r in rows) + "\n\n"
                     + ablation_table(rows))
    for name in ("step_cost.md", "scaling_bench.md"):
        if (docs / name).exists():
            text = (docs / name).read_text()
            parts.append("\n".join("#" + line if line.startswith("#") else line for line in text.splitlines()))
    return "\n\n".join([""] + parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="mnist-5k")
    ap.add_argument("--steps", type=int, default=GenerateConfig().steps)
    ap.add_argument("--learners", default=",".join(GenerateConfig().learners.archs))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/benchmarks.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = GenerateConfig(source=SourceConfig(name=args.source), steps=args.steps,
                         learners=LearnerConfig(archs=tuple(args.learners.split(","))), device="cpu", eval_every=0)
    t0 = time.perf_counter()
    art = artifact_from_result(Engine(cfg).run(), cfg)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cert = verify(art, VerifyConfig(seeds=tuple(range(args.seeds))))
    ver_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [f"# Benchmarks: Split-MNIST on `{args.source}`", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
             f"python {platform.python_version()}  ",
             f"Generation: {cfg.steps} outer steps, archs {list(cfg.learners.archs)}, ipc {cfg.ipc}, K={cfg.inner_steps}, "
             f"{cfg.inits_per_step} inits/step: **{gen_s:.1f} s**. Verification ({args.seeds} seeds x "
             f"{len(cert['results'])} archs, with baselines): **{ver_s:.1f} s**. Peak RSS of the process: {rss_mb:.0f} MB  ",
             f"Learned lr per task: {[round(v, 4) for v in art.recipe['lr_per_task']]}; verdict: **{cert['verdict']}**", "",
             "Class-incremental, one 10-way head; final average accuracy over all tasks on the real test split "
             "(mean ± std over seeds), backward transfer, max forgetting, the same learners evaluated "
             "task-incrementally, and the ratio to joint training.", ""]
    lines += table(cert)
    for arch, r in cert["results"].items():
        lines += ["", f"Synthetic-data accuracy matrix, `{arch}` (row i: after task i; column j: task j; mean over seeds):", ""]
        lines += matrix(r["methods"]["synthetic"]["mean_matrix"])
    text = "\n".join(lines) + "\n" + appendix(Path(args.out).parent)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
