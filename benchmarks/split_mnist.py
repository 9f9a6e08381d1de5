"""Split-MNIST benchmark: the user's two commands, timed, then the data on every family of the zoo; writes docs/.

    python benchmarks/split_mnist.py                       # 3 generation seeds x 5 verification seeds
    python benchmarks/split_mnist.py --work W --render     # rewrite the tables from a finished run in W
    python benchmarks/split_mnist.py --phase time          # only the timed part (run it alone on the machine)
    python benchmarks/split_mnist.py --phase certify       # then: is every seed's default data certified?

Phase "time": ``synthgen generate --seed S`` for each generation seed (kept when ``--work`` already holds it
with its timing) and the default ``synthgen verify`` of
seed 0's artifact twice, first with an empty cache, then reusing the peer cells the first one computed (every
command uses the benchmark's own cache, ``<work>/verify-cache``), each in its own process with the CLI's
defaults, timed from outside (wall time, peak RSS from os.wait4). Phase "certify": the default ``synthgen
verify`` of the other seeds' artifacts (peer cells cached). Phase "zoo": ``synthgen verify --config`` of each
artifact on its generation learners and one learner of every zoo family, with the stress scenarios, over
``--nproc`` processes. The same-memory peers and the joint bound do not depend on the artifact's images (the
verifier's own learners, seeds and real data): they come from the default verify of seed 0, and one peers run
for the rows that it did not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from _sections import sections_of

from synthgen.format.artifact import load_artifact
from synthgen.format.recipe import optimiser_of, shift_of
from synthgen.verification.methods import JOINT, STRESS, SYNTHETIC, Kind, judged_peers

# the held-out rows: the zoo's families at a consumer's sizes (ConvNet-3 at width 32: at 128 its joint bound and
# peers alone take hours on 2 cores; research.md has the width-128 figures)
ZOO_ROWS = ("mlp", "mlp2", "convnet", "cnn", "cnn_bn", "convnet3_s", "lenet", "resnet8")
STRESS_NAMES = [m.name for m in STRESS]


def judged_names(n: int) -> list[str]:
    """The peers a rehearsed artifact is judged against (the memory-free ones run only without rehearsal)."""
    return [p.name for p in judged_peers(n) if p.kind is not Kind.MEMORY_FREE]


TARGET_ALL, TARGET_GEN, TARGET_GAP, TARGET_PEER, TARGET_STRESS = 0.85, 0.90, 0.05, 0.05, 0.05  # every zoo family
TARGET_MARGIN = 0.02  # the default data beats every judged peer by this on every learner
TARGET_REPLAY = {"mlp": (0.75, 0.87), "cnn": (0.79, 0.91)}  # Replay-N / Replay-5N: Avalanche 0.6.0's figures
TARGET_COLD, TARGET_MAIN, TARGET_WARM = 300, 510, 60  # seconds: cold verify, generate + cold verify, warm verify
CACHE = "verify-cache"  # the benchmark's own cache of peer cells (SYNTHGEN_CACHE_DIR of every command it runs)


def bench_args(doc: str, work: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes; each adds its own."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--gen-seeds", type=int, default=3)
    ap.add_argument("--work", default=work)
    ap.add_argument("--out", default="docs/benchmarks.md")
    ap.add_argument("--render", action="store_true", help="only rewrite the tables from a finished --work folder")
    ap.add_argument("--note", default="", help="a remark on the run, printed under its timings")
    return ap


def work_folder(path: str) -> Path:
    """The run's folder, made; every command the benchmark runs keeps its peer cells in it (``CACHE``)."""
    work = Path(path)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["SYNTHGEN_CACHE_DIR"] = str(work / CACHE)
    return work


