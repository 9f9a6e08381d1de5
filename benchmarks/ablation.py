"""Ablations: generate with a config variant, verify it on generation and held-out archs, append a row.

    python benchmarks/ablation.py --name "mlp only" --set '{"steps": 1500}'
    python benchmarks/ablation.py --name "mlp+convnet" --set '{"learners": {"archs": ["mlp", "convnet"]}}'

Each run appends one JSON line to --log (default docs/ablation.jsonl) and prints the row;
``--table`` prints the markdown table of every logged run (what docs/benchmarks.md quotes).
Evaluation: synthgen.verify (3 seeds by default) on mlp, convnet, mlp256, mlp2, convpool, lenet; ratios to joint.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import sys
import time
from pathlib import Path

from _rows import table_or_append

from synthgen.api import verify
from synthgen.format.artifact import save_artifact
from synthgen.generation.config import GenerateConfig
from synthgen.generation.engine import Engine
from synthgen.generation.result import artifact_from_result
from synthgen.verification.config import VerifyConfig
from synthgen.verification.methods import JOINT, STRESS, SYNTHETIC

ARCHS = ("mlp", "convnet", "mlp256", "mlp2", "convpool", "lenet")


def run(name: str, overrides: dict, seeds: int, save: str | None = None) -> dict:
    base = GenerateConfig(device="cpu", eval_every=0).to_dict()
    for key, value in overrides.items():
        if isinstance(value, dict):
            base[key].update(value)
        else:
            base[key] = value
    cfg = GenerateConfig.from_dict(base)
    t0 = time.perf_counter()
    art = artifact_from_result(Engine(cfg).run(), cfg)
    gen_s = time.perf_counter() - t0
    gen_archs = tuple(cfg.learners.archs)
    cert = verify(
        art,
        VerifyConfig(
            seeds=tuple(range(seeds)),
            archs=gen_archs,
            heldout=tuple(a for a in ARCHS if a not in gen_archs),
            stress=True,
        ),
    )
    row = {
        "name": name,
        "overrides": overrides,
        "effective": {
            k: base[k]
            for k in (
                "learners",
                "inits_per_step",
                "replay_pool",
                "lr_jitter",
                "param",
                "soft_labels",
                "refine_steps",
                "inner_lr",
                "inner_momentum",
                "lr_lr",
                "real_batch",
                "seed",
            )
        },
        "gen_s": round(gen_s, 1),
        "steps": cfg.steps,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "results": {},
    }
    for arch, r in cert["results"].items():
        m = r["methods"]
        joint = m[JOINT]["acc_mean"]
        s = m[SYNTHETIC]
        stress = {k: round(s["acc_mean"] - m[k]["acc_mean"], 3) for k in STRESS}
        row["results"][arch] = {
            "group": r["group"],
            "acc": round(s["acc_mean"], 3),
            "ratio": round(s["acc_mean"] / joint, 3),
            "max_forgetting": round(s["max_forgetting_mean"], 3),
            "worst_stress_drop": max(stress.values()),
            "stress_drops": stress,
        }
    if save:
        save_artifact(art, save)
    return row


def table(rows: list[dict]) -> str:
    head = (
        "| variant | gen s | "
        + " | ".join(f"{a} ACC (/joint)" for a in ARCHS)
        + " | max forg. (gen) | worst stress drop (gen) |"
    )
    lines = [head, "|---" * (4 + len(ARCHS)) + "|"]
    for r in rows:
        res = r["results"]
        gen = [a for a in ARCHS if res.get(a, {}).get("group") == "generation"]
        cells = [
            f"{res[a]['acc']:.3f} ({res[a]['ratio']:.2f})" + ("*" if res[a]["group"] == "generation" else "")
            if a in res
            else "-"
            for a in ARCHS
        ]
        forg = max(res[a]["max_forgetting"] for a in gen)
        drop = max(res[a]["worst_stress_drop"] for a in gen)
        lines.append(f"| {r['name']} | {r['gen_s']} | " + " | ".join(cells) + f" | {forg:.3f} | {drop:.3f} |")
    return "\n".join(lines) + "\n\n`*` = a generation architecture (the others are held out)."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name")
    ap.add_argument("--set", default="{}", help="JSON overrides of GenerateConfig fields")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", default="docs/ablation.jsonl")
    ap.add_argument("--save", help="also write the artifact here")
    ap.add_argument("--table", action="store_true", help="print the table of logged runs and exit")
    args = ap.parse_args()
    table_or_append(
        Path(args.log),
        args.table,
        table,
        lambda: {
            **run(args.name, json.loads(args.set), args.seeds, args.save),
            "command": shlex.join(["python", *sys.argv]),
        },
        args.threads,
    )


if __name__ == "__main__":
    main()
