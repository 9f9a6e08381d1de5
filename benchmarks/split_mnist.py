"""Split-MNIST benchmark: the user's two commands, timed, for several generation seeds; writes docs/.

    python benchmarks/split_mnist.py                          # 3 generation seeds, writes docs/benchmarks.md
    python benchmarks/split_mnist.py --gen-seeds 1 --steps 300 --out /tmp/b.md
    python benchmarks/split_mnist.py --source mnist           # full MNIST (needs the download)
    python benchmarks/split_mnist.py --work W --render        # rewrite the tables from a finished run in W
    python benchmarks/split_mnist.py --generate-args '--inner-lr 0.04' --out /tmp/v.md   # a variant, 3 seeds

For each generation seed: ``synthgen generate --seed S`` then ``synthgen verify`` on its artifact,
each in its own process with the CLI's defaults (threads included), timed from outside (wall
time, and peak RSS from os.wait4). The evaluation is the verifier's own: fresh learners per
(architecture, seed) trained in sequence, evaluated on the REAL test split after every task, with
the real-data baselines (sequential, random coreset, joint) in the same run.
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
import tempfile
from pathlib import Path
import time

import torch

from synthgen.artifact import load_artifact
from synthgen.tasks import task_label
from synthgen.verify import JOINT, METHOD_ORDER, SYNTHETIC


def ordered(cert: dict) -> list[tuple[str, dict]]:
    """Generation archs first, then held-out ones (the certificate's JSON keys are sorted)."""
    return sorted(cert["results"].items(), key=lambda kv: (kv[1]["group"] != "generation", kv[0]))


def table(cert: dict) -> list[str]:
    lines = ["| eval arch | method | final ACC | BWT | max forgetting | task-incr. ACC | / joint |",
             "|---|---|---|---|---|---|---|"]
    for arch, r in ordered(cert):
        joint = r["methods"][JOINT]["acc_mean"] if JOINT in r["methods"] else None
        for method in [m for m in METHOD_ORDER if m in r["methods"]]:
            s = r["methods"][method]
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


def across_seeds(certs: list[dict]) -> list[str]:
    """Per eval arch: the synthetic final ACC of each generation seed's artifact, their mean, / joint."""
    archs = [a for a, _ in ordered(certs[0])]
    head = "| eval arch | " + " | ".join(f"gen seed {i}" for i in range(len(certs))) + " | mean | / joint | max forgetting (worst seed) |"
    lines = [head, "|---" * (len(certs) + 4) + "|"]
    for arch in archs:
        accs = [c["results"][arch]["methods"][SYNTHETIC]["acc_mean"] for c in certs]
        joint = statistics.mean(c["results"][arch]["methods"][JOINT]["acc_mean"] for c in certs
                                if JOINT in c["results"][arch]["methods"])
        forg = max(c["results"][arch]["methods"][SYNTHETIC]["max_forgetting_mean"] for c in certs)
        group = certs[0]["results"][arch]["group"]
        lines.append(f"| {arch} ({group}) | " + " | ".join(f"{a:.3f}" for a in accs)
                     + f" | {statistics.mean(accs):.3f} | {statistics.mean(accs) / joint:.2f} | {forg:.3f} |")
    return lines


PER_TASK_CAPTION = ("Final accuracy on each task's real test images: the synthetic data after the whole sequence "
                    "(mean over generation seeds and the verifier's seeds), and joint training on all real data (the "
                    "upper bound):")


def per_task(certs: list[dict], caption: str = PER_TASK_CAPTION) -> list[str]:
    """Per eval arch: final accuracy on each task (mean over the certificates) next to the joint bound's;
    nothing for certificates without the joint bound's per-task figures."""
    if not all("per_task_final" in c["results"][a]["methods"].get(JOINT, {}) for c in certs for a in c["results"]):
        return []
    names = [task_label(t) for t in certs[0]["source"]["tasks"]]
    lines = ["", caption, "",
             "| eval arch | method | " + " | ".join(f"task {n}" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for arch, r in ordered(certs[0]):
        for method in (SYNTHETIC, JOINT):
            cols = zip(*(c["results"][arch]["methods"][method]["per_task_final"] for c in certs))
            lines.append(f"| {arch} ({r['group']}) | {method} | " + " | ".join(f"{statistics.mean(v):.3f}" for v in cols) + " |")
    return lines


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
                     "below, JSON over the GenerateConfig defaults *of the time*. Rows without an `effective` "
                     "record are over the first defaults (learners mlp, 4 inits/step, no replay pool, no lr jitter); "
                     "later rows record their effective settings in docs/ablation.jsonl. **base** = the default before "
                     "refinement was adopted (mlp + convnet, 2 inits/step, replay pool 256 advanced per stage, lr jitter "
                     "x2, 1500 steps, no refinement). Generation seconds are indicative: these runs shared the 2 cores "
                     "with other work unless the name says otherwise.\n\n"
                     + "\n".join(f"- {r['name']}: `{json.dumps(r['overrides'])}`" for r in rows) + "\n\n"
                     + ablation_table(rows))
    for name in ("step_cost.md", "scaling_bench.md"):
        if (docs / name).exists():
            text = (docs / name).read_text()
            parts.append("\n".join("#" + line if line.startswith("#") else line for line in text.splitlines()))
    return "\n\n".join([""] + parts)


def timed(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd`` (output to ``log``); (wall seconds, peak RSS MB of that process). Exit 0 or 1 only."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 1):  # verify exits 1 when not certified: a result, not a failure
        raise SystemExit(f"{shlex.join(cmd)} exited with {rc}; see {log}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="mnist-5k")
    ap.add_argument("--gen-seeds", type=int, default=3, help="artifacts generated (seeds 0..N-1)")
    ap.add_argument("--steps", type=int, help="outer steps (default: the CLI's)")
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--work", help="folder for artifacts and logs (default: a temporary one)")
    ap.add_argument("--render", action="store_true", help="only rewrite the tables from a finished --work folder")
    ap.add_argument("--generate-args", default="", help="more `synthgen generate` options for a variant, e.g. '--inner-lr 0.04'")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="synthgen-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "synthgen"]

    runs = []
    for seed in range(args.gen_seeds):
        out = work / f"seed{seed}.safetensors"
        record = work / f"seed{seed}.run.json"
        if args.render:  # re-render the tables from a finished --work folder
            timing = json.loads(record.read_text())
            runs.append({**timing, "art": load_artifact(out),
                         "cert": json.loads((work / f"seed{seed}.certificate.json").read_text())})
            continue
        gen = cli + ["generate", "--source", args.source, "--seed", str(seed), "--out", str(out), "--checkpoint-every", "0"]
        gen += ["--steps", str(args.steps)] if args.steps else []
        gen += shlex.split(args.generate_args)
        gen_s, gen_rss = timed(gen, work / f"generate{seed}.log")
        cert_path = work / f"seed{seed}.certificate.json"
        ver = cli + ["verify", str(out), "--certificate", str(cert_path), "--out-dir", str(work / f"seed{seed}.verify")]
        ver_s, ver_rss = timed(ver, work / f"verify{seed}.log")
        art = load_artifact(out)
        timing = {"seed": seed, "gen_s": gen_s, "engine_s": art.metadata["generation"]["wall_time_s"],
                  "gen_rss": gen_rss, "ver_s": ver_s, "ver_rss": ver_rss}
        record.write_text(json.dumps(timing))
        runs.append({**timing, "art": art, "cert": json.loads(cert_path.read_text())})
        print(f"seed {seed}: generate {gen_s:.1f} s ({gen_rss:.0f} MB), verify {ver_s:.1f} s ({ver_rss:.0f} MB), "
              f"{runs[-1]['cert']['verdict']}", flush=True)

    first, certs = runs[0], [r["cert"] for r in runs]
    g = first["art"].metadata["generation"]["config"]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    lines = [f"# Benchmarks: Split-MNIST on `{args.source}`", "",
             f"Command: `python {shlex.join(a for a in sys.argv if a != '--render')}` (each generation seed runs "
             f"`synthgen generate --seed S` then `synthgen verify` on its artifact, CLI defaults"
             f"{' except ' + args.generate_args if args.generate_args else ''})  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads "
             f"(the CLI default), torch {torch.__version__}, python {platform.python_version()}  ",
             f"Generation: {g['steps']} outer steps + {g['refine_steps']} refinement steps, archs {g['learners']['archs']}, ipc {g['ipc']}, "
             f"K={g['inner_steps']}, {g['inits_per_step']} inits/step. Verification: "
             f"{len(first['cert']['protocol']['seeds'])} seeds x {len(first['cert']['results'])} archs, with baselines.", "",
             "| generation seed | `generate` wall s | engine s | peak RSS MB | `verify` wall s | peak RSS MB | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['gen_s']:.1f} | {r['engine_s']:.1f} | {r['gen_rss']:.0f} | {r['ver_s']:.1f} | "
                     f"{r['ver_rss']:.0f} | {r['cert']['verdict']} |")
    lines += [f"| **median** | **{med('gen_s'):.1f}** | {med('engine_s'):.1f} | {med('gen_rss'):.0f} | "
              f"**{med('ver_s'):.1f}** | {med('ver_rss'):.0f} | |", "",
              "Final average accuracy on the real test split (class-incremental, 10 classes) of each generation "
              "seed's artifact, mean over the verifier's seeds:", ""]
    lines += across_seeds(certs)
    lines += per_task(certs)
    lines += ["", f"Generation seed 0 in full: learned lr per task {[round(v, 4) for v in first['art'].recipe['lr_per_task']]}. "
              "Final average accuracy over all tasks (mean ± std over the verifier's seeds), backward transfer, max "
              "forgetting, the same learners evaluated task-incrementally, and the ratio to joint training.", ""]
    lines += table(first["cert"])
    for arch, r in ordered(first["cert"]):
        lines += ["", f"Synthetic-data accuracy matrix, `{arch}` (generation seed 0; row i: after task i; column j: "
                      "task j; mean over the verifier's seeds):", ""]
        lines += matrix(r["methods"][SYNTHETIC]["mean_matrix"])
    text = "\n".join(lines) + "\n" + appendix(Path(args.out).parent)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