def timed(cmd: list[str], log: Path, env: dict | None = None) -> tuple[float, float]:
    """Run ``cmd`` (output to ``log``); (wall seconds, peak RSS MB of that process). Exit 0 or 1 only."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 1):  # verify exits 1 when not certified: a result, not a failure
        raise SystemExit(f"{shlex.join(cmd)} exited with {rc}; see {log}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def phase_time(work: Path, seeds: int) -> None:
    cli = [sys.executable, "-m", "synthgen"]
    for s in range(seeds):
        out = work / f"seed{s}.safetensors"
        if out.exists() and (work / f"seed{s}.generate.json").exists():
            continue  # made by an earlier run of this phase (the guard test pins the default data's bits)
        wall, rss = timed(
            cli + ["generate", "--seed", str(s), "--out", str(out), "--checkpoint-every", "0"],
            work / f"generate{s}.log",
        )
        (work / f"seed{s}.generate.json").write_text(json.dumps({"wall_s": wall, "rss_mb": rss}))
        print(f"generate seed {s}: {wall:.1f} s, {rss:.0f} MB", flush=True)
    shutil.rmtree(work / CACHE, ignore_errors=True)  # the first verify computes every peer cell, the second reuses them
    record = {}
    for run in ("cold", "warm"):
        wall, rss = timed(cli + ["verify", str(work / "seed0.safetensors")], work / f"verify0.{run}.log")
        record[run] = {"wall_s": wall, "rss_mb": rss}
        if run == "cold":  # the warm run rewrites the certificate: keep the cold one's timings
            shutil.copy(work / "seed0.certificate.json", work / "seed0.cold.certificate.json")
        print(f"default verify of seed 0 ({run} cache): {wall:.1f} s, {rss:.0f} MB", flush=True)
    (work / "seed0.verify.json").write_text(json.dumps(record))
    phase_main(work)


def phase_main(work: Path) -> None:
    """The README's main job as one command, ``synthgen generate --verify`` (seed 0), with an empty cache of its own:
    the cells that do not depend on the data are computed while generating."""
    out, cache = work / "main" / "seed0.safetensors", work / "main" / CACHE
    shutil.rmtree(work / "main", ignore_errors=True)
    out.parent.mkdir(parents=True)
    cmd = [sys.executable, "-m", "synthgen", "generate", "--out", str(out), "--checkpoint-every", "0", "--verify"]
    wall, rss = timed(cmd, work / "main.log", {**os.environ, "SYNTHGEN_CACHE_DIR": str(cache)})
    cert = json.loads(out.with_suffix(".certificate.json").read_text())
    same = load_artifact(out).sha256 == load_artifact(work / "seed0.safetensors").sha256
    record = {"wall_s": wall, "rss_mb": rss, "same_data": same, "verify_s": cert["environment"]["wall_time_s"]}
    (work / "main.json").write_text(json.dumps(record))
    print(f"generate --verify of seed 0: {wall:.1f} s (the same data as `generate`: {same})", flush=True)


def phase_certify(work: Path, seeds: int) -> None:
    """The default ``synthgen verify`` of every other generation seed's artifact, reusing the peer cells that seed 0's
    verify computed (they do not depend on the images): is each seed's default data certified?"""
    cli = [sys.executable, "-m", "synthgen", "verify"]
    for s in range(1, seeds):
        wall, rss = timed(cli + [str(work / f"seed{s}.safetensors")], work / f"verify{s}.log")
        (work / f"seed{s}.verify.json").write_text(json.dumps({"warm": {"wall_s": wall, "rss_mb": rss}}))
        print(f"default verify of seed {s} (peers cached): {wall:.1f} s, {rss:.0f} MB", flush=True)


def default_certs(work: Path, seeds: int) -> dict[int, dict]:
    """Generation seed -> the default verify's certificate, for every seed that has one (phases time and certify)."""
    paths = {s: work / f"seed{s}.certificate.json" for s in range(seeds)}
    return {s: json.loads(p.read_text()) for s, p in paths.items() if p.exists()}


def peer_gaps(cert: dict, n: int) -> list[tuple[float, str, str]]:
    """(synthetic final ACC - peer's, learner, peer) for every learner and judged peer of a certificate."""
    return [
        (r["methods"][SYNTHETIC.name]["acc_mean"] - r["methods"][p]["acc_mean"], a, p)
        for a, r in cert["results"].items()
        for p in judged_names(n)
        if p in r["methods"]
    ]


