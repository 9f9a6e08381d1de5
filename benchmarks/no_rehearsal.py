"""Split-MNIST without rehearsal (the paper's setting): data a network learns in sequence with no memory at all.

    python benchmarks/no_rehearsal.py --work runs/no-rehearsal      # 3 generation seeds, the default verify
    python benchmarks/no_rehearsal.py --work runs/no-rehearsal --jobs 3   # the 3 generations at once, 1 thread each

Each phase keeps its result in ``--work`` and is skipped when it is there (a stopped run resumes):

- generate: ``synthgen generate --no-rehearsal --seed S`` (the ``no-rehearsal`` preset), timed from outside;
- verify: the default ``synthgen verify`` of each artifact. For data made without rehearsal it runs the
  memory-free strategies too (EWC, SI, LwF judged; Naive a reference) beside Random-N, Herding-N, GDumb-N and
  the references. The peer cells are cached in ``<work>/verify-cache``: seeds 1 and 2 reuse seed 0's.

The table goes into docs/benchmarks.md between its ``no-rehearsal`` markers.
"""

from __future__ import annotations

import json
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _sections import marks, write_section
from split_mnist import bench_args, timed, work_folder

from synthgen.format.artifact import load_artifact
from synthgen.verification.methods import SYNTHETIC, Kind, alternatives, random_real

SECTION = "no-rehearsal"
TARGET_ACC, TARGET_FORGETTING, TARGET_MEMORY_FREE = 0.88, 0.10, 0.30  # issue targets, mean over generation seeds


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "synthgen", *args]


