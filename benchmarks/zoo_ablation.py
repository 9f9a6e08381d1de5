"""Zoo ablations: score an artifact on one learner of every zoo family, append a row, print the table.

    synthgen generate --out /tmp/v.safetensors --inner-steps 20 ...             # a variant
    python benchmarks/zoo_ablation.py --name "K=20" --artifact /tmp/v.safetensors --command "synthgen generate ..."
    python benchmarks/zoo_ablation.py --table                                   # every logged row (docs/research.md)

Each family's learner is trained in sequence per the artifact's recipe by the verifier's own
protocol (synthgen.verification.runs.evaluate_artifact: fresh learner per seed, eval() mode, real test
split after every task), seeds 0..2; a row holds final ACC, max forgetting and the accuracy on the
tasks seen so far after each task. Rows go to benchmarks/logs/zoo_ablation.jsonl.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _rows import table_or_append

from synthgen.format.artifact import load_artifact
from synthgen.verification.lineup import source_for
from synthgen.verification.metrics import average_accuracy, max_forgetting, seen_accuracy
from synthgen.verification.runs import evaluate_artifact

FAMILIES = ("mlp", "mlp2", "convnet", "cnn", "cnn_bn", "lenet", "convnet3", "resnet8")


def score(path: str, archs: tuple[str, ...] = FAMILIES, seeds: int = 3) -> dict:
    """arch -> {acc, max_forgetting, seen}: means over ``seeds`` fresh learners."""
    art = load_artifact(path)
    source = source_for(art)
    out = {}
    for arch in archs:
        runs = [evaluate_artifact(art, source, arch, s).R for s in range(seeds)]
        out[arch] = {
            "acc": round(statistics.mean(average_accuracy(R) for R in runs), 3),
            "max_forgetting": round(statistics.mean(max_forgetting(R) for R in runs), 3),
            "seen": [round(statistics.mean(v), 3) for v in zip(*(seen_accuracy(R) for R in runs))],
        }
    gen = art.metadata["generation"]
    return {
        "learners": gen["archs"],
        "recipe": {k: art.recipe.get(k) for k in ("optimizer", "steps_per_task")},
        "outer_steps": gen["outer_steps"],
        "engine_s": gen["wall_time_s"],
        "results": out,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| variant | generation learners | K | engine s | peak RSS MB | " + " | ".join(FAMILIES) + " | min seen (mlp) |"
    )
    lines = [head, "|---" * (6 + len(FAMILIES)) + "|"]
    for r in rows:
        res = r["results"]
        cells = [f"{res[a]['acc']:.3f}" + ("*" if a in r["learners"] else "") if a in res else "-" for a in FAMILIES]
        lines.append(
            f"| {r['name']} | {', '.join(r['learners'])} | {r['recipe']['steps_per_task']} | {r['engine_s']:.0f} | "
            f"{r.get('rss_mb', '-')} | " + " | ".join(cells) + f" | {min(res['mlp']['seen']):.3f} |"
        )
    return (
        "\n".join(lines)
        + "\n\n`*` = in the generation pool. Final class-incremental ACC, mean of 3 verification seeds."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name")
    ap.add_argument("--artifact")
    ap.add_argument("--command", default="", help="the generate command that made the artifact (recorded)")
    ap.add_argument("--rss-mb", type=int, help="the generate run's peak RSS (recorded)")
    ap.add_argument("--log", default="benchmarks/logs/zoo_ablation.jsonl")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="print the table of logged rows and exit")
    args = ap.parse_args()
    table_or_append(
        Path(args.log),
        args.table,
        table,
        lambda: {
            "name": args.name,
            "command": args.command,
            **({"rss_mb": args.rss_mb} if args.rss_mb else {}),
            **score(args.artifact),
        },
        args.threads,
    )


if __name__ == "__main__":
    main()