def certified_rows(work: Path, seeds: int, certs: dict[int, dict], n: int) -> list[str]:
    """One row per generation seed: the default verify's verdict, the smallest lead over a judged peer."""
    lines = [
        "| generation seed | verdict | wall s (peers cached) | smallest lead over a judged peer (learner, peer) | "
        "max forgetting / beyond the joint bound's (worst learner) | failed reasons |",
        "|---|---|---|---|---|---|",
    ]
    for s in range(seeds):
        if s not in certs:
            lines.append(f"| {s} | not run | | | | |")
            continue
        cert, ver = certs[s], json.loads((work / f"seed{s}.verify.json").read_text())
        lead = min(peer_gaps(cert, n), default=None)
        syn = {a: r["methods"][SYNTHETIC.name] for a, r in cert["results"].items()}
        worst = max(syn, key=lambda a: syn[a]["forgetting_beyond_joint_mean"])  # the verdict's forgetting
        forg = f"{syn[worst]['max_forgetting_mean']:.3f} / {syn[worst]['forgetting_beyond_joint_mean']:.3f}"
        failed = [r for r in cert["reasons"] if "FAILS" in r]
        lines.append(
            f"| {s} | **{cert['verdict']}** | {ver['warm']['wall_s']:.0f} | "
            f"{'-' if lead is None else f'{lead[0]:+.3f} ({lead[1]}, {lead[2]})'} | {forg} ({worst}) | "
            f"{'; '.join(failed) or 'none'} |"
        )
    return lines