def phase_generate(work: Path, seed: int, jobs: int = 1) -> None:
    """Generate and time seed ``seed``; with ``jobs`` > 1 it is one of that many at once, one thread each."""
    out = work / f"seed{seed}.safetensors"
    if (work / f"seed{seed}.generate.json").exists():
        return
    cmd = cli("generate", "--no-rehearsal", "--seed", str(seed), "--out", str(out), "--checkpoint-every", "0")
    cmd += ["--threads", "1"] if jobs > 1 else []
    wall, rss = timed(cmd, work / f"generate{seed}.log")
    (work / f"seed{seed}.generate.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss, "jobs": jobs}))


def phase_verify(work: Path, seed: int) -> None:
    if (work / f"seed{seed}.verify.json").exists():
        return
    cmd = cli("verify", str(work / f"seed{seed}.safetensors"), "--certificate", str(work / f"seed{seed}.cert.json"))
    wall, rss = timed(cmd, work / f"verify{seed}.log")
    (work / f"seed{seed}.verify.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))


def render(work: Path, seeds: int, note: str = "") -> str:
    certs = [json.loads((work / f"seed{s}.cert.json").read_text()) for s in range(seeds)]
    gens = [json.loads((work / f"seed{s}.generate.json").read_text()) for s in range(seeds)]
    vers = [json.loads((work / f"seed{s}.verify.json").read_text()) for s in range(seeds)]
    jobs = max(g.get("jobs", 1) for g in gens)
    first = certs[0]["results"]
    n = len(load_artifact(work / "seed0.safetensors").labels)
    ran = next(iter(first.values()))["methods"]
    judged = [p.name for p in alternatives(n) if p.judged and p.name in ran]
    refs = [p.name for p in alternatives(n) if not p.judged and p.name in ran and p.kind is not Kind.REPLAY]
    refs += [p.name for p in alternatives(n) if p.kind is Kind.REPLAY and p.name in ran]
    memory_free = [p.name for p in alternatives(n) if p.kind is Kind.MEMORY_FREE and p.judged and p.name in ran]

    def m(arch: str, name: str, key: str = "acc_mean") -> float:
        return statistics.mean(c["results"][arch]["methods"][name][key] for c in certs)

    head = ["learner", "group", "final ACC", "min seen", "max forg.", *judged, f"gain over {random_real(n).name}",
            "lead over the best judged peer", *refs]  # fmt: skip
    lines = [
        marks(SECTION)[0],
        "# Benchmarks: Split-MNIST without rehearsal (`--no-rehearsal`)",
        "",
        f"Command: `python benchmarks/no_rehearsal.py --work {work} --gen-seeds {seeds}"
        + (f" --jobs {jobs}`  " if jobs > 1 else "`  "),
        f"The `no-rehearsal` preset on mnist-5k: task t trains on its own {n // 5} images alone, nothing kept. "
        f"{seeds} generation seeds x {len(certs[0]['protocol']['seeds'])} verification seeds of the default "
        "`synthgen verify` (the memory-free strategies and the references on the first seed), mean over the "
        "generation seeds; max forg.: the mean over the generation seeds (the worst seed's in brackets).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    found = {}
    for arch, r in sorted(first.items(), key=lambda kv: (kv[1]["group"] != "generation", kv[0])):
        acc = m(arch, SYNTHETIC.name)
        forgs = [c["results"][arch]["methods"][SYNTHETIC.name]["max_forgetting_mean"] for c in certs]
        forg = statistics.mean(forgs)
        peers = {p: m(arch, p) for p in judged + refs}
        found[arch] = (acc, forg, peers)
        row = [arch, r["group"], f"**{acc:.3f}**", f"{m(arch, SYNTHETIC.name, 'min_seen_acc_mean'):.3f}",
               f"{forg:.3f} ({max(forgs):.3f})", *(f"{peers[p]:.3f}" for p in judged),
               f"{acc - peers[random_real(n).name]:+.3f}", f"{acc - max(peers[p] for p in judged):+.3f}",
               *(f"{peers[p]:.3f}" for p in refs)]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    gen_s = statistics.median(g["wall_s"] for g in gens)
    lines += [
        "",
        f"Generation: median {gen_s:.0f} s wall"
        + (f" ({jobs} at once on the machine, one thread each)" if jobs > 1 else "")
        + f", peak RSS {statistics.median(g['rss_mb'] for g in gens):.0f} MB; "
        f"default verify: {vers[0]['wall_s']:.0f} s with an empty cache, then "
        f"{statistics.median(v['wall_s'] for v in vers[1:]) if seeds > 1 else 0:.0f} s (median, peers cached). "
        "Verdicts: " + ", ".join(f"seed {s} {c['verdict']}" for s, c in enumerate(certs)) + ".",
        *([note] if note else []),
        "",
        "| target | | measured |",
        "|---|---|---|",
    ]
    worst_acc = min(found.items(), key=lambda kv: kv[1][0])
    worst_forg = max(found.items(), key=lambda kv: kv[1][1])
    gap = min((acc - peers[p], a, p) for a, (acc, _, peers) in found.items() for p in memory_free)
    for what, ok, figure in (
        (f"final ACC >= {TARGET_ACC} on every learner", worst_acc[1][0] >= TARGET_ACC,
         f"lowest {worst_acc[1][0]:.3f} ({worst_acc[0]})"),
        (f"max forgetting <= {TARGET_FORGETTING}", worst_forg[1][1] <= TARGET_FORGETTING,
         f"highest {worst_forg[1][1]:.3f} ({worst_forg[0]}, mean over the generation seeds)"),
        (f"every memory-free peer beaten by >= {TARGET_MEMORY_FREE}", gap[0] >= TARGET_MEMORY_FREE,
         f"smallest lead {gap[0]:+.3f} ({gap[1]}, {gap[2]})"),
    ):  # fmt: skip
        lines.append(f"| {what} | {'met' if ok else '**not met**'} | {figure} |")
    return "\n".join([*lines, marks(SECTION)[1]]) + "\n"


def main() -> None:
    ap = bench_args(__doc__, "runs/no-rehearsal")
    ap.add_argument("--jobs", type=int, default=1, help="generations run at once, one thread each (> 1)")
    args = ap.parse_args()
    work = work_folder(args.work)
    if not args.render:
        if args.jobs > 1:
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(lambda s: phase_generate(work, s, args.jobs), range(args.gen_seeds)))
        for s in range(args.gen_seeds):
            phase_generate(work, s)
            phase_verify(work, s)
    text = render(work, args.gen_seeds, args.note)
    write_section(Path(args.out), SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
