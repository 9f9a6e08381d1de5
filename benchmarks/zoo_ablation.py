"""Zoo ablations: score an artifact on one learner of every zoo family, append a row, print the table.

    synthgen generate --out /tmp/v.safetensors --inner-steps 20 ...             # a variant
    python benchmarks/zoo_ablation.py --name "K=20" --artifact /tmp/v.safetensors --command "synthgen generate ..."
    python benchmarks/zoo_ablation.py --table                                   # every logged row (docs/research.md)
    python benchmarks/zoo_ablation.py --name "lr x0.5" --artifact A --archs mlp,cnn --lr-scale 0.5 --step-scale 2
    python benchmarks/zoo_ablation.py --name "shifted" --artifact A --archs mlp,cnn --shift 2

Each family's learner is trained in sequence per the artifact's recipe by the verifier's own
protocol (synthgen.verification.runs.evaluate_artifact: fresh learner per seed, eval() mode, real test
split after every task), seeds 0..2, optionally with the recipe's lrs and steps scaled (the data as it is, trained
by another recipe than the one it was made for); a row holds final ACC, max forgetting and the accuracy on the
tasks seen so far after each task. Rows go to benchmarks/logs/zoo_ablation.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

from _rows import table_or_append

from synthgen.format.artifact import load_artifact
from synthgen.verification.lineup import source_for
from synthgen.verification.metrics import average_accuracy, max_forgetting, seen_accuracy
from synthgen.verification.runs import evaluate_artifact

FAMILIES = ("mlp", "mlp2", "convnet", "cnn", "cnn_bn", "lenet", "convnet3", "resnet8")


def score(
    path: str,
    archs: tuple[str, ...] = FAMILIES,
    seeds: int = 3,
    lr_scale: float = 1.0,
    step_scale: float = 1.0,
    shift: int | None = None,
) -> dict:
    """arch -> {acc, max_forgetting, seen}: means over ``seeds`` fresh learners, trained with the recipe's lrs x
    ``lr_scale`` and steps x ``step_scale`` (and, given ``shift``, its images shifted by up to that many pixels)."""
    art = load_artifact(path)
    if shift is not None:
        art = dataclasses.replace(art, metadata={**art.metadata, "recipe": {**art.recipe, "shift": shift}})
    source = source_for(art)
    out = {}
    for arch in archs:
        runs = [evaluate_artifact(art, source, arch, s, lr_scale, step_scale).R for s in range(seeds)]
        out[arch] = {
            "acc": round(statistics.mean(average_accuracy(R) for R in runs), 3),
            "max_forgetting": round(statistics.mean(max_forgetting(R) for R in runs), 3),
            "seen": [round(statistics.mean(v), 3) for v in zip(*(seen_accuracy(R) for R in runs))],
        }
    gen, steps = art.metadata["generation"], art.recipe["steps_per_task"]
    return {
        "learners": gen["archs"],
        "recipe": {"optimizer": art.recipe["optimizer"], "steps_per_task": round(steps * step_scale)}
        | ({"lr_scale": lr_scale} if lr_scale != 1.0 else {})
        | ({"shift": shift} if shift is not None else {}),
        "outer_steps": gen["outer_steps"],
        "engine_s": gen["wall_time_s"],
        "results": out,
    }


def table(rows: list[dict]) -> str:
    cols = list(FAMILIES) + list(dict.fromkeys(a for r in rows for a in r["results"] if a not in FAMILIES))
    head = "| variant | generation learners | K | engine s | peak RSS MB | " + " | ".join(cols) + " | min seen (mlp) |"
    lines = [head, "|---" * (6 + len(cols)) + "|"]
    for r in rows:
        res = r["results"]
        cells = [f"{res[a]['acc']:.3f}" + ("*" if a in r["learners"] else "") if a in res else "-" for a in cols]
        low = f"{min(res['mlp']['seen']):.3f}" if "mlp" in res else "-"
        lines.append(
            f"| {r['name']} | {', '.join(r['learners'])} | {r['recipe']['steps_per_task']} | {r['engine_s']:.0f} | "
            f"{r.get('rss_mb', '-')} | " + " | ".join(cells) + f" | {low} |"
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
    ap.add_argument("--archs", default=",".join(FAMILIES), help="comma-separated learners (default: one per family)")
    ap.add_argument("--lr-scale", type=float, default=1.0, help="train with the recipe's lrs x this")
    ap.add_argument("--step-scale", type=float, default=1.0, help="train with the recipe's steps x this")
    ap.add_argument("--shift", type=int, help="train with the images shifted by up to this many pixels per step")
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
            **score(
                args.artifact,
                tuple(args.archs.split(",")),
                lr_scale=args.lr_scale,
                step_scale=args.step_scale,
                shift=args.shift,
            ),
        },
        args.threads,
    )


if __name__ == "__main__":
    main()
