"""Split-MNIST benchmark: the user's two commands, timed, then the data on every family of the zoo; writes docs/.

    python benchmarks/split_mnist.py                       # 3 generation seeds x 5 verification seeds
    python benchmarks/split_mnist.py --work W --render     # rewrite the tables from a finished run in W
    python benchmarks/split_mnist.py --phase time          # only the timed part (run it alone on the machine)

Phase "time": ``synthgen generate --seed S`` for each generation seed and the default ``synthgen
verify`` of seed 0's artifact, each in its own process with the CLI's defaults, timed from outside
(wall time, peak RSS from os.wait4). Phase "zoo": each artifact verified on one learner of every
zoo family (and its own generation learners) with the stress scenarios; seed 0's run also
measures the same-memory peers and the joint bound, which do not depend on the artifact's
images (the verifier's own learners, seeds and real data), so seeds 1 and 2 reuse them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from synthgen.api import verify
from synthgen.artifact import load_artifact
from synthgen.config import VerifyConfig
from synthgen.verify import JOINT, STRESS, SYNTHETIC, judged_peers

ZOO_ROWS = ("mlp", "mlp2", "convnet", "cnn", "cnn_bn", "convnet3", "lenet", "resnet8")  # one learner per family
TARGET_ALL, TARGET_GEN, TARGET_GAP, TARGET_PEER, TARGET_STRESS = 0.85, 0.90, 0.05, 0.05, 0.05


def timed(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd`` (output to ``log``); (wall seconds, peak RSS MB of that process). Exit 0 or 1 only."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 1):  # verify exits 1 when not certified: a result, not a failure
        raise SystemExit(f"{shlex.join(cmd)} exited with {rc}; see {log}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def phase_time(work: Path, seeds: int) -> None:
    cli = [sys.executable, "-m", "synthgen"]
    for s in range(seeds):
        out = work / f"seed{s}.safetensors"
        wall, rss = timed(cli + ["generate", "--seed", str(s), "--out", str(out), "--checkpoint-every", "0"],
                          work / f"generate{s}.log")
        (work / f"seed{s}.generate.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))
        print(f"generate seed {s}: {wall:.1f} s, {rss:.0f} MB", flush=True)
    wall, rss = timed(cli + ["verify", str(work / "seed0.safetensors")], work / "verify0.log")
    (work / "seed0.verify.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))
    print(f"default verify of seed 0: {wall:.1f} s, {rss:.0f} MB", flush=True)


def phase_zoo(work: Path, seeds: int, ver_seeds: int) -> None:
    for s in range(seeds):
        art = load_artifact(work / f"seed{s}.safetensors")
        gen = art.metadata["generation"]["archs"]
        cfg = VerifyConfig(seeds=tuple(range(ver_seeds)), archs=tuple(gen), stress=True, baselines=False,
                           heldout=tuple(a for a in ZOO_ROWS if a not in gen), peers=s == 0)
        t0 = time.perf_counter()
        cert = verify(art, cfg)
        (work / f"seed{s}.zoo.json").write_text(json.dumps(cert))
        print(f"zoo verification of seed {s}: {time.perf_counter() - t0:.0f} s", flush=True)


def mean(values) -> float:
    return statistics.mean(values)


def zoo_table(certs: list[dict], n: int) -> tuple[list[str], dict]:
    """One row per learner: the synthetic data over every generation seed next to that family's peers and joint."""
    first = certs[0]["results"]
    replay, gdumb = judged_peers(n)
    head = ["learner", "family", "group", "final ACC", "min seen", "avg incr.", "max forg.", "/ joint",
            "worst stress drop", replay, gdumb, f"vs {gdumb}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    found = {}
    for arch, r in sorted(first.items(), key=lambda kv: (kv[1]["group"] != "generation", kv[0])):
        syn = [c["results"][arch]["methods"][SYNTHETIC] for c in certs]
        acc = mean(s["acc_mean"] for s in syn)
        drops = [c["results"][arch]["methods"][SYNTHETIC]["acc_mean"] - c["results"][arch]["methods"][k]["acc_mean"]
                 for c in certs for k in STRESS]
        m = r["methods"]
        joint, rp, gd = m[JOINT]["acc_mean"], m[replay]["acc_mean"], m[gdumb]["acc_mean"]
        found[arch] = {"acc": acc, "group": r["group"], "drop": max(drops), "gdumb": gd}
        lines.append(f"| {arch} | {r['family']} | {r['group']} | **{acc:.3f}** | "
                     f"{mean(s['min_seen_acc_mean'] for s in syn):.3f} | {mean(s['avg_incremental_acc_mean'] for s in syn):.3f} | "
                     f"{max(s['max_forgetting_mean'] for s in syn):.3f} | {acc / joint:.2f} | {max(drops):.3f} | "
                     f"{rp:.3f} | {gd:.3f} | {acc - gd:+.3f} |")
    return lines, found


def targets(found: dict, gen_s: float, gen_rss: float, ver_s: float) -> list[str]:
    accs = [f["acc"] for f in found.values()]
    gen = [f["acc"] for f in found.values() if f["group"] == "generation"]

    def row(what: str, ok: bool, figure: str) -> str:
        return f"| {what} | {'met' if ok else '**not met**'} | {figure} |"

    worst = min(found, key=lambda a: found[a]["acc"])
    return ["| target | | measured |", "|---|---|---|",
            row(f"every family >= {TARGET_ALL}", min(accs) >= TARGET_ALL, f"lowest: {worst} {min(accs):.3f}"),
            row(f"generation learners >= {TARGET_GEN}", min(gen) >= TARGET_GEN, f"lowest {min(gen):.3f}"),
            row(f"best - worst <= {TARGET_GAP}", max(accs) - min(accs) <= TARGET_GAP, f"{max(accs) - min(accs):.3f}"),
            row(f"every family beats its GDumb by >= {TARGET_PEER}",
                all(f["acc"] - f["gdumb"] >= TARGET_PEER for f in found.values()),
                ", ".join(f"{a} {f['acc'] - f['gdumb']:+.3f}" for a, f in found.items())),
            row(f"stress drops <= {TARGET_STRESS}", max(f["drop"] for f in found.values()) <= TARGET_STRESS,
                f"worst {max(f['drop'] for f in found.values()):.3f}"),
            row("default `generate` <= 300 s, <= 1.5 GB", gen_s <= 300 and gen_rss <= 1536, f"{gen_s:.0f} s, {gen_rss:.0f} MB (median)"),
            row("default `verify` <= 180 s", ver_s <= 180, f"{ver_s:.0f} s")]


def render(work: Path, seeds: int, out: Path) -> str:
    gens = [json.loads((work / f"seed{s}.generate.json").read_text()) for s in range(seeds)]
    ver = json.loads((work / "seed0.verify.json").read_text())
    certs = [json.loads((work / f"seed{s}.zoo.json").read_text()) for s in range(seeds)]
    default_cert = json.loads((work / "seed0.certificate.json").read_text())
    arts = [load_artifact(work / f"seed{s}.safetensors") for s in range(seeds)]
    n = len(arts[0].labels)
    for c in certs[1:]:  # peers and joint from seed 0: they do not depend on the artifact's images
        for arch, r in c["results"].items():
            r["methods"].update({k: v for k, v in certs[0]["results"][arch]["methods"].items() if k not in r["methods"]})
    g = arts[0].metadata["generation"]["config"]
    gen_s, gen_rss = statistics.median(x["wall_s"] for x in gens), statistics.median(x["rss_mb"] for x in gens)
    table, found = zoo_table(certs, n)
    lines = ["# Benchmarks: Split-MNIST on the embedded mnist-5k digits", "",
             f"Command: `python benchmarks/split_mnist.py --work {work}` (phase `time` alone on the machine, then phase "
             f"`zoo`)  ", f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
             f"({torch.get_num_threads()} threads, the CLI default), python {platform.python_version()}.  ",
             f"Default generation: learners {g['learners']['archs']}, {g['ipc']} images/class, recipe "
             f"{arts[0].recipe['optimizer']} x {g['inner_steps']} full-batch steps per task (momentum {g['inner_momentum']}), "
             f"{g['inits_per_step']} learner init(s)/step, {g['steps']} + {g['refine_steps']} refinement steps "
             f"(point weight {g['point_weight']}).", "",
             "## The two commands, timed", "",
             "| generation seed | `synthgen generate` wall s | peak RSS MB |", "|---|---|---|"]
    lines += [f"| {s} | {x['wall_s']:.1f} | {x['rss_mb']:.0f} |" for s, x in enumerate(gens)]
    lines += [f"| **median** | **{gen_s:.1f}** | **{gen_rss:.0f}** |", "",
              f"`synthgen verify seed0.safetensors` (defaults: {len(default_cert['protocol']['seeds'])} seeds, "
              f"{len(default_cert['results'])} learners, peers and joint): **{ver['wall_s']:.1f} s**, {ver['rss_mb']:.0f} MB; "
              f"verdict **{default_cert['verdict']}**.", "", "Its reasons:", ""]
    lines += [f"- {r}" for r in default_cert["reasons"]]
    lines += ["", "## Every zoo family", "",
              f"Final class-incremental accuracy on the real test split, mean over {seeds} generation seeds x "
              f"{len(certs[0]['protocol']['seeds'])} verification seeds; min seen / avg incr.: the lowest and the mean "
              "accuracy on the tasks seen so far over the 5 steps; / joint: against that learner's own joint training "
              "(Adam, lr chosen on validation); worst stress drop: over the 5 stress scenarios and the generation seeds; "
              f"{judged_peers(n)[0]} / {judged_peers(n)[1]}: the same learner keeping {n} real images "
              "(generation seed 0's run; they do not depend on the artifact).", ""]
    lines += table + ["", "## Targets (issue 16)", ""] + targets(found, gen_s, gen_rss, ver["wall_s"])
    lines += ["", "## Elsewhere", "",
              "- the ablations behind the defaults: [research.md](research.md) (`python benchmarks/zoo_ablation.py --table`);",
              "- the cost of one outer step and of the replay pool: [step_cost.md](step_cost.md) (`benchmarks/step_cost.py`);",
              "- 1 vs 2 processes: [scaling_bench.md](scaling_bench.md) (`benchmarks/scaling.py`)."]
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen-seeds", type=int, default=3)
    ap.add_argument("--ver-seeds", type=int, default=5)
    ap.add_argument("--work", default="/tmp/synthgen-bench")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--phase", choices=("time", "zoo", "all"), default="all")
    ap.add_argument("--render", action="store_true", help="only rewrite the tables from a finished --work folder")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the zoo phase")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not args.render:
        if args.phase in ("time", "all"):
            phase_time(work, args.gen_seeds)
        if args.phase in ("zoo", "all"):
            torch.set_num_threads(args.threads)
            phase_zoo(work, args.gen_seeds, args.ver_seeds)
    if args.phase == "all" or args.render:
        print(render(work, args.gen_seeds, Path(args.out)))


if __name__ == "__main__":
    main()