def default_means(certs: list[dict], n: int) -> tuple[list[str], dict]:
    """One row per learner of the default verify: the synthetic data's figures, mean over the generation seeds,
    next to the judged peers and the references (Replay: the same in every certificate)."""
    judged, refs = judged_names(n), [f"Replay-{n}", f"Replay-{5 * n}"]
    head = ["learner", "group", "final ACC", "min seen", "max forg.", *judged, f"gain over {judged[0]}",
            "lead over the best judged peer", *refs]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    found = {}
    for arch, r in sorted(certs[0]["results"].items(), key=lambda kv: (kv[1]["group"] != "generation", kv[0])):
        syn = [c["results"][arch]["methods"][SYNTHETIC.name] for c in certs]
        f = {k: mean(x[f"{k}_mean"] for x in syn) for k in ("acc", "min_seen_acc", "avg_incremental_acc")}
        peer = {p: mean(c["results"][arch]["methods"][p]["acc_mean"] for c in certs) for p in judged + refs}
        f.update(group=r["group"], forg=max(x["max_forgetting_mean"] for x in syn), peer=peer)
        found[arch] = f
        cells = [f"{peer[p]:.3f}" for p in judged]
        cells += [f"{f['acc'] - peer[judged[0]]:+.3f}", f"{f['acc'] - max(peer[p] for p in judged):+.3f}"]
        cells += [f"{peer[p]:.3f}" for p in refs]
        lines.append(
            f"| {arch} | {r['group']} | **{f['acc']:.3f}** | {f['min_seen_acc']:.3f} | {f['forg']:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines, found


def zoo_rows(gen: list[str]) -> list[str]:
    """The held-out rows of the zoo table for an artifact made with ``gen``."""
    return [a for a in ZOO_ROWS if a not in gen]


def phase_zoo(work: Path, seeds: int, ver_seeds: int, nproc: int) -> None:
    """``synthgen verify --config`` of every artifact on every zoo row with the stress scenarios, then the peers and
    the joint bound once for the rows the default verify of seed 0 did not already measure."""
    cli = [sys.executable, "-m", "synthgen", "verify", "--threads", "1", "--nproc", str(nproc)]
    arts = [load_artifact(work / f"seed{s}.safetensors") for s in range(seeds)]
    for s, art in enumerate(arts):
        gen = art.metadata["generation"]["archs"]
        cfg = {
            "seeds": list(range(ver_seeds)),
            "heldout": zoo_rows(gen),
            "stress": True,
            "peers": False,
            "joint": False,
        }
        (work / f"seed{s}.zoo.config.json").write_text(json.dumps(cfg))
        wall, _ = timed(
            cli
            + [
                str(work / f"seed{s}.safetensors"),
                "--config",
                str(work / f"seed{s}.zoo.config.json"),
                "--certificate",
                str(work / f"seed{s}.zoo.json"),
                "--out-dir",
                str(work / f"seed{s}.zoo"),
            ],
            work / f"zoo{s}.log",
        )
        print(f"zoo verification of seed {s}: {wall:.0f} s", flush=True)
    done = peer_results(work, len(arts[0].labels))  # peers and joint do not depend on the data
    gen = arts[0].metadata["generation"]["archs"]
    missing = [a for a in [*gen, *zoo_rows(gen)] if a not in done]
    if missing:
        cfg = {
            "seeds": list(range(ver_seeds)),
            "archs": missing[:1],
            "heldout": missing[1:],
            "stress": False,
        }
        (work / "peers.config.json").write_text(json.dumps(cfg))
        wall, _ = timed(
            cli
            + [
                str(work / "seed0.safetensors"),
                "--config",
                str(work / "peers.config.json"),
                "--certificate",
                str(work / "seed0.peers.json"),
                "--out-dir",
                str(work / "seed0.peers"),
            ],
            work / "peers.log",
        )
        print(f"peers and joint of {', '.join(missing)}: {wall:.0f} s", flush=True)


def peer_results(work: Path, n: int) -> dict[str, dict]:
    """arch -> the peers' and the joint bound's summaries, from the default verify and the zoo phase's peers run."""
    out: dict[str, dict] = {}
    for name in ("seed0.certificate.json", "seed0.peers.json"):
        if (work / name).exists():
            for arch, r in json.loads((work / name).read_text())["results"].items():
                out.setdefault(arch, {}).update(
                    {k: v for k, v in r["methods"].items() if k in (*judged_names(n), JOINT.name)}
                )
    return out


def mean(values) -> float:
    return statistics.mean(values)


def zoo_table(certs: list[dict], peers: dict[str, dict], n: int) -> tuple[list[str], dict]:
    """One row per learner: the synthetic data over every generation seed next to that family's peers and joint."""
    first = certs[0]["results"]
    replay, gdumb = f"Replay-{n}", f"GDumb-{n}"
    head = [
        "learner",
        "family",
        "group",
        "final ACC",
        "min seen",
        "avg incr.",
        "max forg.",
        "/ joint",
        "worst stress drop",
        replay,
        gdumb,
        f"vs {gdumb}",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    found = {}
    for arch, r in sorted(first.items(), key=lambda kv: (kv[1]["group"] != "generation", kv[0])):
        syn = [c["results"][arch]["methods"][SYNTHETIC.name] for c in certs]
        acc = mean(s["acc_mean"] for s in syn)
        drops = [
            c["results"][arch]["methods"][SYNTHETIC.name]["acc_mean"] - c["results"][arch]["methods"][k]["acc_mean"]
            for c in certs
            for k in STRESS_NAMES
        ]
        m = peers.get(arch, {})
        joint, rp, gd = (m[k]["acc_mean"] if k in m else None for k in (JOINT.name, replay, gdumb))
        min_seen, avg_incr = mean(s["min_seen_acc_mean"] for s in syn), mean(s["avg_incremental_acc_mean"] for s in syn)
        found[arch] = {
            "acc": acc,
            "group": r["group"],
            "drop": max(drops),
            "gdumb": gd,
            "min_seen": min_seen,
            "avg_incr": avg_incr,
        }
        fmt = lambda v, spec=".3f": "not run" if v is None else format(v, spec)  # noqa: E731
        lines.append(
            f"| {arch} | {r['family']} | {r['group']} | **{acc:.3f}** | {min_seen:.3f} | {avg_incr:.3f} | "
            f"{max(s['max_forgetting_mean'] for s in syn):.3f} | {fmt(joint and acc / joint, '.2f')} | "
            f"{max(drops):.3f} | {fmt(rp)} | {fmt(gd)} | {fmt(None if gd is None else acc - gd, '+.3f')} |"
        )
    return lines, found


def row(what: str, ok: bool, figure: str) -> str:
    return f"| {what} | {'met' if ok else '**not met**'} | {figure} |"


def generate_target(gen_s: float, gen_rss: float) -> str:
    """The cost target of the default ``generate`` (median over the seeds)."""
    return row(
        "default `generate` <= 300 s, <= 1.5 GB",
        gen_s <= 300 and gen_rss <= 1536,
        f"{gen_s:.0f} s, {gen_rss:.0f} MB (median)",
    )


def zoo_targets(found: dict, gen_s: float, gen_rss: float) -> list[str]:
    """The targets on every row of the zoo table."""
    accs = [f["acc"] for f in found.values()]
    gen = {a: f for a, f in found.items() if f["group"] == "generation"}
    peered = {a: f for a, f in found.items() if f["gdumb"] is not None}
    worst = min(found, key=lambda a: found[a]["acc"])
    return [
        "| target | | measured |",
        "|---|---|---|",
        row(f"every family >= {TARGET_ALL}", min(accs) >= TARGET_ALL, f"lowest: {worst} {min(accs):.3f}"),
        row(
            f"generation learners >= {TARGET_GEN}",
            min(f["acc"] for f in gen.values()) >= TARGET_GEN,
            ", ".join(f"{a} {f['acc']:.3f}" for a, f in gen.items()),
        ),
        row(f"best - worst <= {TARGET_GAP}", max(accs) - min(accs) <= TARGET_GAP, f"{max(accs) - min(accs):.3f}"),
        row(
            f"every family beats its GDumb by >= {TARGET_PEER}",
            len(peered) == len(found) and all(f["acc"] - f["gdumb"] >= TARGET_PEER for f in peered.values()),
            ", ".join(f"{a} {f['acc'] - f['gdumb']:+.3f}" for a, f in peered.items())
            + "".join(f", {a} not run" for a in found if a not in peered),
        ),
        row(
            f"stress drops <= {TARGET_STRESS}",
            max(f["drop"] for f in found.values()) <= TARGET_STRESS,
            f"worst {max(f['drop'] for f in found.values()):.3f} ({max(found, key=lambda a: found[a]['drop'])})",
        ),
        generate_target(gen_s, gen_rss),
    ]


def verify_targets(
    means: dict, certs: dict[int, dict], ver: dict, gen_s: float, n: int, main: dict | None = None
) -> list[str]:
    """The yardstick's targets on the default verify of every generation seed (``means``: its learners' figures,
    mean over the seeds)."""
    judged = [(s, a, p, g) for s, c in certs.items() for g, a, p in peer_gaps(c, n)]
    replay, replay5 = f"Replay-{n}", f"Replay-{5 * n}"
    floors = [(a, p, v) for a, (r1, r5) in TARGET_REPLAY.items() for p, v in ((replay, r1), (replay5, r5))]
    cold, warm = ver["cold"]["wall_s"], ver["warm"]["wall_s"]
    rows = [
        "| target | | measured |",
        "|---|---|---|",
        row(
            f"every judged peer beaten by >= {TARGET_MARGIN} on every learner, each of {len(certs)} seeds",
            all(g >= TARGET_MARGIN for *_, g in judged),
            ", ".join(f"seed {s} {a} vs {p} {g:+.3f}" for s, a, p, g in judged if g < TARGET_MARGIN)
            or f"smallest lead {min(g for *_, g in judged):+.3f}",
        ),
        row(
            "Replay at Avalanche's figures: " + ", ".join(f"{a} {p} >= {v}" for a, p, v in floors),
            all(a in means and means[a]["peer"][p] >= v for a, p, v in floors),
            ", ".join(f"{a} {p} {means[a]['peer'][p]:.3f}" for a, p, v in floors if a in means),
        ),
        row(
            f"{replay5} >= {replay} - 0.01 on every learner",
            all(f["peer"][replay5] >= f["peer"][replay] - 0.01 for f in means.values()),
            ", ".join(f"{a} {f['peer'][replay5] - f['peer'][replay]:+.3f}" for a, f in means.items()),
        ),
        row(f"cold default `verify` <= {TARGET_COLD} s", cold <= TARGET_COLD, f"{cold:.0f} s"),
        row(f"warm default `verify` <= {TARGET_WARM} s", warm <= TARGET_WARM, f"{warm:.0f} s"),
    ]
    two = f"{gen_s + cold:.0f} s as two commands, `generate` then a cold `verify`"
    if main:  # the README's main job: generate and a cold verify in one command
        one = main["wall_s"]
        rows.append(row(f"`generate` + cold `verify` <= {TARGET_MAIN} s: the README's main job, `generate --verify` "
                        "(empty cache)", one <= TARGET_MAIN, f"{one:.0f} s ({two})"))  # fmt: skip
    else:
        rows.append(row(f"`generate` + cold `verify` <= {TARGET_MAIN} s", gen_s + cold <= TARGET_MAIN, two))
    return rows


def time_table(work: Path) -> list[str]:
    """Where the cold verify's time went, per method and per learner (seconds summed over the cells), when the
    run recorded it."""
    path = work / "seed0.cold.certificate.json"
    spread = json.loads(path.read_text())["protocol"]["spread"] if path.exists() else {}
    lines = []
    for key, what in (("seconds_by_method", "method"), ("seconds_by_learner", "learner")):
        seconds = spread.get(key)
        if not seconds:
            continue
        total = sum(seconds.values())
        over = f", over {spread['processes']} processes" if spread.get("processes", 1) > 1 else ""
        lines += [f"Where the cold verify's time went, per {what} (seconds summed over its cells{over}):", "",
                  f"| {what} | seconds | share |", "|---|---|---|"]  # fmt: skip
        ranked = sorted(seconds.items(), key=lambda kv: -kv[1])
        lines += [f"| {name} | {s:.0f} | {s / total:.0%} |" for name, s in ranked]
        if what == "method":
            lines += ["", "A tuned method's first-seed test cell is its tuning run at the chosen setting, so its time "
                      "is in the tuning row: all of it for the references, which run on one seed."]  # fmt: skip
        lines.append("")
    return [*lines, "Its reasons:", ""] if lines else []


def start_of(g: dict) -> str:
    """Where the images start, as the benchmark's header says it."""
    if g.get("init") == "dm":
        return (
            f" started from their k-means centroids moved by {g['init_steps']} steps of distribution matching "
            f"({g['init_real']} real images per class per step)"
        )
    return f" started by `init {g.get('init')}`"


def render(work: Path, seeds: int, out: Path, note: str = "") -> str:
    gens = [json.loads((work / f"seed{s}.generate.json").read_text()) for s in range(seeds)]
    ver = json.loads((work / "seed0.verify.json").read_text())
    zoo_files = [work / f"seed{s}.zoo.json" for s in range(seeds)]
    certs = [json.loads(p.read_text()) for p in zoo_files] if all(p.exists() for p in zoo_files) else None
    by_seed = default_certs(work, seeds)
    default_cert, dflt = by_seed[0], list(by_seed.values())
    spread = default_cert["protocol"]["spread"]
    arts = [load_artifact(work / f"seed{s}.safetensors") for s in range(seeds)]
    n = len(arts[0].labels)
    g = arts[0].metadata["generation"]["config"]
    gen_s, gen_rss = statistics.median(x["wall_s"] for x in gens), statistics.median(x["rss_mb"] for x in gens)
    means_table, means = default_means(dflt, n)
    shift = shift_of(arts[0].recipe)
    shifted = f"; each image shifted by up to {shift} px per step" if shift else ""
    clip = optimiser_of(arts[0].recipe).clip
    clipped = f"; the gradient clipped to norm {clip:g} before each step" if clip else ""
    lines = [
        "# Benchmarks: Split-MNIST on the embedded mnist-5k digits",
        "",
        f"Command: `python benchmarks/split_mnist.py --work {work}` (phase `time` alone on the machine, then "
        f"{'phases `certify` and `zoo`' if certs is not None else 'phase `certify`'})  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"(the CLI defaults: `generate` one process with {torch.get_num_threads()} threads, `verify` one process "
        f"per core with 1 thread each), python {platform.python_version()}.  ",
        f"Default generation: learners {g['learners']['archs']}, {g['ipc']} images/class{start_of(g)}, "
        "meta-trained through "
        f"{g['inner_steps']} full-batch steps per task; the recipe: {arts[0].recipe['optimizer']} x "
        f"{arts[0].recipe['steps_per_task']} full-batch steps per task (momentum {g['inner_momentum']}; "
        f"{arts[0].recipe['order'].split('; ')[-1]}{shifted}{clipped}), "
        f"{g['inits_per_step']} learner init(s)/step, {g['steps']} outer steps over the task stages, each stage "
        f"ending at its data's mean over its last {g.get('tail_average', 0):.0%} of steps, "
        "distribution matching against "
        f"random `{g.get('feature_arch', '-')}` bodies at weight {g.get('feature_weight', 0)}.",
        "",
        "## The two commands, timed",
        "",
        "| generation seed | `synthgen generate` wall s | peak RSS MB |",
        "|---|---|---|",
    ]
    lines += [f"| {s} | {x['wall_s']:.1f} | {x['rss_mb']:.0f} |" for s, x in enumerate(gens)]
    lines += [
        f"| **median** | **{gen_s:.1f}** | **{gen_rss:.0f}** |",
        *(["", note, ""] if note else [""]),
        f"`synthgen verify seed0.safetensors` (defaults: {len(default_cert['protocol']['seeds'])} seeds, "
        f"{len(default_cert['results'])} learners, peers tuned on validation, references and joint; "
        f"{spread.get('processes', 1)} process(es)): **{ver['cold']['wall_s']:.1f} s**, "
        f"{ver['cold']['rss_mb']:.0f} MB with an empty cache; the same command "
        f"again, reusing the peers, the references and the joint bound from the cache (synthgen.verification.cache): "
        f"**{ver['warm']['wall_s']:.1f} s**, {ver['warm']['rss_mb']:.0f} MB; verdict **{default_cert['verdict']}**.",
        "",
    ]
    main = json.loads((work / "main.json").read_text()) if (work / "main.json").exists() else None
    if main:
        main_gen_s = load_artifact(work / "main" / "seed0.safetensors").metadata["generation"]["wall_time_s"]
        lines += [
            "The same two as one command, `synthgen generate --out seed0.safetensors --verify` (phase `main`, an "
            f"empty cache of its own): **{main['wall_s']:.1f} s** in all: generation {main_gen_s:.1f} s, on one "
            f"thread while a second process computed the verification's cells that do not depend on the data on the "
            f"other core (synthgen.verification.prefill), on both once it had finished them; then the verify "
            f"{main['verify_s']:.1f} s; "
            + ("the data is the same bit for bit." if main["same_data"] else
               "the data differs from `generate`'s by float rounding (threads)."),
            "",
        ]  # fmt: skip
    lines += time_table(work) or ["Its reasons:", ""]
    lines += [f"- {r}" for r in default_cert["reasons"]]
    lines += ["", "Where it stands against the references (not judged):", ""]
    lines += [f"- {r}" for r in default_cert.get("references", [])]
    lines += [
        "",
        "## The default verify of every generation seed",
        "",
        f"Seeds 1-{seeds - 1}: `synthgen verify seedS.safetensors` (phase `certify`), reusing seed 0's cells that "
        "do not depend on the artifact from the cache (GDumb, Replay, the joint bound, the tuning runs); Random-N and "
        "Herding-N train by each artifact's own recipe (its learned lrs), so they are computed for each.",
        "",
        *certified_rows(work, seeds, by_seed, n),
        "",
        f"Its learners, mean over the {len(dflt)} generation seeds x {len(default_cert['protocol']['seeds'])} "
        "verification seeds (final ACC on the real test split; min seen: the lowest accuracy on the tasks seen so "
        "far over the 5 steps; max forg.: the worst seed's; judged: Random-N, Herding-N (N real images trained by "
        "the artifact's recipe) and GDumb-N; references: Replay):",
        "",
        *means_table,
    ]
    lines += ["", "## Every zoo family", ""]
    if certs is None:
        lines += ["Phase `zoo` was not run in this work folder."]
    else:
        table, found = zoo_table(certs, peer_results(work, n), n)
        lines += [
            f"Final class-incremental accuracy on the real test split, mean over {seeds} generation seeds x "
            f"{len(certs[0]['protocol']['seeds'])} verification seeds; min seen / avg incr.: the lowest and the mean "
            "accuracy on the tasks seen so far over the 5 steps; / joint: against that learner's own joint "
            "training (Adam, lr chosen on validation); worst stress drop: over the 5 stress scenarios and the "
            f"generation seeds; Replay-{n} / GDumb-{n}: the same learner keeping {n} real "
            "images (generation seed 0's run; they do not depend on the artifact).",
            "",
            *table,
        ]
    lines += ["", "## Targets", "", *verify_targets(means, by_seed, ver, gen_s, n, main)]
    if certs is not None:
        lines += ["", *zoo_targets(found, gen_s, gen_rss)]
    else:
        lines += ["", "| target | | measured |", "|---|---|---|", generate_target(gen_s, gen_rss)]
    lines += [
        "",
        "## Elsewhere",
        "",
        "- the ablations behind the defaults: [research.md](research.md)"
        " (`python benchmarks/zoo_ablation.py --table`);",
        "- the cost of one outer step and of the replay pool: [step_cost.md](step_cost.md)"
        " (`benchmarks/step_cost.py`);",
        "- 1 vs 2 processes: [scaling_bench.md](scaling_bench.md) (`benchmarks/scaling.py`);",
        "- the memory format each zoo learner trains fastest in: [memory_format.md](memory_format.md)"
        " (`benchmarks/memory_format.py`);",
        "- the verifier's seeds trained as one vmapped model: [verify_batching.md](verify_batching.md)"
        " (`benchmarks/verify_batching.py`).",
    ]
    text = "\n".join(lines) + "\n"
    keep = sections_of(out.read_text()) if out.exists() else ""  # the other scripts' sections
    out.write_text(text + ("\n" + keep if keep else ""))
    return text


def main() -> None:
    ap = bench_args(__doc__, "runs/bench")
    ap.add_argument("--ver-seeds", type=int, default=5)
    ap.add_argument("--phase", choices=("time", "main", "certify", "zoo", "all"), default="all")
    ap.add_argument("--nproc", type=int, default=2, help="verify processes (1 torch thread each) in the zoo phase")
    args = ap.parse_args()
    work = work_folder(args.work)
    if not args.render:
        if args.phase in ("time", "all"):
            phase_time(work, args.gen_seeds)
        if args.phase == "main":  # only the one-command main job (phase time ends with it)
            phase_main(work)
        if args.phase in ("certify", "all"):
            phase_certify(work, args.gen_seeds)
        if args.phase in ("zoo", "all"):
            phase_zoo(work, args.gen_seeds, args.ver_seeds, args.nproc)
    if args.phase == "all" or args.render:
        print(render(work, args.gen_seeds, Path(args.out), args.note))


if __name__ == "__main__":
    main()
